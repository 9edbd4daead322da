"""Instance segmentation as a task: masks through the letterbox and back, masks required, and
the CLI's train, eval (box and mask AP) and predict (coloured instances, RLE records)."""

from __future__ import annotations

import json

import pytest
import torch

from regionlab.cli.main import main
from regionlab.data.detection_transforms import DetectionAugment
from regionlab.data.errors import DataError
from regionlab.data.rle import rle_to_mask
from regionlab.data.sample import Sample
from regionlab.tasks.instance import InstanceTask, unletterbox_masks


def test_masks_come_back_from_the_letterbox_within_a_pixel():
    m = torch.zeros(1, 60, 100, dtype=torch.bool)
    m[0, 10:40, 20:70] = True
    s = Sample(torch.zeros(3, 60, 100, dtype=torch.uint8), masks=m,
               boxes=torch.tensor([[20.0, 10.0, 70.0, 40.0]]), labels=torch.tensor([1]))  # fmt: skip
    letter, frame = DetectionAugment((64, 64), train=False).letterbox_frame(s)
    back = unletterbox_masks(letter.masks.float(), frame)[0] >= 0.5
    assert back.shape == (60, 100)
    assert int((back ^ m[0]).sum()) <= 2 * (30 + 50)  # at most the border ring differs


def test_objects_without_masks_are_refused():
    s = Sample(torch.zeros(3, 8, 8, dtype=torch.uint8), boxes=torch.tensor([[0.0, 0, 4, 4]]),
               labels=torch.tensor([1]), path="a.jpg")  # fmt: skip
    with pytest.raises(DataError, match="a.jpg.*without masks"):
        InstanceTask.check_sample(s)


