"""Readers on the real datasets (the archives in ../shared/datasets, ELPV from its package): counts,
annotations, masks, the leakage-safe NEU split and pool across the NEU copies, and bad input on the real
layouts."""

import hashlib
import json
import shutil
from pathlib import Path
import numpy as np
import pytest
import torch
from PIL import Image
from defect_nb.data import (
    load_dataset,
    find_dataset_dir,
    neu_split,
    apply_split,
    build_pool,
    decode_cached,
    read_mask,
    read_image,
    DataError,
)
from defect_nb.readers import NEU_CLASSES
from conftest import needs, cli

# name: (n_images, classes, n_masks, n_boxes), from ../shared/datasets/README.md and the ELPV release
EXPECTED = {
    "neu-cls": (1800, {c: 300 for c in NEU_CLASSES.values()}, 0, 0),
    "neu-det": (1800, {c: 300 for c in NEU_CLASSES.values()}, 0, 4189),
    "sd-saliency-900": (900, {"inclusion": 300, "patches": 300, "scratches": 300}, 900, 0),
    "mtd": (772, {"Blowhole": 115, "Crack": 57, "Free": 600}, 772, 0),
    "elpv": (2624, {"0": 1508, "1/3": 295, "2/3": 106, "1": 715}, 0, 0),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in EXPECTED])
def test_counts(name):
    info = load_dataset(name).info()
    n, classes, masks, boxes = EXPECTED[name]
    assert (info["n_images"], info["classes"], info["n_masks"], info["n_boxes"]) == (n, classes, masks, boxes)
    assert info["n_skipped"] == 0


