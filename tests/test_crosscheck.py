"""Cross-checks of hand-written metrics against maintained references, on the same maps and boxes (issue 17).

- `anomaly_metrics.pro_score` / `pro_curve` against anomalib's `AUPRO` (MVTec AD's per-region overlap,
  8-connected regions, area up to the FPR limit divided by the limit).
- `detect.coco_map` against pycocotools' `COCOeval` (the official COCO evaluator), and torchmetrics'
  `MeanAveragePrecision`, which runs COCOeval underneath, against COCOeval.

Both references are test-only dependencies (the `dev` extra in settings.ini, installed by `make setup`).

Tolerances. PRO: anomalib sorts and sums the pixels' contributions in float32, we do it in float64;
over the ≤ 50,000 pixels used here the measured gap is ≤ 1e-7, so 1e-5 leaves room for summation order
and is still 50x below the 5e-4 that would change a PRO printed with three decimals (a change of
definition, such as 4-connected regions or a missing normalisation, moves PRO by far more: see the
analytic diagonal case). mAP: ours and COCOeval both accumulate in float64 with the same recall grid and
the same greedy matching; the measured gap is ≤ 1e-15, so 1e-9. torchmetrics returns float32: 1e-6.
"""

import contextlib
import io
from types import SimpleNamespace
import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter, label
from defect_nb.anomaly_metrics import pro_curve, pro_score
from defect_nb.detect import coco_map, mean_ap

_WHY = "a test-only reference is missing: install the dev extra (`make setup` or `pip install -e '.[dev]'`)"
anomalib_metrics = pytest.importorskip("anomalib.metrics", reason=_WHY)
cocoeval_mod = pytest.importorskip("pycocotools.cocoeval", reason=_WHY)
from pycocotools.coco import COCO  # noqa: E402  (after the skip: only imported when the reference is installed)

PRO_TOL = 1e-5
MAP_TOL = 1e-9
TORCHMETRICS_TOL = 1e-6
FPR_LIMITS = (0.3, 0.05, 1.0)


# ---------------------------------------------------------------- PRO against anomalib's AUPRO
def defect_masks(rng, n: int = 6, h: int = 64, w: int = 80, frac: float = 0.05) -> np.ndarray:
    "N×H×W boolean masks: blobs of smoothed noise (several regions per image); every third image is normal."
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        if i % 3:
            field = gaussian_filter(rng.standard_normal((h, w)), 3.0)
            masks[i] = field > np.quantile(field, 1 - frac)
    return masks


def anomaly_maps(rng, masks: np.ndarray, patch: int = 1) -> np.ndarray:
    """Float32 maps: smooth noise plus a per-region signal of random strength (some regions found, some
    missed). `patch` > 1 makes blocky maps (patch scores upsampled by nearest neighbour, as PatchCore-style
    methods give): many tied scores."""
    n, h, w = masks.shape
    maps = np.zeros(masks.shape, np.float32)
    for i in range(n):
        lab, k = label(masks[i], structure=np.ones((3, 3), int))
        strength = np.r_[0.0, rng.uniform(-0.5, 2.0, k)]
        maps[i] = strength[lab] + gaussian_filter(rng.standard_normal((h, w)), 1.5) * 3
        if patch > 1:
            coarse = maps[i, ::patch, ::patch]
            maps[i] = np.kron(coarse, np.ones((patch, patch)))[:h, :w]
    return maps


def anomalib_aupro(maps, masks, fpr_limit: float = 0.3):
    "anomalib's AUPRO (its public metric class, fed like a batch) and the clipped PRO curve it integrates."
    metric = anomalib_metrics.AUPRO(fields=("anomaly_map", "gt_mask"), fpr_limit=fpr_limit)
    metric.update(SimpleNamespace(anomaly_map=torch.as_tensor(maps), gt_mask=torch.as_tensor(masks)))
    fpr, pro = metric._compute()
    return float(metric.compute()), fpr.numpy(), pro.numpy()


def clipped_curve(maps, masks, fpr_limit: float):
    "Our PRO curve cut at the FPR limit, with the interpolated end point (anomalib's form of the same curve)."
    fpr, pro = pro_curve(maps, masks)
    keep = fpr <= fpr_limit
    fpr_kept = fpr[keep]
    pro_kept = pro[keep]
    if fpr_kept[-1] < fpr_limit:
        j = int(np.argmax(~keep))
        pro_end = pro[j - 1] + (pro[j] - pro[j - 1]) * (fpr_limit - fpr[j - 1]) / (fpr[j] - fpr[j - 1])
        fpr_kept = np.r_[fpr_kept, fpr_limit]
        pro_kept = np.r_[pro_kept, pro_end]
    return fpr_kept, pro_kept


