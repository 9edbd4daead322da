"""Export: every task's exported file (ONNX through onnxruntime, and TorchScript) predicts what
the eager model predicts, through the same ``task.predict``, within 1e-4 (detectors: the same
boxes after NMS); the file carries its task, classes and size; what cannot be exported is a
clear error. Tiny random models: no training, images unlike the one traced."""

from __future__ import annotations

import os

import pytest
import torch

from regionlab.data.captions import Vocabulary
from regionlab.export import ExportError, export_model, load_exported
from regionlab.models.detection.backbone import BackboneSpec
from regionlab.models.detection.region_spec import KeypointHeadSpec, MaskHeadSpec, RegionSpec
from regionlab.models.detection.specs import GridSpec, WindowSpec

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

CLASSES = ["background", "circle", "square", "triangle"]
CSP = BackboneSpec("csp", [8, 16, 32, 64], [0, 1, 1])
SMALL = BackboneSpec("small", [8, 16, 32])
GRID = dict(backbone=CSP, strides=[4, 8, 16], head_width=16, box_width=16)
# a feature pyramid at strides 4, 8, 16 of that backbone, as the CLI builds it; one map at 8
PYRAMID = dict(backbone=CSP, fpn=True, fpn_strides=[4, 8, 16], anchor_scales=[3.0, 6.0],
               hidden=32, roi_channels=16)  # fmt: skip
ONE_MAP = dict(backbone=CSP, stride=8, anchor_sizes=[16.0, 32.0], hidden=32, roi_channels=16)
# layer -> factor that spreads its scores (the region heads' features are small)
SCORE_LAYERS = {"head.branches.cls": 4.0, "head.cls.": 60.0, "proposer.objectness": 60.0}
FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}


def _segment(**kw):
    from regionlab.models.segmentation.builders import SegmentationSpec
    from regionlab.tasks.segmentation import SegmentationTask

    return SegmentationTask(SegmentationSpec(4, widths=[8, 16, 32], **kw), (32, 40), CLASSES)


def _localize(**kw):
    from regionlab.models.localization.builders import LocalizationSpec
    from regionlab.tasks.localization import LocalizationTask

    return LocalizationTask(LocalizationSpec(3, widths=[8, 16, 32], **kw), (32, 32), CLASSES)


def _keypoints():
    from regionlab.models.localization.builders import KeypointSpec
    from regionlab.tasks.keypoints import KeypointTask

    return KeypointTask(KeypointSpec(5, widths=[8, 16, 32]), (32, 32), CLASSES)


def _caption():
    from regionlab.models.captioning.captioner import CaptionSpec
    from regionlab.tasks.captioning import CaptionTask

    vocab = Vocabulary.build(["a red circle", "a blue square left of a green triangle"])
    spec = CaptionSpec(len(vocab), widths=[8, 16, 32], embed=16, hidden=32, max_len=8)
    return CaptionTask(spec, (32, 32), vocab.to_dict())


def _detect(spec, size: int = 64, instance: bool = False):
    from regionlab.tasks.detection import DetectionTask
    from regionlab.tasks.instance import InstanceTask

    return (InstanceTask if instance else DetectionTask)(spec, size, CLASSES)


TASKS = {
    "segment": _segment,
    # max-unpooling is exported as a scatter (PyTorch has no ONNX max_unpool2d)
    "segment-max-unpool": lambda: _segment(upsampler="max_unpool"),
    "segment-patch": lambda: _segment(arch="patch", patch=9),
    "localize": _localize,
    "localize-class-specific": lambda: _localize(class_specific=True),
    "keypoints": _keypoints,
    "caption": _caption,
    "grid": lambda: _detect(GridSpec(3, **GRID)),
    "grid-iou": lambda: _detect(GridSpec(3, assigner="iou", **GRID)),
    "sliding-window": lambda: _detect(
        WindowSpec(3, window=16, backbone=SMALL, hidden=32, sizes=[0.4, 0.7], aspects=[1.0]), 48
    ),  # fmt: skip
    "faster-rcnn": lambda: _detect(RegionSpec("faster-rcnn", 3, **PYRAMID)),
    "faster-rcnn-1map": lambda: _detect(RegionSpec("faster-rcnn", 3, roi="pool", **ONE_MAP)),
    "keypoint-rcnn": lambda: _detect(
        RegionSpec("keypoint-rcnn", 3, **ONE_MAP, keypoint=KeypointHeadSpec(5, size=12, width=16))
    ),
    "mask-rcnn-softmax": lambda: _detect(
        RegionSpec(
            "mask-rcnn",
            3,
            **ONE_MAP,
            mask=MaskHeadSpec(size=12, width=16, loss="softmax", score="box"),
        ),
        instance=True,
    ),
    "mask-rcnn": lambda: _detect(
        RegionSpec(
            "mask-rcnn",
            3,
            **PYRAMID,
            mask=MaskHeadSpec(size=12, width=16, convs=1, score="maskness"),
            keypoint=KeypointHeadSpec(4, size=12, width=16, convs=1),
        ),
        instance=True,
    ),  # fmt: skip
}