@needs("neu-cls")
def test_cli_data_info_json():
    r = cli("data", "info", "neu-cls", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["name"] == "neu-cls" and info["n_images"] == 1800 and set(info["classes"].values()) == {300}


def test_cli_missing_dataset_message(tmp_path):
    r = cli("data", "info", "neu-det", "--root", str(tmp_path))
    assert r.returncode == 2
    assert (
        "neu-det" in r.stderr
        and str(tmp_path) in r.stderr
        and "ANNOTATIONS" in r.stderr
        and "where to get it" in r.stderr
    )


@needs("neu-det")
def test_neu_det_boxes_inside_and_named():
    ds = load_dataset("neu-det")
    names = {b[0] for r in ds for b in r.boxes}
    assert names == set(NEU_CLASSES.values())
    assert all(0 <= x1 < x2 <= 200 and 0 <= y1 < y2 <= 200 for r in ds for _, x1, y1, x2, y2 in r.boxes)
    assert all(1 <= len(r.boxes) <= 9 for r in ds)


@needs("sd-saliency-900", "mtd")
def test_masks_are_binary_and_match_images():
    sd = load_dataset("sd-saliency-900")
    for r in sd.records[::150]:
        m = read_mask(r, read_image(r.path).shape)
        assert set(np.unique(m)) <= {0, 1} and m.any()
    mtd = load_dataset("mtd")
    crack = [r for r in mtd if r.label == "Crack"][:5]
    for r in crack:
        raw = np.asarray(Image.open(r.mask))
        m = read_mask(r, read_image(r.path).shape)
        assert set(np.unique(m)) <= {0, 1} and m.any()
        assert len(np.unique(raw)) > 2  # the file really is anti-aliased: thresholding matters
    free = [r for r in mtd if r.label == "Free"][:5]
    assert all(not read_mask(r, read_image(r.path).shape).any() for r in free)


@needs("neu-cls", "neu-det", "sd-saliency-900")
def test_one_split_for_every_neu_copy():
    split = neu_split(seed=0)
    cls, det, sd = load_dataset("neu-cls"), load_dataset("neu-det"), load_dataset("sd-saliency-900")
    # every copy of a picture lands in the split of its canonical id: apply_split fails on any unknown id
    for ds in (cls, det, sd):
        apply_split(ds, split)
    assert {split[r.id] for r in det} == {"train", "val", "test"}
    # the byte-identical pair in the Kaggle copy stays together
    assert split["neu/Pa_101"] == split["neu/Pa_105"]
    # SD-900 files are byte-identical to the NEU-CLS files of the same id: the id really names the picture
    by_id = {r.id: r for r in cls}
    for r in sd.records[::100]:
        assert Path(r.path).read_bytes() == Path(by_id[r.id].path).read_bytes()


@needs("neu-cls", "neu-det", "sd-saliency-900", "mtd")
def test_pool_excludes_every_copy_of_test_images():
    split = neu_split(seed=0)
    test_ids = {i for i, s in split.items() if s == "test"}
    dsets = [load_dataset(n) for n in ("neu-cls", "neu-det", "sd-saliency-900", "mtd", "elpv")]
    pool = build_pool(dsets, exclude_ids=test_ids)
    assert not test_ids & set(pool.ids)
    # by content too: no pool file has the bytes of a test image of NEU-CLS (SD-900 copies are byte-identical)
    md5 = lambda p: hashlib.md5(Path(p).read_bytes()).hexdigest()
    test_hashes = {md5(r.path) for r in dsets[0] if r.id in test_ids}
    assert not test_hashes & {md5(r.path) for r in pool.records if r.path.suffix == ".bmp"}
    assert pool.excluded["neu-det"] == len(test_ids) and pool.composition["mtd"] == 772
    assert len(pool) == 1800 - len(test_ids) + 772 + 2624  # each NEU picture once, whatever its copies


# ---- bad input on copies of the real layouts ---------------------------------------------------------------


def _copy_neu_cls(tmp_path, n=3):
    src = find_dataset_dir("neu-cls")
    dst = tmp_path / "NEU-CLS"
    for d in ("Crazing", "Inclusion"):
        (dst / "train" / d).mkdir(parents=True)
        for f in sorted((p for p in src.rglob("*.bmp") if p.parent.name == d))[:n]:
            shutil.copy(f, dst / "train" / d / f.name)
    return dst


@needs("neu-cls")
def test_truncated_image_is_named(tmp_path):
    dst = _copy_neu_cls(tmp_path)
    victim = sorted((dst / "train" / "Inclusion").iterdir())[0]
    victim.write_bytes(victim.read_bytes()[:5000])
    ds = load_dataset("neu-cls", path=dst)
    with pytest.raises(DataError, match=victim.name):
        decode_cached(ds, 32, cache_dir=tmp_path / "cache", progress=False)
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing half-decoded was cached


@needs("neu-cls")
def test_empty_class_folder_is_named(tmp_path):
    dst = _copy_neu_cls(tmp_path)
    (dst / "train" / "Patches").mkdir()
    with pytest.raises(DataError, match="Patches"):
        load_dataset("neu-cls", path=dst)


@needs("neu-det")
def test_box_outside_image_is_named(tmp_path):
    src = find_dataset_dir("neu-det")
    dst = tmp_path / "NEU-DET"
    (dst / "IMAGES").mkdir(parents=True)
    (dst / "ANNOTATIONS").mkdir()
    for stem in ("crazing_1", "patches_2"):
        shutil.copy(src / "IMAGES" / f"{stem}.jpg", dst / "IMAGES")
        shutil.copy(src / "ANNOTATIONS" / f"{stem}.xml", dst / "ANNOTATIONS")
    assert len(load_dataset("neu-det", path=dst)) == 2
    x = dst / "ANNOTATIONS" / "patches_2.xml"
    t = x.read_text()
    i = t.index("<xmax>")
    j = t.index("</xmax>")
    x.write_text(t[:i] + "<xmax>260" + t[j:])
    with pytest.raises(DataError, match="patches_2.xml"):
        load_dataset("neu-det", path=dst)


@needs("sd-saliency-900")
def test_wrong_size_mask_is_named(tmp_path):
    src = find_dataset_dir("sd-saliency-900")
    src = src / "SD-saliency-900" if (src / "SD-saliency-900").is_dir() else src
    dst = tmp_path / "SD"
    (dst / "Source Images").mkdir(parents=True)
    (dst / "Ground truth").mkdir()
    shutil.copy(src / "Source Images" / "In_1.bmp", dst / "Source Images")
    Image.fromarray(np.zeros((100, 120), np.uint8)).save(dst / "Ground truth" / "In_1.png")
    ds = load_dataset("sd-saliency-900", path=dst)
    with pytest.raises(DataError, match="In_1.png"):
        decode_cached(ds, 32, cache_dir=tmp_path / "cache", progress=False)


@needs("neu-cls")
def test_neu_cls_flat_original_layout(tmp_path):
    (
        "The original NEU release is one flat folder of Cr_1.bmp ... Sc_300.bmp: same ids, same classes as "
        "the Kaggle copy."
    )
    kaggle = load_dataset("neu-cls")
    flat = tmp_path / "NEU surface defect database"
    flat.mkdir()
    pick = kaggle.records[::60]
    for r in pick:
        shutil.copy(r.path, flat / r.path.name)
    ds = load_dataset("neu-cls", root=tmp_path)  # found by the release's own folder name
    assert [(r.id, r.label) for r in ds] == [(r.id, r.label) for r in pick]


@needs("neu-cls", "sd-saliency-900")
def test_pretrain_pool_takes_a_picture_once_across_copies():
    "SD-saliency-900 holds NEU-CLS pictures: a pool of both takes each picture once, never a test one."
    from defect_nb.csrl import classification_splits, pretrain_pool

    sd = classification_splits("neu-cls", "smoke", progress=False)
    x, info = pretrain_pool(sd, ["neu-cls", "sd-saliency-900"], "smoke", progress=False)
    assert len(x) == info["n_images"] == 128 and x.dtype == torch.uint8
    assert info["excluded_test_copies"]["sd-saliency-900"] > 0
