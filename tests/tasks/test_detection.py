"""Detection as a task: both detectors overfit a few scenes, resume exactly, train on negatives,
and the CLI trains, evaluates (COCO AP, results JSON) and predicts."""

from __future__ import annotations

import json

import pytest
import torch
from crash import CrashAt

from regionlab.cli.main import main
from regionlab.data.sample import Sample
from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.detection.backbone import BackboneSpec
from regionlab.models.detection.specs import WindowSpec
from regionlab.tasks.detection import DetectionTask

SCENES = SceneConfig(size=48, max_objects=2)


def _window_task(**kw) -> DetectionTask:
    window = WindowSpec(3, window=24, backbone=BackboneSpec("small", [8, 16, 32]),
                        sizes=[0.3, 0.5, 0.7], aspects=[1.0], samples=32)  # fmt: skip
    return DetectionTask(window, 48, CLASSES, **kw)


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=4, lr=3e-3, progress=False, threads=1, eval_every=1000,
                weight_decay=0.0)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_sliding_window_detector_overfits_a_few_scenes(tmp_path):
    torch.manual_seed(0)
    data = SceneDataset(4, config=SCENES)
    task = _window_task(mosaic=0.0, scale=(1.0, 1.0), flip=0.0)
    res = fit(task, data, data, _cfg(epochs=250), tmp_path, log=lambda *_: None)
    assert res.metrics["AP50"] > 0.9, res.metrics


def test_a_detector_resumes_bit_identically(tmp_path):
    data = SceneDataset(8, config=SCENES)
    cfg = _cfg(epochs=3, batch_size=2, checkpoint_every=3)
    task = _window_task(mosaic=0.5)  # mosaic and window sampling draw from the seeded streams
    fit(task, data, None, cfg, tmp_path / "full", log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_window_task(mosaic=0.5), 8), data, None, cfg, tmp_path / "cut",
            log=lambda *_: None)  # fmt: skip
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["state"]["step"] == 6  # mid-epoch
    fit(_window_task(mosaic=0.5), data, None, cfg, tmp_path / "cut", resume=True,
        log=lambda *_: None)  # fmt: skip
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_image_without_objects_trains_as_a_negative():
    task = _window_task(mosaic=0.0)
    model = task.build_model()
    empty = Sample(torch.full((3, 48, 48), 90, dtype=torch.uint8))
    batch = task.collate([task.transform(True)(empty, torch.Generator(), _ctx(empty))])
    out = task.step(model, batch, torch.device("cpu"))
    assert torch.isfinite(out.loss) and out.logs["loss_box"] == 0.0
    out.loss.backward()
    assert model.head.cls.weight.grad.abs().sum() > 0  # background is learned from it


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_a_box_detector_augments_images_without_their_masks_or_class_map(mosaic):
    """Masks and class maps a box detector never learns are dropped before augmentation (not
    resized with every image): the same draws, so the image and boxes come out as for the same
    sample without them, and no masks reach the targets."""
    from dataclasses import replace

    task = _window_task(mosaic=mosaic)
    scene = SceneDataset(2, seed=4, config=SceneConfig(size=48, max_objects=3))[1]
    assert scene.masks is not None and len(scene.masks) and scene.semantic is not None
    bare = replace(scene, masks=None, semantic=None)
    train, plain = task.transform(True), task.transform(False)
    for got, want in (
        (train(scene, torch.Generator().manual_seed(7), _ctx(scene)),
         train(bare, torch.Generator().manual_seed(7), _ctx(bare))),
        (plain(scene), plain(bare)),
    ):  # fmt: skip
        assert torch.equal(got.image, want.image) and torch.equal(
            got.target.boxes, want.target.boxes
        )
        assert got.target.masks is None and got.original.masks is None


@pytest.mark.parametrize("mosaic", [0.0, 1.0])
def test_a_detector_is_scored_on_its_objects_areas_though_it_drops_their_masks(mosaic):
    """COCO's size split reads each object's area: the dataset's own where it states one, else
    the mask's pixels (a box detector drops the masks before augmentation, not their areas).
    The areas belong to the original pixels only: no transformed sample carries them."""
    from dataclasses import replace

    task = _window_task(mosaic=mosaic)
    scene = SceneDataset(2, seed=4, config=SceneConfig(size=48, max_objects=3))[1]
    pixels = scene.masks.flatten(1).sum(1).float()
    stated = replace(scene, area=torch.arange(1.0, len(scene.labels) + 1).double())
    train, plain = task.transform(True), task.transform(False)
    for sample, want in ((scene, pixels), (stated, stated.area)):
        for got in (plain(sample), train(sample, torch.Generator().manual_seed(7), _ctx(sample))):
            assert torch.equal(got.original.area, want) and got.target.area is None
    assert not torch.equal(pixels, _box_areas(scene.boxes))  # the masks' areas, not the boxes'