def _model(task):
    """Random weights; a detector's class and objectness layers scaled up, so its scores
    spread over ``[0, 1]`` instead of all sitting at the prior (near-ties would make which box
    NMS keeps a coin toss, in eager PyTorch as in any runtime)."""
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            for layer, factor in SCORE_LAYERS.items():
                if layer in name:
                    p.mul_(factor) if name.endswith("weight") else p.zero_()
    return model


def _images(n: int = 2, h: int = 45, w: int = 53, seed: int = 1) -> torch.Tensor:
    """Not the traced example: another size and other pixels."""
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed))


def _close(a, b, what: str) -> None:
    if isinstance(a, torch.Tensor):
        assert a.shape == b.shape, (what, a.shape, b.shape)
        if a.dtype in (torch.int64, torch.bool):
            assert torch.equal(a, b), what
        else:
            torch.testing.assert_close(b.float(), a.float(), atol=1e-4, rtol=1e-4, msg=what)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _close(a[k], b[k], f"{what}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{what}[{i}]")
    elif hasattr(a, "boxes"):  # Detections
        assert len(a) > 0, f"{what}: nothing detected, the comparison would mean nothing"
        b = b[_matching(a, b, what)]
        for field in ("boxes", "labels", "scores", "masks", "keypoints", "mask_scores"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None), f"{what}.{field}"
            if x is not None:
                _close(x, y, f"{what}.{field}")
    else:
        assert a == b, what


def _matching(a, b, what: str) -> list[int]:
    """For each detection of ``a``, the one of ``b`` with its label, box and score: the same
    set after NMS, in any order among scores equal to within rounding (which of two such
    detections sorts first is arbitrary in any runtime)."""
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} detections"
    close = (
        ((a.boxes[:, None] - b.boxes[None]).abs().amax(-1) < 1e-3)
        & (a.labels[:, None] == b.labels[None])
        & ((a.scores[:, None] - b.scores[None]).abs() < 1e-4)
    )
    order, used = [], set()
    for i, row in enumerate(close):
        j = next((int(j) for j in row.nonzero().flatten() if int(j) not in used), None)
        assert j is not None, f"{what}: detection {i} {a.boxes[i].tolist()} has no match"
        order.append(j)
        used.add(j)
    return order


def _params():
    for name in TASKS:
        for fmt in FORMATS:
            yield pytest.param(name, fmt, id=f"{name}-{fmt}")


@pytest.mark.parametrize("name,fmt", list(_params()))
def test_exported_model_predicts_what_the_eager_model_predicts(tmp_path, name, fmt):
    task = TASKS[name]()
    model = _model(task)
    path = export_model(task, model, tmp_path / f"model{FORMATS[fmt]}", fmt)
    exported = load_exported(path)
    assert exported.task_name == task.name and exported.format == fmt
    assert exported.classes == list(task.classes)
    size = task.size if isinstance(task.size, tuple) else (task.size, task.size)
    assert exported.size == tuple(size)
    images = _images()
    _close(task.predict(model, images), exported.predict_tensor(images), name)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_a_detector_that_ranks_masks_by_maskness_exports_their_scores_beside_the_boxes(
    tmp_path, fmt
):
    for name, want in (("mask-rcnn", True), ("mask-rcnn-softmax", False)):
        task = TASKS[name]()
        model = _model(task)
        path = export_model(task, model, tmp_path / f"{name}{FORMATS[fmt]}", fmt)
        exported = load_exported(path)
        assert ("mask_scores" in exported.meta.outputs) == want, name
        for det in exported.predict_tensor(_images()):
            assert len(det) > 1 and bool((det.scores[:-1] >= det.scores[1:]).all())  # boxes'
            assert (det.mask_scores is not None) == want, name
            if want:  # a box score times a mean probability
                assert bool((det.mask_scores <= det.scores + 1e-6).all())


