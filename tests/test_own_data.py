"""Issue 21, your own data: each `defect-nb run` command end to end on a tiny dataset the test writes, run
from a folder outside the checkout, and bad layouts (a missing mask, a class folder with no picture, an
unreadable picture): exit code 2, an error naming the file, no output folder."""

import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import BIN


def run_cli(*args, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    "`defect-nb ARGS` in `cwd` (not the checkout), one thread, decoded pictures cached under `cwd`."
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DEFECT_NB_CACHE": str(cwd / "cache")}
    return subprocess.run(
        [str(BIN / "defect-nb"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


# ============================================================================================================
# run anomaly / run anomaly-score (defect_nb.own_anomaly, nbs/24_own_anomaly.ipynb)
# ============================================================================================================
from defect_nb.own_anomaly import METHODS, METRIC_NAMES, example_dataset  # noqa: E402


@pytest.fixture(scope="module")
def anomaly_run(tmp_path_factory):
    "Every method at the smoke profile, trained on 8 defect-free pictures, tested on 2 good, spot, scratch."
    where = tmp_path_factory.mktemp("own_anomaly")
    example_dataset(where / "parts", n_train=8, n_test=2)
    args = "run anomaly --test parts --profile smoke --name first --method".split()
    p = run_cli(*args, *METHODS, cwd=where)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return where, where / "defect_nb_runs" / "anomaly" / "first", p


def test_run_anomaly_writes_the_metrics_per_defect_type(anomaly_run):
    where, out, p = anomaly_run
    assert f"wrote {out}" in p.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics["methods"]) == list(METHODS)
    for key, m in metrics["methods"].items():
        assert list(m) == ["name", "overall", "scratch", "spot"], key
        for part in ("overall", "scratch", "spot"):
            assert set(METRIC_NAMES) <= set(m[part]), (key, part)
            assert all(0 <= m[part][k] <= 1 for k in METRIC_NAMES), (key, part)
        assert (m["overall"]["n_images"], m["spot"]["n_images"], m["scratch"]["n_images"]) == (6, 4, 4)
    assert metrics["train"]["n_images"] == 8 and "train/good" in metrics["train"]["source"]
    assert metrics["test"]["per_class"] == {"good": 2, "scratch": 2, "spot": 2}
    # bright discs and dark lines on a striped texture: obvious to a kNN on ImageNet features
    assert metrics["methods"]["patchcore"]["overall"]["pixel_auroc"] > 0.9
    table = (out / "metrics.md").read_text()
    assert table.count("| PatchCore |") == 3 and "| CAT (Full) | spot | 4 |" in table
    assert (out / "maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.pt").stat().st_size > 0
    run = json.loads((out / "run.json").read_text())
    assert len(run["train_files"]) == 8 and len(run["test_files"]) == 6
    assert run["settings"]["img_size"] == 64 and run["provenance"]["git"]
    assert not list(out.parent.glob(".*partial*")), "the temporary folder is renamed, not left behind"


def test_the_saved_model_scores_new_pictures_as_the_evaluation_did(anomaly_run):
    where, out, _ = anomaly_run
    shutil.copytree(where / "parts" / "test" / "spot", where / "new")
    args = "run anomaly-score --images new --name s --model".split()
    p = run_cli(*args, str(out / "model.pt"), cwd=where)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    scored_dir = where / "defect_nb_runs" / "anomaly-score" / "s"
    with open(scored_dir / "scores.csv") as f:
        scored = list(csv.DictReader(f))
    with open(out / "scores.csv") as f:
        evaluated = {Path(r["file"]).name: r for r in csv.DictReader(f) if r["class"] == "spot"}
    assert [r["file"] for r in scored] == ["000.png", "001.png"]
    for r in scored:
        for key in METHODS:
            assert float(r[key]) == pytest.approx(float(evaluated[r["file"]][key]), rel=1e-4), key
    with np.load(scored_dir / "maps_patchcore.npz") as z:
        assert sorted(z.files) == ["000.png", "001.png"] and z["000.png"].shape == (48, 64)
    assert (scored_dir / "maps.png").exists() and (scored_dir / "run.json").exists()


def test_an_mtd_layout_with_its_own_classes(tmp_path, monkeypatch):
    "MT_<Class>/Imgs/*.jpg + .png masks, any class names; no training folder: a stated share of MT_Free."
    from PIL import Image
    from defect_nb.cli import main

    parts = example_dataset(tmp_path / "parts", n_train=0, n_test=3)
    for d in (parts / "test").iterdir():
        cls = "Free" if d.name == "good" else d.name.capitalize()
        (tmp_path / "MTD" / f"MT_{cls}" / "Imgs").mkdir(parents=True)
        for f in d.glob("*.png"):
            stem = tmp_path / "MTD" / f"MT_{cls}" / "Imgs" / f"{cls}_{f.stem}"
            Image.open(f).save(stem.with_suffix(".jpg"), quality=95)
            mask = parts / "ground_truth" / d.name / f"{f.stem}_mask.png"
            if mask.exists():  # MT_Free pictures keep no mask: the reader reads them as defect-free
                shutil.copy(mask, stem.with_suffix(".png"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFECT_NB_CACHE", str(tmp_path / "cache"))
    args = "run anomaly --layout mtd --test MTD --method patchcore --profile smoke".split()
    assert main([*args, *"--split-normal 0.5 --classes Spot --name m".split()]) == 0
    metrics = json.loads((tmp_path / "defect_nb_runs" / "anomaly" / "m" / "metrics.json").read_text())
    assert metrics["test"]["per_class"] == {"Free": 1, "Spot": 3}  # 2 of the 3 Free pictures trained on
    assert metrics["train"]["n_images"] == 2 and "--split-normal 0.5" in metrics["train"]["source"]
    assert list(metrics["methods"]["patchcore"]) == ["name", "overall", "Spot"]
    assert main(args) == 2, "MTD has no training split: --train or --split-normal"


def _missing_mask(parts: Path) -> Path:
    (parts / "ground_truth" / "spot" / "001_mask.png").unlink()
    return parts / "ground_truth" / "spot" / "001_mask.png"


def _empty_class_folder(parts: Path) -> Path:
    (parts / "test" / "dent").mkdir()
    return parts / "test" / "dent"


def _unreadable_test_picture(parts: Path) -> Path:
    (parts / "test" / "scratch" / "000.png").write_bytes(b"not a picture")
    return parts / "test" / "scratch" / "000.png"


def _unreadable_training_picture(parts: Path) -> Path:
    (parts / "train" / "good" / "003.png").write_bytes(b"")
    return parts / "train" / "good" / "003.png"


BAD_LAYOUTS = [_missing_mask, _empty_class_folder, _unreadable_test_picture, _unreadable_training_picture]


@pytest.mark.parametrize("break_it", BAD_LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_layout_exits_2_naming_the_file_and_writes_nothing(break_it, tmp_path, monkeypatch, capsys):
    from defect_nb.cli import main

    named = break_it(example_dataset(tmp_path / "parts"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "anomaly", "--test", "parts", "--profile", "smoke"]) == 2
    assert str(named) in capsys.readouterr().err
    assert not (tmp_path / "defect_nb_runs").exists()


def test_the_console_script_exits_2_before_anything_is_written(tmp_path):
    named = _missing_mask(example_dataset(tmp_path / "parts"))
    p = run_cli("run", "anomaly", "--test", "parts", "--profile", "smoke", cwd=tmp_path)
    assert p.returncode == 2 and str(named) in p.stderr, p.stdout + p.stderr
    assert not (tmp_path / "defect_nb_runs").exists()
    p = run_cli("run", "anomaly-score", "--model", "nowhere/model.pt", "--images", "parts", cwd=tmp_path)
    assert p.returncode == 2 and "nowhere/model.pt" in p.stderr, p.stdout + p.stderr
    assert not (tmp_path / "defect_nb_runs").exists()


def test_training_pictures_must_not_be_test_pictures(tmp_path, monkeypatch, capsys):
    from defect_nb.cli import main

    parts = example_dataset(tmp_path / "parts")
    monkeypatch.chdir(tmp_path)
    args = ["run", "anomaly", "--test", "parts", "--train", "parts/test/good", "--profile", "smoke"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "copy of a test picture" in err and str(parts / "test" / "good" / "000.png") in err, err
    assert not (tmp_path / "defect_nb_runs").exists()


# ============================================================================================================
# run classify / run scl (defect_nb.own_classify, nbs/25_own_classify.ipynb)
# run detect (defect_nb.own_detect, nbs/26_own_detect.ipynb)
# ============================================================================================================
from PIL import Image  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _picture(kind: str, seed: int, size: int = 32) -> np.ndarray:
    "Grey noise with a bright horizontal scratch, a bright spot, or nothing (`clean`)."
    rng = np.random.default_rng(seed)
    a = rng.integers(40, 90, (size, size)).astype(np.uint8)
    c = size // 2 + int(rng.integers(-3, 4))
    if kind == "scratch":
        a[c - 1 : c + 1, 4:-4] = 230
    elif kind == "spot":
        a[c - 3 : c + 3, c - 3 : c + 3] = 240
    return a


def class_folders(
    folder: Path, per_class: int = 6, seed: int = 0, kinds=("clean", "scratch", "spot")
) -> Path:
    for k, kind in enumerate(kinds):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(_picture(kind, seed * 1000 + 100 * k + i)).save(folder / kind / f"{i:03d}.png")
    return folder


def _boxed_picture(seed: int, size: int = 48) -> tuple:
    "(picture, boxes): noise with one or two rectangles, bright or dark; boxes (class, x1, y1, x2, y2)."
    rng = np.random.default_rng(seed)
    a = rng.integers(100, 140, (size, size)).astype(np.uint8)
    boxes = []
    for k in range(1 + seed % 2):
        w, h = (int(v) for v in rng.integers(size // 5, size // 3, 2))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        cls = ("bright", "dark")[(seed + k) % 2]
        a[y : y + h, x : x + w] = 235 if cls == "bright" else 15
        boxes.append((cls, x, y, x + w, y + h))
    return a, boxes


def voc_set(folder: Path, seeds, size: int = 48) -> Path:
    (folder / "JPEGImages").mkdir(parents=True)
    (folder / "Annotations").mkdir()
    for s in seeds:
        a, boxes = _boxed_picture(s, size)
        Image.fromarray(a).save(folder / "JPEGImages" / f"p{s}.png")
        objs = "".join(
            f"<object><name>{c}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>"
            f"<ymax>{y2}</ymax></bndbox></object>"
            for c, x1, y1, x2, y2 in boxes
        )
        xml = f"<annotation><size><width>{size}</width><height>{size}</height></size>{objs}</annotation>"
        (folder / "Annotations" / f"p{s}.xml").write_text(xml)
    return folder


def yolo_set(folder: Path, seeds, size: int = 48) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    (folder / "classes.txt").write_text("bright\ndark\n")
    for s in seeds:
        a, boxes = _boxed_picture(s, size)
        Image.fromarray(a).save(folder / "images" / f"p{s}.png")
        lines = [
            f"{['bright', 'dark'].index(c)} {(x1 + x2) / 2 / size} {(y1 + y2) / 2 / size} "
            f"{(x2 - x1) / size} {(y2 - y1) / size}"
            for c, x1, y1, x2, y2 in boxes
        ]
        (folder / "labels" / f"p{s}.txt").write_text("\n".join(lines) + "\n")
    return folder


def unlabelled_folder(folder: Path, n_per_object: int = 6) -> Path:
    for k, obj in enumerate(("line-a", "line-b")):
        (folder / obj).mkdir(parents=True)
        for i in range(n_per_object):
            Image.fromarray(_boxed_picture(500 + 10 * k + i)[0]).save(folder / obj / f"{i}.png")
    return folder


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory):
    "`run classify` by the console script, in a folder outside the checkout: SimCLR, a test folder."
    where = tmp_path_factory.mktemp("own_classify")
    class_folders(where / "labelled")
    class_folders(where / "test", per_class=2, seed=1)
    class_folders(where / "unlabelled", per_class=4, seed=2)
    shutil.copy(where / "test" / "spot" / "000.png", where / "labelled" / "spot" / "test-copy.png")
    args = "run classify --labelled labelled --unlabelled unlabelled --test test --profile smoke --quiet"
    p = run_cli(*args.split(), cwd=where)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return where, where / "defect_nb_runs" / "classify" / "labelled-simclr-convnet-smoke", p


def test_run_classify_writes_metrics_tables_figures_model_and_log(classify_run):
    where, out, p = classify_run
    assert "pretraining: 12 pictures" in p.stdout and "test: 6 pictures" in p.stdout, p.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["classes"] == ["clean", "scratch", "spot"] and m["n_test"] == 6
    assert 0 <= m["accuracy"] <= 1 and 0 <= m["macro_f1"] <= 1
    assert set(m["per_class"]["spot"]) == {"precision", "recall", "f1", "support"}
    assert np.array(m["confusion"]).shape == (3, 3) and np.array(m["confusion"]).sum() == 6
    assert [r["support"] for r in m["per_class"].values()] == [2, 2, 2]
    for fig in ("confusion_matrix.png", "training_curve.png"):
        assert (out / "figures" / fig).read_bytes()[:8] == PNG
    assert "| macro mean |" in (out / "results.md").read_text()
    assert (out / "results.csv").read_text().startswith("class,precision,recall,f1,support")
    run = json.loads((out / "run.json").read_text())
    assert run["pictures"]["left out"] == {"labelled copies of test pictures left out": 1}
    assert run["pictures"]["train"]["images"] + run["pictures"]["val"]["images"] == 18
    assert run["settings"]["name"] == "smoke" and run["arguments"]["method"] == "simclr"
    assert not list(out.parent.glob(".*partial*"))


def test_the_saved_classifier_gives_the_written_predictions(classify_run, monkeypatch):
    import torch
    from defect_nb.own_classify import load_classifier, read_class_folders, decode_rows
    from defect_nb.ssl import evaluate

    where, out, _ = classify_run
    monkeypatch.setenv("DEFECT_NB_CACHE", str(where / "cache"))
    model, bundle = load_classifier(out / "model.pt")
    test = read_class_folders(where / "test")
    images, row = decode_rows(test, bundle["img_size"])
    x = images[torch.tensor([row[i] for i in test.ids])]
    pred = evaluate(model, x, torch.zeros(len(x), dtype=torch.long))["probs"].argmax(1).tolist()
    with open(out / "predictions.csv") as f:
        written = {(where / r["file"]).resolve(): r["predicted"] for r in csv.DictReader(f)}
    assert [written[r.path.resolve()] for r in test.records] == [bundle["classes"][k] for k in pred]


def test_run_scl_classifies_unseen_classes_by_reference_pictures(tmp_path, monkeypatch):
    "Trained on two classes, tested on a third by three reference pictures per class."
    import torch
    from defect_nb.own_classify import load_scl, scl_predict, read_class_folders, decode_rows

    class_folders(tmp_path / "labelled", kinds=("clean", "scratch"))
    class_folders(tmp_path / "refs", per_class=3, seed=3)
    class_folders(tmp_path / "test", per_class=2, seed=4)
    args = "run scl --labelled labelled --references refs --test test --profile smoke --name few --quiet"
    p = run_cli(*args.split(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = tmp_path / "defect_nb_runs" / "scl" / "few"
    m = json.loads((out / "metrics.json").read_text())
    assert (m["classes"], m["n_test"], m["embedding"]) == (["clean", "scratch", "spot"], 6, "projection")
    assert set(m["per_class"]) == {"clean", "scratch", "spot"}
    run = json.loads((out / "run.json").read_text())
    assert run["pictures"]["references"]["images"] == 9 and run["pictures"]["train"]["images"] == 12
    monkeypatch.setenv("DEFECT_NB_CACHE", str(tmp_path / "cache"))
    model, bundle = load_scl(out / "model.pt")
    test = read_class_folders(tmp_path / "test")
    images, row = decode_rows(test, bundle["img_size"])
    predicted = scl_predict(model, bundle, images[torch.tensor([row[i] for i in test.ids])])
    with open(out / "predictions.csv") as f:
        written = {(tmp_path / r["file"]).resolve(): r["predicted"] for r in csv.DictReader(f)}
    assert [written[r.path.resolve()] for r in test.records] == predicted
    assert (out / "figures" / "training_curve.png").read_bytes()[:8] == PNG


def test_run_detect_pretrains_on_pseudo_boxes_and_tests_on_a_voc_set(tmp_path):
    from defect_nb.own_detect import load_detector

    voc_set(tmp_path / "voc", range(10))
    voc_set(tmp_path / "voc_test", range(10, 13))
    unlabelled_folder(tmp_path / "unlabelled")
    args = (
        "run detect --train voc --format voc --test voc_test --unlabelled unlabelled --profile smoke --quiet"
    )
    p = run_cli(*args.split(), cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = tmp_path / "defect_nb_runs" / "detect" / "voc-agssp-efficientnet-lite0-smoke"
    assert "pretraining: 12 pictures" in p.stdout and "test: 3 pictures (4 boxes)" in p.stdout, p.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert (m["classes"], m["n_test"], m["n_test_boxes"]) == (["bright", "dark"], 3, 4)
    assert 0 <= m["map50"] <= 1 and 0 <= m["map50_95"] <= m["map50"]
    assert set(m["per_class_ap50"]) == {"bright", "dark"}
    for fig in ("test_detections.png", "training_curve.png", "pseudo_boxes.png"):
        assert (out / "figures" / fig).read_bytes()[:8] == PNG
    run = json.loads((out / "run.json").read_text())
    assert run["pictures"]["pretraining"]["objects"] == {"line-a": 6, "line-b": 6}
    assert run["pictures"]["train"]["images"] == 10 and run["budget"] == "mini50"
    det, bundle = load_detector(out / "model.pt")
    assert bundle["classes"] == ["bright", "dark"] and bundle["img_size"] == 32


def _empty_class_folder(where: Path) -> tuple:
    class_folders(where / "labelled")
    (where / "labelled" / "dent").mkdir()
    return ["classify", "--labelled", "labelled"], where / "labelled" / "dent"


def _unreadable_picture(where: Path) -> tuple:
    class_folders(where / "labelled")
    (where / "labelled" / "scratch" / "002.png").write_bytes(b"not a picture")
    return ["classify", "--labelled", "labelled"], where / "labelled" / "scratch" / "002.png"


def _unreadable_reference(where: Path) -> tuple:
    class_folders(where / "labelled")
    class_folders(where / "refs", per_class=2, seed=5)
    (where / "refs" / "spot" / "001.png").write_bytes(b"")
    return ["scl", "--labelled", "labelled", "--references", "refs"], where / "refs" / "spot" / "001.png"


def _missing_voc_annotation(where: Path) -> tuple:
    voc_set(where / "voc", range(6))
    (where / "voc" / "Annotations" / "p3.xml").unlink()
    return ["detect", "--train", "voc", "--format", "voc"], where / "voc" / "Annotations" / "p3.xml"


def _missing_yolo_label(where: Path) -> tuple:
    yolo_set(where / "yolo", range(6))
    (where / "yolo" / "labels" / "p2.txt").unlink()
    return ["detect", "--train", "yolo", "--format", "yolo"], where / "yolo" / "labels" / "p2.txt"


def _unreadable_detection_picture(where: Path) -> tuple:
    yolo_set(where / "yolo", range(6))
    (where / "yolo" / "images" / "p4.png").write_bytes(b"\x89PNG truncated")
    return ["detect", "--train", "yolo", "--format", "yolo"], where / "yolo" / "images" / "p4.png"


OWN_BAD_LAYOUTS = [
    _empty_class_folder,
    _unreadable_picture,
    _unreadable_reference,
    _missing_voc_annotation,
    _missing_yolo_label,
    _unreadable_detection_picture,
]


@pytest.mark.parametrize("break_it", OWN_BAD_LAYOUTS, ids=lambda f: f.__name__.strip("_"))
def test_a_bad_own_layout_exits_2_naming_the_file_and_writes_nothing(break_it, tmp_path, monkeypatch, capsys):
    from defect_nb.cli import main

    args, named = break_it(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFECT_NB_CACHE", str(tmp_path / "cache"))
    assert main(["run", *args, "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert str(named) in err, err
    assert not (tmp_path / "defect_nb_runs").exists()


def test_an_existing_output_folder_is_kept_unless_overwritten(tmp_path):
    class_folders(tmp_path / "labelled")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("earlier results")
    args = "run classify --labelled labelled --method scratch --profile smoke --quiet --out out".split()
    p = run_cli(*args, cwd=tmp_path)
    assert p.returncode == 2 and "--overwrite" in p.stderr, p.stdout + p.stderr
    assert (tmp_path / "out" / "keep.txt").exists()
    p = run_cli(*args, "--overwrite", cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == [
        "figures",
        "metrics.json",
        "model.pt",
        "predictions.csv",
        "results.csv",
        "results.md",
        "run.json",
    ]
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".")] == []


def test_a_run_stopped_by_sigterm_leaves_no_partial_folder(tmp_path):
    "SIGTERM (a time limit, `docker stop`) mid-training: exit 130, no output folder, no hidden partial one."
    import signal
    import time

    class_folders(tmp_path / "labelled")
    args = "run classify --labelled labelled --method scratch --profile cpu --quiet --name stopped".split()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DEFECT_NB_CACHE": str(tmp_path / "cache")}
    command = [str(BIN / "defect-nb"), *args]
    p = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "defect_nb_runs" / "classify"
    deadline = time.time() + 120
    while not list(runs.glob(".stopped.partial-*")) and p.poll() is None and time.time() < deadline:
        time.sleep(0.05)  # the staging folder appears once every picture is decoded, as training starts
    assert p.poll() is None, "the run ended before it could be stopped: " + p.stderr.read()[-2000:]
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 130 and "SIGTERM" in err, (p.returncode, err[-2000:])
    assert not runs.exists() or list(runs.iterdir()) == [], list(runs.iterdir())
