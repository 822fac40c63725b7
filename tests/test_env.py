"environment.yml (for conda users) mirrors the package's dependencies in settings.ini."

import configparser
import shlex
import yaml
from conftest import ROOT


def test_environment_yml_matches_settings():
    c = configparser.ConfigParser(delimiters=["="])
    c.read(ROOT / "settings.ini")
    reqs = shlex.split(c["DEFAULT"]["requirements"]) + c["DEFAULT"]["dev_requirements"].split()
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(p for p in pip if p != "-e .") == sorted(reqs)
