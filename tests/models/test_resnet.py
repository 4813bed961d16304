"""Plain-torch ResNet-18: torchvision's state_dict names and shapes (listed here from
torchvision's published architecture, without importing torchvision), loading a
torchvision-format checkpoint, and EDG's teacher: view-mean pooling and the ED predictor."""

from __future__ import annotations

import pytest
import torch

from rhoml.errors import InputError
from rhoml.models.image.resnet import (
    EDPredictor,
    EDTeacher,
    EDTeacherConfig,
    ResNet18,
    load_torchvision_weights,
)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_names() -> list[tuple[str, tuple]]:
    """torchvision.models.resnet18's state_dict (name, shape), written out from its definition:
    conv1 7×7/2 + bn1; layer1-4 of two BasicBlocks (conv1, bn1, conv2, bn2; the first block of
    layers 2-4 has downsample = Sequential(conv 1×1/2, bn)); fc 512 → 1000."""
    out = [("conv1.weight", (64, 3, 7, 7))] + [(f"bn1.{k}", (64,)) for k in BN]
    cin = 64
    for i, w in enumerate((64, 128, 256, 512), start=1):
        for b in (0, 1):
            pre = f"layer{i}.{b}"
            first_in = cin if b == 0 else w
            out.append((f"{pre}.conv1.weight", (w, first_in, 3, 3)))
            out += [(f"{pre}.bn1.{k}", (w,)) for k in BN]
            out.append((f"{pre}.conv2.weight", (w, w, 3, 3)))
            out += [(f"{pre}.bn2.{k}", (w,)) for k in BN]
            if b == 0 and i > 1:
                out.append((f"{pre}.downsample.0.weight", (w, cin, 1, 1)))
                out += [(f"{pre}.downsample.1.{k}", (w,)) for k in BN]
        cin = w
    return out + [("fc.weight", (1000, 512)), ("fc.bias", (1000,))]


def test_state_dict_names_and_shapes_are_torchvisions():
    sd = ResNet18().state_dict()
    expected = torchvision_names()
    assert len(expected) == 122
    assert list(sd) == [n for n, _ in expected]  # same names, same order
    for name, shape in expected:
        want = () if name.endswith("num_batches_tracked") else shape
        assert tuple(sd[name].shape) == want, name
    assert sum(p.numel() for p in ResNet18().parameters()) == 11_689_512  # torchvision's count
    headless = ResNet18(num_classes=0)
    assert [k for k in headless.state_dict()] == [n for n, _ in expected[:-2]]
    assert headless(torch.zeros(2, 3, 64, 64)).shape == (2, 512)


def test_loads_a_torchvision_format_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = ResNet18()
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01)
    path = tmp_path / "resnet18.pth"
    torch.save(source.state_dict(), path)
    model = ResNet18(num_classes=0)
    info = load_torchvision_weights(model, path)
    assert info["skipped"] == ["fc.weight", "fc.bias"] and info["tensors"] == 120
    for k, v in model.state_dict().items():
        assert torch.equal(v, source.state_dict()[k]), k
    model.eval()
    source.eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():  # headless output = torchvision's features before fc
        h = source.maxpool(source.relu(source.bn1(source.conv1(x))))
        h = source.layer4(source.layer3(source.layer2(source.layer1(h))))
        feats = torch.flatten(source.avgpool(h), 1)
        torch.testing.assert_close(model(x), feats)
    wrapped = tmp_path / "wrapped.pth"  # {"state_dict": ...} with DataParallel prefixes
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, wrapped)
    load_torchvision_weights(ResNet18(), wrapped)


def test_foreign_files_are_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a torch weights file"):
        load_torchvision_weights(ResNet18(0), bad)
    other = tmp_path / "other.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, other)
    with pytest.raises(InputError, match="not a torchvision ResNet-18 state_dict"):
        load_torchvision_weights(ResNet18(0), other)
    with pytest.raises(InputError, match="no such weights file"):
        load_torchvision_weights(ResNet18(0), tmp_path / "missing.pth")


def test_teacher_pools_views_by_mean_and_maps_to_ed_features():
    torch.manual_seed(0)
    teacher = EDTeacher(EDTeacherConfig(ed_dim=48)).eval()
    views = torch.randn(2, 4, 3, 64, 64)
    with torch.no_grad():
        f = teacher.teacher_features(views)
        per_view = torch.stack([teacher.backbone(views[:, v]) for v in range(4)], 1)
        torch.testing.assert_close(f, per_view.mean(1))
        torch.testing.assert_close(teacher.teacher_features(views[:, [2, 0, 3, 1]]), f)
        assert teacher(views).shape == (2, 48)
        torch.testing.assert_close(teacher(views), teacher.predictor(f))
    lin = [m for m in teacher.predictor.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [(512, 256), (256, 48)]
    assert isinstance(teacher.predictor.net[1], torch.nn.Softplus)
    assert 0.015 < float(EDPredictor(768).net[0].weight.detach().std()) < 0.025  # N(0, 0.02)
    with pytest.raises(ValueError, match="expected views"):
        teacher(torch.randn(2, 3, 3, 64, 64))


def test_freeze_stops_gradients_but_not_their_flow():
    teacher = EDTeacher(EDTeacherConfig(ed_dim=8)).freeze()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    x = torch.randn(3, 512, requires_grad=True)
    teacher.predictor(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_narrow_width_keeps_the_layout():
    narrow = ResNet18(num_classes=0, width=16)
    wide = ResNet18(num_classes=0)
    assert list(narrow.state_dict()) == list(wide.state_dict())
    assert narrow(torch.zeros(1, 3, 64, 64)).shape == (1, 128)
    assert narrow.state_dict()["layer4.1.conv2.weight"].shape == (128, 128, 3, 3)
    teacher = EDTeacher(EDTeacherConfig(ed_dim=8, width=16)).eval()
    with torch.no_grad():
        assert teacher.teacher_features(torch.zeros(2, 4, 3, 64, 64)).shape == (2, 128)
        assert teacher(torch.zeros(2, 4, 3, 64, 64)).shape == (2, 8)