def test_cli_instance_train_eval_predict(tmp_path):
    from PIL import Image

    run = tmp_path / "run"
    args = ["train", "instance", "--data", "scenes:size=48,n=8", "--val", "scenes:size=48,n=4",
            "--epochs", "1", "--batch-size", "4", "--mask-size", "8", "--mask-convs", "1",
            "--widths", "8,16,32,64", "--depths", "0,1,1", "--threads", "1", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "metrics.json"
    assert main(["eval", str(run / "best.pt"), "--data", "scenes:size=48,n=4", "--out",
                 str(out), "--save-json", str(tmp_path / "res.json")]) == 0  # fmt: skip
    metrics = json.loads(out.read_text())
    assert {"AP", "AP50", "mask_AP", "mask_AP50", "mask_AP/circle", "loss_mask"} <= set(metrics)
    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    # --conf 0: every detection of the barely trained model (predict shows >= 0.25 by default)
    assert main(["predict", str(run / "best.pt"), str(picture), "--out", str(tmp_path / "o"),
                 "--conf", "0"]) == 0  # fmt: skip
    assert (tmp_path / "o" / "p_pred.png").is_file()
    records = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert records
    for rec in records[:5]:
        assert rle_to_mask(rec["segmentation"]).shape == (30, 40)  # the photo's own pixels


def test_a_mirror_renames_left_and_right_keypoints():
    kps = torch.tensor([[[10.0, 5.0, 2.0], [30.0, 5.0, 2.0], [20.0, 9.0, 1.0]]])  # L, R, nose
    s = Sample(torch.zeros(3, 20, 40, dtype=torch.uint8), boxes=torch.tensor([[5.0, 2, 35, 12]]),
               labels=torch.tensor([1]), keypoints=kps)  # fmt: skip
    aug = DetectionAugment((20, 40), flip=1.0, colour=0.0, hue=0.0, flip_perm=[1, 0, 2])
    out = aug.jitter(s, torch.Generator().manual_seed(0))
    # the left point (x 10) mirrors to x 30 and is now the *right* one: it is listed second
    assert out.keypoints[0].tolist() == [[10.0, 5.0, 2.0], [30.0, 5.0, 2.0], [20.0, 9.0, 1.0]]
    plain = DetectionAugment((20, 40), flip=1.0, colour=0.0, hue=0.0).jitter(s)
    assert plain.keypoints[0, 0].tolist() == [30.0, 5.0, 2.0]


def test_cli_instance_with_keypoints_scores_oks(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "instance", "--keypoints", "--data", "scenes:size=48,n=8", "--val",
            "scenes:size=48,n=4", "--epochs", "1", "--batch-size", "4", "--mask-size", "8",
            "--mask-convs", "1", "--widths", "8,16,32,64", "--depths", "0,1,1", "--threads", "1",
            "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    assert "no left/right names, so no flips" in capsys.readouterr().out
    out = tmp_path / "metrics.json"
    assert main(["eval", str(run / "best.pt"), "--data", "scenes:size=48,n=4", "--out",
                 str(out)]) == 0  # fmt: skip
    metrics = json.loads(out.read_text())
    assert {"kp_AP", "kp_AP50", "loss_keypoint", "mask_AP"} <= set(metrics)
    from regionlab.engine.checkpoint import load_checkpoint

    task = InstanceTask.from_spec_dict(load_checkpoint(run / "best.pt")["spec"])
    assert task.keypoints and task.flip == 0.0 and task.oks_sigmas == [0.07] * 4
    assert task.skeleton and task.spec.num_keypoints == 4


def test_keypoints_without_coco_constants_get_a_default_sigma():
    from regionlab.models.detection.region_spec import KeypointHeadSpec, RegionSpec

    def spec(n: int, k: int) -> RegionSpec:
        return RegionSpec("mask-rcnn", n, keypoint=KeypointHeadSpec(k))

    task = InstanceTask(spec(3, 4), 48, ["background", "a", "b", "c"])
    assert task.oks_sigmas == [0.07] * 4  # known before training, not at the first evaluation
    coco = InstanceTask(spec(1, 17), 48, ["background", "person"])
    assert coco.oks_sigmas is None  # COCO's own


def test_instance_segmentation_needs_a_mask_head():
    from regionlab.models.detection.region_spec import RegionSpec

    with pytest.raises(ValueError, match="mask head"):
        InstanceTask(RegionSpec("faster-rcnn", 1), 48, ["background", "person"])


def test_a_mask_keeps_the_pixels_its_head_s_threshold_keeps():
    from types import SimpleNamespace

    from regionlab.api.families import _detections
    from regionlab.models.detection.region_spec import MaskHeadSpec, RegionSpec
    from regionlab.ops.detections import Detections

    probs = torch.tensor([[[0.2, 0.35], [0.45, 0.6]]])
    det = Detections(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([1]), torch.tensor([0.9]), probs)
    names = ["background", "person"]
    low = InstanceTask(RegionSpec("mask-rcnn", 1, mask=MaskHeadSpec(threshold=0.3)), 48, names)
    assert low.scored(det).masks.tolist() == [[[False, True], [True, True]]]
    chosen = InstanceTask(RegionSpec("mask-rcnn", 1), 48, names)
    assert chosen.mask_threshold == 0.4
    assert chosen.scored(det).masks.tolist() == [[[False, False], [True, True]]]
    # a prediction (the API, predict, the report) keeps what evaluation keeps
    chosen.predict = lambda model, batch: [det]
    frame = SimpleNamespace(path="a.png", image=torch.zeros(3, 2, 2, dtype=torch.uint8), index=None)
    (result,) = _detections(chosen, None, None, [frame])
    assert torch.equal(result.masks, chosen.scored(det).masks)
    # a checkpoint saved before the threshold was a choice keeps the paper's 0.5
    old = RegionSpec("mask-rcnn", 1).to_dict()
    del old["mask"]["threshold"]
    assert RegionSpec(**old).mask.threshold == 0.5
    with pytest.raises(ValueError, match="mask threshold"):
        MaskHeadSpec(threshold=1.0)


@pytest.mark.parametrize("orig", [(300, 450), (470, 350), (90, 100)])
def test_pasted_masks_come_back_the_same_read_within_their_boxes_only(orig):
    from regionlab.data.detection_transforms import Frame
    from regionlab.ops.masks import paste_masks

    g = torch.Generator().manual_seed(1)
    scale = min(96 / orig[0], 96 / orig[1])
    h, w = round(orig[0] * scale), round(orig[1] * scale)
    frame = Frame(w / orig[1], h / orig[0], (96 - w) // 2, (96 - h) // 2, *orig)
    xy = torch.rand(40, 2, generator=g) * 110 - 10
    boxes = torch.cat([xy, xy + torch.rand(40, 2, generator=g) * 40 + 0.3], 1)
    pasted = paste_masks(torch.rand(40, 14, 14, generator=g), boxes, (96, 96))
    every = unletterbox_masks(pasted, frame)  # every original pixel looked up
    assert torch.equal(unletterbox_masks(pasted, frame, boxes), every)
    assert float(every.sum()) > 0
