"""Classification + localization and keypoint regression models: shapes, heads, overfitting."""

import pytest
import torch

from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.models.localization.builders import (
    KeypointSpec,
    LocalizationSpec,
    build_keypoint_model,
    build_localization_model,
)
from regionlab.models.localization.keypoints import KeypointTargets
from regionlab.models.localization.net import LocalizationTargets
from regionlab.tasks.keypoints import KeypointTask
from regionlab.tasks.keypoints import collate as kp_collate
from regionlab.tasks.localization import LocalizationTask
from regionlab.tasks.localization import collate as loc_collate

WIDTHS = [8, 16, 32]


@pytest.mark.parametrize("class_specific", [False, True])
@pytest.mark.parametrize("weighting", ["fixed", "uncertainty", "gradnorm"])
def test_localization_outputs_and_losses(class_specific, weighting):
    torch.manual_seed(0)
    spec = LocalizationSpec(3, widths=WIDTHS, class_specific=class_specific, weighting=weighting)
    model = build_localization_model(spec)
    x = torch.rand(2, 3, 40, 48)
    out = model(x)
    assert out.logits.shape == (2, 3) and out.boxes.shape == (2, 4) and out.loss is None
    t = LocalizationTargets(torch.tensor([0, 2]), torch.rand(2, 4))
    out = model(x, t)
    assert set(out.losses) == {"cls", "box"} and out.loss.ndim == 0
    assert set(out.weights) == {"cls", "box"}
    out.loss.backward()
    assert model.box_head.weight.grad is not None and model.cls_head.weight.grad is not None


def test_class_specific_head_trains_the_true_class_box():
    torch.manual_seed(0)
    model = build_localization_model(LocalizationSpec(3, widths=WIDTHS, class_specific=True))
    out = model(torch.rand(1, 3, 32, 32), LocalizationTargets(torch.tensor([1]), torch.rand(1, 4)))
    out.loss.backward()
    g = model.box_head.weight.grad.view(3, 4, -1).abs().sum((1, 2))
    assert g[1] > 0 and g[0] == 0 and g[2] == 0


def test_keypoint_outputs_and_visibility_mask():
    torch.manual_seed(0)
    model = build_keypoint_model(KeypointSpec(5, widths=WIDTHS))
    x = torch.rand(2, 3, 32, 32)
    out = model(x)
    assert out.coords.shape == (2, 5, 2) and out.visibility.shape == (2, 5)
    labelled = torch.zeros(2, 5, dtype=torch.bool)
    labelled[0, :2] = True
    t = KeypointTargets(torch.rand(2, 5, 2), labelled, labelled.clone())
    out = model(x, t)
    out.loss.backward()
    # An unlabelled joint contributes nothing: changing its target leaves the loss unchanged.
    t2 = KeypointTargets(t.coords.clone(), labelled, labelled.clone())
    t2.coords[1] += 5.0
    with torch.no_grad():
        assert torch.equal(model(x, t).losses["coords"], model(x, t2).losses["coords"])


def _batch(task, collate, n):
    data = SceneDataset(n, seed=3, config=SceneConfig(size=48, max_objects=1))
    plain = task.transform(train=False)
    return collate([plain(data[i]) for i in range(n)])


def _overfit(task, collate, steps=150):
    """Train on 8 fixed scenes and return the task's metrics on them."""
    torch.manual_seed(0)
    model = task.build_model()
    batch = _batch(task, collate, 8)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        opt.zero_grad()
        task.step(model, batch, torch.device("cpu")).loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return task.evaluate(model, [batch], torch.device("cpu"))


def test_localization_net_overfits_a_few_scenes():
    spec = LocalizationSpec(3, widths=[16, 32, 64], loss_weight=5.0)
    m = _overfit(LocalizationTask(spec, (48, 48), SceneDataset.classes), loc_collate)
    assert m["acc"] == 1.0 and m["loc_acc"] == 1.0 and m["mean_iou"] > 0.8


def test_keypoint_net_overfits_a_few_scenes():
    spec = KeypointSpec(4, widths=[16, 32, 64])
    m = _overfit(KeypointTask(spec, (48, 48), SceneDataset.classes), kp_collate)
    assert m["pck"] > 0.95 and m["pck_excluded"] == 0


def test_keypoint_task_passes_its_augmentation_settings():
    task = KeypointTask(KeypointSpec(4, widths=WIDTHS), (32, 32), SceneDataset.classes, rotate=30)
    s = SceneDataset(1, config=SceneConfig(size=48, max_objects=1))[0]
    a = task.transform(train=True)(s, torch.Generator().manual_seed(1))
    b = KeypointTask(KeypointSpec(4, widths=WIDTHS), (32, 32), SceneDataset.classes).transform(
        train=True
    )(s, torch.Generator().manual_seed(1))
    # Same generator: only the rotation differs, so the crops and keypoints differ.
    assert not torch.equal(a.image, b.image) and not torch.allclose(a.coords, b.coords)
    assert KeypointTask.from_spec_dict(task.spec_dict()).rotate == 30