@pytest.mark.parametrize("name", ["grid", "mask-rcnn"])
def test_an_image_without_detections_gives_empty_fields(tmp_path, name):
    task = TASKS[name]()
    model = _model(task)
    model.score_thresh = 1.0  # nothing passes
    exported = load_exported(export_model(task, model, tmp_path / "model.onnx"))
    images = _images(1)
    eager, got = task.predict(model, images)[0], exported.predict_tensor(images)[0]
    assert len(eager) == len(got) == 0
    for field in ("boxes", "scores", "labels", "masks", "keypoints", "mask_scores"):
        x, y = getattr(eager, field), getattr(got, field)
        assert (x is None) == (y is None) and (x is None or x.shape == y.shape), field


def test_onnx_file_carries_task_classes_and_size_for_other_tools(tmp_path):
    import onnx

    task = _segment()
    path = export_model(task, _model(task), tmp_path / "seg.onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["task"] == "segment"
    assert props["classes"] == ",".join(CLASSES)
    assert props["size"] == "32x40"
    umask = os.umask(0o022)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # a file to share, not a private one


@pytest.mark.parametrize(
    "name", ["segment", "localize", "localize-class-specific", "caption", "keypoints"]
)
def test_dynamic_batch_and_another_size(tmp_path, name):
    # localize at 40 x 40: a 5 x 5 map pooled to 4 x 4, which ONNX's pooling cannot express
    task = TASKS[name]()
    model = _model(task)
    path = export_model(task, model, tmp_path / "model.onnx", size=(40, 40), dynamic=True)
    exported = load_exported(path)
    assert exported.size == (40, 40)
    images = _images(3)  # the graph was traced with 2 images
    resized = type(task).from_spec_dict({**task.spec_dict(), "size": [40, 40]})
    _close(resized.predict(model, images), exported.predict_tensor(images), name)


def test_selective_search_detector_and_alignment_are_refused_by_name(tmp_path):
    rcnn = _detect(RegionSpec("rcnn", 3, backbone=SMALL, crop_size=24, context=2, hidden=32))
    with pytest.raises(ExportError, match="selective-search"):
        export_model(rcnn, _model(rcnn), tmp_path / "rcnn.onnx")
    assert not (tmp_path / "rcnn.onnx").exists()
    from regionlab.models.alignment.model import AlignSpec
    from regionlab.tasks.alignment import AlignTask

    vocab = Vocabulary.build(["a red circle"])
    align = AlignTask(AlignSpec(len(vocab), widths=[8, 16, 32], embed=16, hidden=48), (32, 32),
                      vocab.to_dict())  # fmt: skip
    with pytest.raises(ExportError, match="align: not exported"):
        export_model(align, _model(align), tmp_path / "align.torchscript.pt", "torchscript")


def test_not_an_export_is_a_clear_error(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    with pytest.raises(ExportError, match="model.onnx: not a readable ONNX model"):
        load_exported(bad)
    ckpt = tmp_path / "best.pt"
    torch.save({"model": {}}, ckpt)
    with pytest.raises(ExportError, match="not an exported regionlab model"):
        load_exported(ckpt)


def test_a_free_batch_size_is_refused_for_detectors(tmp_path):
    task = TASKS["grid"]()
    with pytest.raises(ExportError, match="one image at a time"):
        export_model(task, _model(task), tmp_path / "grid.onnx", dynamic=True)


def test_export_leaves_the_model_as_it_was(tmp_path):
    task = TASKS["sliding-window"]()  # its PooledNeck is swapped in the exported copy only
    model = _model(task)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    export_model(task, model, tmp_path / "window.onnx")
    assert type(model.cropper.neck).__name__ == "PooledNeck"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_an_exported_captioner_refuses_beam_search_rather_than_ignoring_it(tmp_path):
    task = _caption()
    exported = load_exported(export_model(task, _model(task), tmp_path / "cap.onnx"))
    assert exported.task.beam == 1  # what the graph does
    with pytest.raises(ValueError, match="decodes greedily"):
        exported.predict_tensor(_images(1), beam=3)


def test_nms_limits_are_fixed_in_the_graph_recorded_and_enforced(tmp_path):
    import regionlab

    task = TASKS["grid"]()
    model = _model(task)
    iou_before, max_before = model.nms_iou, model.max_det
    path = export_model(task, model, tmp_path / "grid.onnx", iou=0.3, max_det=7)
    assert (model.nms_iou, model.max_det) == (iou_before, max_before)  # put back
    limits = load_exported(path).meta.notes["limits"]
    assert limits == {"score_thresh": model.score_thresh, "nms_iou": 0.3, "max_det": 7}
    pred = regionlab.load(path, conf=max(0.3, model.score_thresh))
    (r,) = pred.predict(_images(1)[0], iou=0.3, max_det=5)  # the held IoU, fewer objects
    assert len(r.boxes) <= 5
    with pytest.raises(ValueError, match=r"NMS IoU is fixed .*\(0.3\).*--iou 0.6"):
        pred.predict(_images(1)[0], iou=0.6)
    with pytest.raises(ValueError, match="at most 7 objects.*--max-det 20"):
        pred.predict(_images(1)[0], max_det=20)
    with pytest.raises(ExportError, match="--iou must be in"):
        export_model(task, model, tmp_path / "bad.onnx", iou=1.5)


@pytest.mark.parametrize("fmt,inside", [("onnx", 1), ("torchscript", 2)])
def test_torch_runs_on_one_thread_around_onnxruntime_only(tmp_path, monkeypatch, fmt, inside):
    # onnxruntime has threads of its own (torch's would spin beside them); a TorchScript graph
    # runs on torch's. The caller's thread count is put back either way.
    task = _segment()
    exported = load_exported(export_model(task, _model(task), tmp_path / f"m{FORMATS[fmt]}", fmt))
    seen, predict = [], exported.task.predict

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return predict(*args, **kwargs)

    monkeypatch.setattr(exported.task, "predict", spy)
    torch.set_num_threads(2)  # the autouse fixture restores the session's own
    exported.predict_tensor(_images(1))
    assert seen == [inside] and torch.get_num_threads() == 2


def test_an_exported_keypoint_model_keeps_its_skeleton_for_drawing(tmp_path):
    import regionlab
    from regionlab.models.localization.builders import KeypointSpec
    from regionlab.tasks.keypoints import KeypointTask

    bones = [[0, 1], [1, 2], [3, 4]]
    task = KeypointTask(KeypointSpec(5, widths=[8, 16, 32]), (32, 32), CLASSES, skeleton=bones)
    path = export_model(task, _model(task), tmp_path / "kp.onnx")
    (r,) = regionlab.load(path).predict(_images(1)[0])
    assert r.skeleton == bones  # the limbs drawn between joints, as from the checkpoint


def test_an_exported_instance_model_predicts_through_the_api_with_its_own_mask_threshold(
    tmp_path,
):
    import regionlab

    task = TASKS["mask-rcnn"]()
    model = _model(task)
    path = export_model(task, model, tmp_path / "m.onnx")
    image = (_images(1)[0] * 255).round().byte()  # uint8 (3, 45, 53)
    (got,) = regionlab.load(path).predict(image.permute(1, 2, 0).numpy(), conf=0.001)
    # the eager model's probabilities, kept from the head's threshold as the file records it
    (eager,) = task.predict(model, image[None].float() / 255)
    assert task.mask_threshold == load_exported(path).task.mask_threshold
    assert len(got) == len(eager) > 1 and got.masks.dtype == torch.bool
    order = [int((eager.boxes - b).abs().amax(1).argmin()) for b in got.boxes]
    assert torch.equal(got.masks, eager.masks[order] >= task.mask_threshold)
    assert torch.allclose(got.mask_scores, eager.mask_scores[order], atol=1e-4)
