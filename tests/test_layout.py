"""The code's layout (issue 20): no import cycle between the package's modules, and the README's map names
every module once, in an order where each module comes after the ones it imports."""
import ast
import graphlib
import re
from pathlib import Path

from defect_nb.runner import _package_imports

ROOT = Path(__file__).resolve().parents[1]


def import_graph() -> dict[str, set[str]]:
    "{module: the package modules it imports anywhere in its code}, over defect_nb/*.py."
    modules = [p for p in (ROOT / "defect_nb").glob("*.py") if p.stem not in ("_modidx", "__init__")]
    return {p.stem: _package_imports(ast.parse(p.read_text())) - {p.stem} for p in modules}


def readme_map() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- layout:start -->")[1].split("<!-- layout:end -->")[0]
    return re.findall(r"^- `(\w+)`:", block, flags=re.M)


def test_no_import_cycle():
    graph = import_graph()
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None


def test_readme_map_matches_the_package():
    listed = readme_map()
    assert len(listed) == len(set(listed)), "a module is listed twice in the README map"
    assert set(listed) == set(import_graph()), set(listed) ^ set(import_graph())


def test_readme_map_follows_the_data_flow():
    "Each module is listed after every module it imports (cli, report and runner at the end)."
    order = {m: i for i, m in enumerate(readme_map())}
    late = [(m, d) for m, deps in import_graph().items() for d in deps if d in order and order[d] > order[m]]
    assert not late, f"listed before a module it imports: {late}"


def test_package_imports_reads_every_import_form():
    code = (
        "import defect_nb.csrl\nfrom .train import fit\nfrom . import readers\n"
        "def f():\n    from .kead import y\n"
    )
    assert _package_imports(ast.parse(code)) == {"csrl", "train", "readers", "kead"}