def touches_border(masks: np.ndarray) -> bool:
    return bool(masks[:, 0].any() or masks[:, -1].any() or masks[:, :, 0].any() or masks[:, :, -1].any())


@pytest.mark.parametrize("patch", [1, 8])
@pytest.mark.parametrize("seed", range(4))
def test_pro_matches_anomalib(seed, patch):
    rng = np.random.default_rng(seed)
    masks = defect_masks(rng)
    maps = anomaly_maps(rng, masks, patch)
    n_regions = sum(label(m, structure=np.ones((3, 3), int))[1] for m in masks)
    assert n_regions >= 4 and not masks[0].any()  # several regions, and defect-free images in the set
    for fpr_limit in FPR_LIMITS:
        ours = pro_score(maps, masks, fpr_limit)
        theirs, fpr, pro = anomalib_aupro(maps, masks, fpr_limit)
        assert 0.02 < ours < 0.99  # a score with room to be wrong either way
        assert abs(ours - theirs) < PRO_TOL, (fpr_limit, ours, theirs)
        if fpr_limit < 1:  # the curves themselves: one point per distinct score below the limit
            our_fpr, our_pro = clipped_curve(maps, masks, fpr_limit)
            assert len(our_fpr) == len(fpr)
            np.testing.assert_allclose(our_fpr, fpr, atol=PRO_TOL)
            np.testing.assert_allclose(our_pro, pro, atol=PRO_TOL)


def test_random_masks_touch_the_border():
    "The random cases above include regions cut by the image border (checked, not assumed)."
    assert any(touches_border(defect_masks(np.random.default_rng(s))) for s in range(4))


def _square(h, w, y0, y1, x0, x1):
    m = np.zeros((1, h, w), bool)
    m[0, y0:y1, x0:x1] = True
    return m


def _diagonal_pair():
    "A 4×4 square and one pixel touching its corner diagonally: one 8-connected region of 17 px."
    m = _square(16, 16, 2, 6, 2, 6)
    m[0, 6, 6] = True
    return m


EDGE_CASES = {
    "one region": _square(32, 32, 10, 18, 12, 20),
    "region in a corner": _square(32, 32, 0, 6, 0, 9),
    "region along a whole side": _square(32, 32, 0, 32, 28, 32),
    "diagonal neighbours": _diagonal_pair(),
    "single pixels": np.eye(24, dtype=bool)[None, ::3],
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_pro_edge_cases_match_anomalib(case):
    masks = EDGE_CASES[case]
    rng = np.random.default_rng(1)
    maps = (masks * rng.uniform(0.0, 1.5) + rng.standard_normal(masks.shape)).astype(np.float32)
    for fpr_limit in FPR_LIMITS:
        ours = pro_score(maps, masks, fpr_limit)
        theirs = anomalib_aupro(maps, masks, fpr_limit)[0]
        assert abs(ours - theirs) < PRO_TOL, (case, fpr_limit, ours, theirs)


def test_pro_analytic_cases_agree():
    "Closed forms: 8-connectivity (diagonal neighbours are one region), a constant map, a perfect map."
    masks = _diagonal_pair()
    maps = np.zeros(masks.shape, np.float32)
    maps[0, 6, 6] = 1.0  # only the lone pixel is found: overlap 1/17 at FPR 0, then a line to (1, 1)
    # 8-connected: (1/17 + (1/17 + 0.3 · 16/17)) / 2 = 0.2; 4-connected it would be (0.5 + 0.65) / 2 = 0.575
    assert abs(pro_score(maps, masks) - 0.2) < 1e-12
    assert abs(anomalib_aupro(maps, masks)[0] - 0.2) < PRO_TOL
    flat = np.zeros(masks.shape, np.float32)  # every pixel tied: the curve is the diagonal, area 0.3²/2 / 0.3
    assert abs(pro_score(flat, masks) - 0.15) < 1e-12
    assert abs(anomalib_aupro(flat, masks)[0] - 0.15) < PRO_TOL
    perfect = masks.astype(np.float32)
    assert abs(pro_score(perfect, masks) - 1.0) < 1e-12
    assert abs(anomalib_aupro(perfect, masks)[0] - 1.0) < PRO_TOL


# ---------------------------------------------------------------- mAP against pycocotools' COCOeval
def boxes_xyxy(corners) -> torch.Tensor:
    "Float32 x1y1x2y2 boxes from any two corners."
    c = torch.as_tensor(np.asarray(corners, np.float64).reshape(-1, 4), dtype=torch.float32)
    return torch.cat([torch.minimum(c[:, :2], c[:, 2:]), torch.maximum(c[:, :2], c[:, 2:])], 1)


def random_scene(rng, n_images: int = 12, n_classes: int = 3, size: int = 128):
    """Per image 0–4 ground-truth boxes; detections with known matches: 0–2 jittered copies of each box (a
    duplicate is a false positive), 10 % with a wrong class, plus 0–3 random false positives."""
    preds, targets = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 5))
        xy = rng.uniform(0, size - 30, (k, 2))
        gt = boxes_xyxy(np.c_[xy, np.minimum(xy + rng.uniform(8, 40, (k, 2)), size)])
        gt_labels = torch.as_tensor(rng.integers(0, n_classes, k))
        corners, labels = [], []
        for box, cls in zip(gt.numpy(), gt_labels.tolist()):
            for _ in range(int(rng.integers(0, 3))):
                corners.append(box + rng.normal(0, 3, 4))
                labels.append(cls if rng.random() > 0.1 else int(rng.integers(0, n_classes)))
        for _ in range(int(rng.integers(0, 4))):
            p = rng.uniform(0, size - 20, 2)
            corners.append(np.r_[p, p + rng.uniform(5, 40, 2)])
            labels.append(int(rng.integers(0, n_classes)))
        det = boxes_xyxy(corners).clamp(0, size) if corners else torch.zeros(0, 4)
        scores = torch.as_tensor(rng.random(len(det)), dtype=torch.float32)
        preds.append({"boxes": det, "scores": scores, "labels": torch.as_tensor(labels, dtype=torch.int64)})
        targets.append({"boxes": gt, "labels": gt_labels})
    return preds, targets


