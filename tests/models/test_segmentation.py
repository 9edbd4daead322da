"""Every segmentation model through the same checks (in the spirit of SMP's BaseModelTester):
output shapes, a finite loss with gradients, the train/eval contract, and overfitting a few scenes.
"""

import pytest
import torch

from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.eval.segmentation import ConfusionMatrix
from regionlab.models.backbones import TorchvisionEncoder, load_pretrained, torchvision_classifier
from regionlab.models.segmentation.builders import SegmentationSpec, build_segmentation_model
from regionlab.ops.upsample import UPSAMPLERS

SPECS = [
    dict(arch="patch", patch=9, width=8),
    dict(arch="fcn", width=8),
    *[dict(arch="encdec", upsampler=u, widths=[8, 16, 32]) for u in UPSAMPLERS],
    dict(arch="encdec", upsampler="transposed", kernel=3, widths=[8, 16, 32]),
    dict(arch="encdec", upsampler="transposed", kernel=2, skips=False, widths=[8, 16, 32]),
    dict(arch="encdec", upsampler="bilinear", backbone="mobilenet_v3_small"),
]
IDS = [
    f"{s['arch']}-{s.get('upsampler', '')}{s.get('kernel', '')}{s.get('backbone', '')}"
    for s in SPECS
]


@pytest.fixture(scope="module")
def scenes():
    ds = SceneDataset(4, seed=3, config=SceneConfig(size=32, max_objects=2, clutter=2))
    images = torch.stack([ds[i].image for i in range(4)]).float() / 255
    targets = torch.stack([ds[i].semantic for i in range(4)])
    return images, targets


@pytest.mark.parametrize("kw", SPECS, ids=IDS)
def test_shapes_loss_and_gradients(kw, scenes):
    torch.manual_seed(0)
    images, targets = scenes
    model = build_segmentation_model(SegmentationSpec(4, **kw))
    out = model(images, targets)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        out = model(images, targets)
        assert out.logits.shape == (4, 4, 32, 32)
        assert torch.isfinite(out.loss)
        assert model(images).loss is None


@pytest.mark.parametrize("kw", SPECS[:-1], ids=IDS[:-1])
def test_overfits_a_handful_of_scenes(kw, scenes):
    torch.manual_seed(0)
    images, targets = scenes
    model = build_segmentation_model(SegmentationSpec(4, **kw))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        loss = model(images, targets).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(images).logits.argmax(1)
    cm = ConfusionMatrix(4)
    cm.update(pred, targets)
    m = cm.compute()
    assert m["pixel_acc"] > 0.95, m
    assert m["miou"] > 0.8, m


def test_max_unpool_with_a_torchvision_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match="max_unpool needs"):
        build_segmentation_model(SegmentationSpec(3, upsampler="max_unpool", backbone="resnet18"))


def test_unknown_arch_and_upsampler_are_clear_errors():
    with pytest.raises(ValueError, match="unknown segmentation model"):
        build_segmentation_model(SegmentationSpec(3, arch="unet++"))
    with pytest.raises(ValueError, match="unknown upsampler"):
        build_segmentation_model(SegmentationSpec(3, upsampler="pixelshuffle"))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_pretrained_weights_from_a_local_file(tmp_path, name):
    torch.manual_seed(1)
    source = torchvision_classifier(name)
    path = tmp_path / f"{name}.pth"
    torch.save(source.state_dict(), path)
    enc = TorchvisionEncoder(name, pretrained=path)
    ref = dict(source.named_parameters())
    first = next(iter(enc.parameters()))
    matches = [k for k, v in ref.items() if v.shape == first.shape and torch.equal(v, first)]
    assert matches, "first encoder weight should come from the file"
    # and a model built through the spec uses the same weights
    model = build_segmentation_model(SegmentationSpec(3, backbone=name, pretrained=str(path)))
    assert torch.equal(next(iter(model.encoder.parameters())), first)


def test_pretrained_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision_classifier("resnet18").state_dict(), path)
    with pytest.raises(ValueError, match=r"r18\.pth.*do not fit"):
        load_pretrained(torchvision_classifier("resnet50"), path)
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_pretrained(torchvision_classifier("resnet18"), tmp_path / "missing.pth")


def test_resnext_backbone_builds():
    model = build_segmentation_model(SegmentationSpec(3, backbone="resnext50_32x4d"))
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 64)).logits.shape == (1, 3, 64, 64)