def _box_areas(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _ctx(sample):
    from regionlab.engine.loader import AugmentContext

    return AugmentContext(0, 0.0, lambda: sample)


def test_cli_detect_train_eval_predict_and_refuse_other_classes(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "detect", "--model", "sliding-window", "--data", "scenes:size=48,n=4",
            "--val", "scenes:size=48,n=2", "--window", "16", "--window-sizes", "0.4,0.7",
            "--epochs", "1", "--batch-size", "2", "--threads", "1", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    results = tmp_path / "results.json"
    spec = "scenes:size=48,n=2"
    assert main(["eval", str(run / "best.pt"), "--data", spec, "--save-json", str(results)]) == 0
    metrics = json.loads(capsys.readouterr().out.split("\nwrote")[0])
    assert 0 <= metrics["AP50"] <= 1 and "AP/circle" in metrics and "loss" in metrics
    entries = json.loads(results.read_text())
    assert entries and {"image_id", "category_id", "bbox", "score"} <= set(entries[0])
    # --iou: this evaluation's NMS; a lower one suppresses more, and a bad one is refused
    fewer = tmp_path / "fewer.json"
    assert main(["eval", str(run / "best.pt"), "--data", spec, "--iou", "0.05",
                 "--save-json", str(fewer)]) == 0  # fmt: skip
    assert len(json.loads(fewer.read_text())) < len(entries)
    assert main(["eval", str(run / "best.pt"), "--data", spec, "--iou", "1.5"]) == 2
    assert "iou must be in (0, 1]" in capsys.readouterr().err
    img = tmp_path / "scene.png"
    main(["data", "show", "scenes:size=48,n=1", "--out", str(tmp_path / "s"), "--n", "1"])
    (tmp_path / "s" / "sample_000.png").rename(img)
    assert main(["predict", str(run / "best.pt"), str(img), "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "scene_pred.png").exists()
    assert isinstance(json.loads((tmp_path / "p" / "predictions.json").read_text()), list)
    # a dataset with other classes is refused
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from fixtures import make_voc

    voc = make_voc(tmp_path / "voc")
    assert main(["eval", str(run / "best.pt"), "--data", f"voc:{voc}"]) == 2
    assert "was trained on classes" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["rcnn", "fast-rcnn"])
def test_selective_search_detectors_overfit_a_few_scenes_from_cached_proposals(tmp_path, model):
    from regionlab.models.detection.region_spec import RegionSpec

    torch.manual_seed(0)
    data = SceneDataset(4, config=SCENES)
    backbone = BackboneSpec("small", [8, 16, 32]) if model == "rcnn" else BackboneSpec(
        "csp", [8, 16, 32, 64], [0, 1, 1])  # fmt: skip
    region = RegionSpec(model, 3, backbone=backbone, stride=8, crop_size=24, context=2,
                        hidden=64, roi_channels=16, samples=32, ss_top=300,
                        cache=str(tmp_path / "ss"))  # fmt: skip
    task = DetectionTask(region, 48, CLASSES)
    res = fit(task, data, data, _cfg(epochs=150), tmp_path / "run", log=lambda *_: None)
    assert res.metrics["AP50"] > 0.9, res.metrics
    # Flips only: each scene is seen as itself or its mirror, so at most 2 + 1 (evaluation)
    # proposal lists per image were ever computed.
    assert 0 < len(list((tmp_path / "ss").rglob("*.pt"))) <= 4 * 3


def _every_spec():
    from regionlab.models.detection.region_spec import KeypointHeadSpec, RegionSpec
    from regionlab.models.detection.specs import GridSpec

    yield GridSpec(3, assigner="iou")
    yield WindowSpec(3, window=24)  # a field named like the old format's "window" key
    for model in ("rcnn", "fast-rcnn", "faster-rcnn"):
        yield RegionSpec(model, 3)
    yield RegionSpec("mask-rcnn", 3, keypoint=KeypointHeadSpec(4), fpn=True)
    yield RegionSpec("keypoint-rcnn", 3, keypoint=KeypointHeadSpec(4))


@pytest.mark.parametrize("spec", list(_every_spec()), ids=lambda s: s.model)
def test_every_detector_spec_survives_the_checkpoint_round_trip(spec):
    task = DetectionTask(spec, 48, CLASSES)
    again = DetectionTask.from_spec_dict(task.spec_dict())
    assert again.spec == spec and again.spec_dict() == task.spec_dict()


def test_to_pixels_gives_torchs_own_cast():
    from regionlab.tasks.detection import to_pixels

    # halves round to even, out of range clamps, NaN (undefined) is 0 in both
    edge = [-0.5, -1e-3, 0.5 / 255, 1.5 / 255, 2.5 / 255, 0.5, 254.5 / 255, 1.0, 1.7]
    x = torch.cat([torch.tensor(edge + [float("nan")]), torch.rand(3 * 37 * 41 - 10)])
    x = x.reshape(1, 3, 37, 41)
    for images in (x, x.contiguous(memory_format=torch.channels_last), x[..., ::2]):
        want = images.mul(255).round_().clamp_(0, 255).to(torch.uint8)
        got = to_pixels(images)
        assert got.dtype == torch.uint8 and torch.equal(got, want)
    assert torch.equal(x.reshape(-1)[:3], torch.tensor(edge[:3]))  # the input is not touched
    assert torch.equal(to_pixels(x.requires_grad_()), to_pixels(x.detach()))  # with autograd on
