"""The predicting copy: BatchNorm folded into its convolution and NHWC on the CPU give the same
outputs as the trained model in eval mode, to float rounding; the model itself is untouched."""

import pytest
import torch
from torch import nn

from regionlab.models.detection.csp import CSPBackbone
from regionlab.tasks.inference import fold_batchnorm, inference_copy


def _trained_backbone() -> nn.Module:
    torch.manual_seed(0)
    model = CSPBackbone((8, 16, 32), (1, 1))
    model.train()
    for _ in range(3):  # running statistics away from their initial 0 / 1
        model(torch.rand(4, 3, 48, 48) * 3 - 1)
    return model.eval()


def test_the_copy_computes_what_the_model_does_without_a_batchnorm_left():
    model = _trained_backbone()
    x = torch.rand(2, 3, 48, 48)
    with torch.no_grad():
        want = model(x).features
        copy = inference_copy(model, torch.device("cpu"))
        got = copy(x).features
    assert not any(isinstance(m, nn.BatchNorm2d) for m in copy.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # left as it was
    conv = next(m for m in copy.modules() if isinstance(m, nn.Conv2d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not copy.training
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_folding_needs_eval_mode_and_leaves_a_lone_batchnorm():
    model = nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3), nn.ReLU())
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)
    folded = fold_batchnorm(model.eval())
    assert isinstance(folded[0], nn.BatchNorm2d)  # no convolution before it to fold into
