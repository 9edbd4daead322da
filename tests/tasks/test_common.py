"""What the tasks share: checkpoint descriptions, input layout and device, predict resizing."""

import pytest
import torch
from torch import nn

from regionlab.data.scenes import CLASSES
from regionlab.models.localization.builders import KeypointSpec
from regionlab.tasks.common import like_model, resize_images, spec_dict, split_spec_dict
from regionlab.tasks.keypoints import KeypointTask


def test_a_task_field_may_not_shadow_a_model_field():
    with pytest.raises(ValueError, match="alpha"):
        spec_dict(KeypointSpec(4), alpha=0.2)


def test_keypoint_checkpoint_keeps_gradnorm_alpha_and_pck_threshold_apart():
    task = KeypointTask(KeypointSpec(4, alpha=2.0), (32, 32), CLASSES, pck_alpha=0.2)
    d = task.spec_dict()
    assert d["alpha"] == 2.0 and d["pck_alpha"] == 0.2
    back = KeypointTask.from_spec_dict(d)
    assert back.spec.alpha == 2.0 and back.pck_alpha == 0.2
    assert back.spec_dict() == d
    spec, rest = split_spec_dict(d, KeypointSpec)
    assert spec == task.spec and rest["pck_alpha"] == 0.2


def test_inputs_follow_the_model_layout_and_device():
    net = nn.Sequential(nn.Conv2d(3, 4, 3))
    x = torch.rand(2, 3, 8, 8)
    assert like_model(x, net).is_contiguous()  # NCHW model: NCHW input, whatever else is set
    assert not like_model(x, net).is_contiguous(memory_format=torch.channels_last)
    net = net.to(memory_format=torch.channels_last)
    assert like_model(x, net).is_contiguous(memory_format=torch.channels_last)
    meta = nn.Sequential(nn.Conv2d(3, 4, 3)).to("meta")
    assert like_model(x, meta).device.type == "meta"


def test_predict_resizing_keeps_batch_and_channels():
    x = torch.rand(2, 3, 30, 50)
    assert resize_images(x, (16, 16)).shape == (2, 3, 16, 16)
    assert resize_images(x, (30, 50)) is x