def cocoeval_map(preds, targets, max_dets: int = 100) -> tuple[float, float]:
    "(mAP@0.5:0.95, mAP@0.5) from pycocotools' COCOeval (area 'all', at most `max_dets` detections)."
    images, annotations, detections = [], [], []
    for image_id, (p, t) in enumerate(zip(preds, targets), 1):
        images.append({"id": image_id})
        for (x1, y1, x2, y2), cls in zip(t["boxes"].tolist(), t["labels"].tolist()):
            bbox = [x1, y1, x2 - x1, y2 - y1]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cls,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                }
            )
        for (x1, y1, x2, y2), score, cls in zip(
            p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist()
        ):
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": cls,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": score,
                }
            )
    classes = {a["category_id"] for a in annotations} | {d["category_id"] for d in detections}
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": c} for c in classes]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
        evaluator = cocoeval_mod.COCOeval(gt, gt.loadRes(detections), "bbox")
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0]), float(evaluator.stats[1])


@pytest.mark.parametrize("seed", range(10))
def test_coco_map_matches_cocoeval(seed):
    preds, targets = random_scene(np.random.default_rng(seed))
    ours = coco_map(preds, targets)
    theirs = cocoeval_map(preds, targets)
    assert 0.02 < ours["map50_95"] < ours["map50"] < 0.9  # neither trivial nor perfect
    assert abs(ours["map50_95"] - theirs[0]) < MAP_TOL, (ours, theirs)
    assert abs(ours["map50"] - theirs[1]) < MAP_TOL, (ours, theirs)


def _det(corners, labels, scores=None):
    d = {"boxes": boxes_xyxy(corners), "labels": torch.as_tensor(labels, dtype=torch.int64)}
    if scores is not None:
        d["scores"] = torch.as_tensor(scores, dtype=torch.float32)
    return d


_GT2 = [_det([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0]), _det([[5, 5, 25, 25]], [1])]
COCO_EDGE_CASES = {
    "perfect": (
        [_det([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0], [0.9, 0.8]), _det([[5, 5, 25, 25]], [1], [0.7])],
        _GT2,
    ),
    "IoU exactly 0.5 and 0.75": (
        [_det([[0, 0, 10, 20], [20, 20, 32, 36]], [0, 0], [0.9, 0.8]), _det([[5, 5, 25, 25]], [1], [0.3])],
        [_det([[0, 0, 10, 10], [20, 20, 32, 32]], [0, 0]), _det([[5, 5, 25, 25]], [1])],
    ),
    "duplicates and a wrong class": (
        [
            _det([[0, 0, 10, 10], [0, 0, 10, 11], [20, 20, 30, 30]], [0, 0, 1], [0.9, 0.95, 0.8]),
            _det([[5, 5, 25, 24.5]], [1], [0.6]),
        ],
        _GT2,
    ),
    "scores tied across images": (
        [
            _det([[0, 0, 10, 10], [40, 40, 50, 50]], [0, 0], [0.5, 0.5]),
            _det([[60, 60, 70, 70]], [0], [0.5]),
            _det([[5, 5, 25, 25]], [0], [0.5]),
        ],
        [_det([[0, 0, 10, 10]], [0]), _det([[0, 0, 1, 1]], [1]), _det([[5, 5, 25, 25]], [0])],
    ),
    "a class never detected, a detected class never annotated": (
        [_det([[0, 0, 10, 10]], [0], [0.9]), _det([[5, 5, 25, 25]], [2], [0.8])],
        _GT2,
    ),
    "false positives on an image without boxes": (
        [_det([[0, 0, 10, 10]], [0], [0.4]), _det([[1, 1, 9, 9], [3, 3, 8, 8]], [0, 0], [0.9, 0.2])],
        [_det([[0, 0, 10, 10]], [0]), _det(np.zeros((0, 4)), [])],
    ),
}


