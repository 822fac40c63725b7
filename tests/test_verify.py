"""`verify_dataset` on copies of the real datasets: every corrupt file is listed with its reason (never only
the first), a run on the same copy fails once naming all of them, and the real releases have nothing to
report."""

import shutil
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from defect_nb.data import load_dataset, find_dataset_dir, verify_dataset, decode_cached, DataError
from conftest import needs


def _copy_neu_cls(root: Path, per_class: int = 3) -> Path:
    (
        "A few NEU-CLS bitmaps of two classes under `root` in the Kaggle layout "
        "NEU-CLS/train/<Class>/<Code>_<n>.bmp."
    )
    src = find_dataset_dir("neu-cls")
    for cls in ("Crazing", "Inclusion"):
        dst = root / "NEU-CLS" / "train" / cls
        dst.mkdir(parents=True)
        for f in sorted(p for p in src.rglob("*.bmp") if p.parent.name == cls)[:per_class]:
            shutil.copy(f, dst / f.name)
    return root / "NEU-CLS"


def _truncate(f: Path, n: int = 100):
    f.write_bytes(f.read_bytes()[:n])


def _randomize(f: Path):
    f.write_bytes(np.random.default_rng(0).bytes(f.stat().st_size))


@needs("neu-cls")
def test_verify_lists_both_corrupt_neu_cls_files(tmp_path):
    top = _copy_neu_cls(tmp_path / "data")
    cut = sorted((top / "train" / "Crazing").iterdir())[1]
    junk = sorted((top / "train" / "Inclusion").iterdir())[2]
    _truncate(cut)
    _randomize(junk)
    ds = load_dataset("neu-cls", root=tmp_path / "data")  # opening reads names only: both bad files load
    assert len(ds) == 6
    bad = verify_dataset(ds, progress=False)
    assert [f for f, _ in bad] == [str(cut), str(junk)]
    assert bad[0][1].startswith("truncated") and bad[1][1].startswith("unreadable")
    with pytest.raises(DataError) as err:
        decode_cached(ds, 32, cache_dir=tmp_path / "cache", progress=False)
    assert "2 bad files" in str(err.value) and cut.name in str(err.value) and junk.name in str(err.value)
    assert [f for f, _ in err.value.bad] == [str(cut), str(junk)]


@needs("neu-cls")
def test_verify_finds_nothing_on_an_intact_copy(tmp_path):
    _copy_neu_cls(tmp_path / "data")
    assert verify_dataset(load_dataset("neu-cls", root=tmp_path / "data"), progress=False) == []


@needs("sd-saliency-900")
def test_verify_lists_bad_masks(tmp_path):
    src = find_dataset_dir("sd-saliency-900")
    src = src / "SD-saliency-900" if (src / "SD-saliency-900").is_dir() else src
    dst = tmp_path / "SD"
    (dst / "Source Images").mkdir(parents=True)
    (dst / "Ground truth").mkdir()
    for stem in ("In_1", "In_2", "In_3"):
        shutil.copy(src / "Source Images" / f"{stem}.bmp", dst / "Source Images")
        shutil.copy(src / "Ground truth" / f"{stem}.png", dst / "Ground truth")
    _truncate(dst / "Ground truth" / "In_1.png")
    Image.fromarray(np.zeros((100, 120), np.uint8)).save(dst / "Ground truth" / "In_3.png")
    bad = dict(verify_dataset(load_dataset("sd-saliency-900", path=dst), progress=False))
    assert list(bad) == [str(dst / "Ground truth" / "In_1.png"), str(dst / "Ground truth" / "In_3.png")]
    assert bad[str(dst / "Ground truth" / "In_1.png")].startswith("truncated")
    assert bad[str(dst / "Ground truth" / "In_3.png")].startswith("wrong-size mask: 120x100")


def test_verify_elpv_from_its_package():
    pytest.importorskip(
        "elpv_dataset", reason="ELPV ships in the PyPI package elpv-dataset, which is not installed"
    )
    ds = load_dataset("elpv")
    sample = ds.subset(set(ds.ids[::50]))
    assert len(sample) > 50 and all(Path(r.path).is_file() for r in sample)  # real files inside the package
    assert verify_dataset(sample, progress=False) == []


@needs("neu-cls")
def test_data_info_verify_lists_every_bad_file(tmp_path):
    (
        "The command a user runs: `data info NAME --verify` lists both bad files and exits 1; without "
        "--verify it says so."
    )
    from conftest import cli

    top = _copy_neu_cls(tmp_path / "data")
    cut = sorted((top / "train" / "Crazing").iterdir())[0]
    junk = sorted((top / "train" / "Inclusion").iterdir())[1]
    _truncate(cut)
    _randomize(junk)
    p = cli("data", "info", "neu-cls", "--data-root", str(tmp_path / "data"), "--verify")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "2 bad file(s)" in p.stdout and str(cut) in p.stdout and str(junk) in p.stdout, p.stdout
    p = cli("data", "info", "neu-cls", "--data-root", str(tmp_path / "data"))
    assert p.returncode == 0 and "add --verify" in p.stdout, p.stdout + p.stderr