@pytest.mark.parametrize("case", list(COCO_EDGE_CASES))
def test_coco_map_edge_cases_match_cocoeval(case):
    preds, targets = COCO_EDGE_CASES[case]
    ours = coco_map(preds, targets)
    theirs = cocoeval_map(preds, targets)
    assert abs(ours["map50_95"] - theirs[0]) < MAP_TOL, (case, ours, theirs)
    assert abs(ours["map50"] - theirs[1]) < MAP_TOL, (case, ours, theirs)


def test_exact_threshold_case_is_what_we_think():
    """IoU exactly 0.5 and 0.75 count as matches (IoU ≥ t). Class 0: AP 1 at IoU 0.5; at 0.55–0.75 the
    first detection is a false positive, so precision 1/2 up to recall 1/2 (51 of 101 grid points); 0 above.
    Class 1: 1."""
    preds, targets = COCO_EDGE_CASES["IoU exactly 0.5 and 0.75"]
    r = coco_map(preds, targets)
    class0 = (1.0 + 5 * 51 * 0.5 / 101) / 10
    assert abs(r["per_class_ap50"][0] - 1.0) < 1e-12
    assert abs(r["map50_95"] - (class0 + 1.0) / 2) < 1e-12


def test_coco_map_iou_exactly_on_a_high_threshold():
    # IoU 360/400 = 0.9 and 380/400 = 0.95
    preds = [_det([[0, 0, 20, 18], [40, 40, 60, 59]], [0, 0], [0.9, 0.8])]
    targets = [_det([[0, 0, 20, 20], [40, 40, 60, 60]], [0, 0])]
    ours = coco_map(preds, targets)
    theirs = cocoeval_map(preds, targets)
    assert abs(ours["map50_95"] - theirs[0]) < MAP_TOL, (ours, theirs)


def test_coco_map_more_detections_than_max_dets():
    rng = np.random.default_rng(0)
    corners = np.c_[rng.uniform(0, 80, (150, 2)), rng.uniform(90, 128, (150, 2))]
    labels = np.r_[np.zeros(75, int), np.ones(75, int)]
    preds = [_det(corners, labels, rng.random(150))]
    targets = [_det(corners[::10] + rng.normal(0, 2, (15, 4)), labels[::10])]
    ours = coco_map(preds, targets, max_dets=100)
    theirs = cocoeval_map(preds, targets, max_dets=100)
    assert abs(ours["map50_95"] - theirs[0]) < MAP_TOL, (ours, theirs)


def test_torchmetrics_with_coco_thresholds_matches_cocoeval():
    "torchmetrics' MeanAveragePrecision given COCO's (float64) IoU and recall grids is COCOeval."
    from torchmetrics.detection import MeanAveragePrecision

    for seed in range(5):
        preds, targets = random_scene(np.random.default_rng(seed))
        metric = MeanAveragePrecision(
            iou_type="bbox",
            backend="pycocotools",
            iou_thresholds=np.linspace(0.5, 0.95, 10).tolist(),
            rec_thresholds=np.linspace(0.0, 1.0, 101).tolist(),
        )
        metric.update(preds, targets)
        r = metric.compute()
        theirs = cocoeval_map(preds, targets)
        assert abs(float(r["map"]) - theirs[0]) < TORCHMETRICS_TOL
        assert abs(float(r["map_50"]) - theirs[1]) < TORCHMETRICS_TOL


def test_mean_ap_matches_cocoeval():
    "`mean_ap` (what the tables report) is `coco_map`, COCOeval to float64 precision."
    for seed in range(10):
        preds, targets = random_scene(np.random.default_rng(seed))
        r = mean_ap(preds, targets)
        theirs = cocoeval_map(preds, targets)
        assert r["backend"] == "defect_nb.detect.coco_map"
        assert abs(r["map50_95"] - theirs[0]) < MAP_TOL, (r, theirs)
        assert abs(r["map50"] - theirs[1]) < MAP_TOL, (r, theirs)
