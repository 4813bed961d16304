"""The energy-term study's models: PointNet (masked padding, order invariance), the view-pooled
ResNet-18 and the voxel ResNet-3D give one value per target, gradients reach every parameter, and
each fits a tiny batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from rhoml.models.registry import build_model  # noqa: E402

TARGETS = ["a", "b", "c"]


def _pointnet(**kw):
    return build_model("pointnet", {"widths": [16, 32], "head_hidden": 16, "dropout": 0.0, **kw},
                       in_features=4, targets=TARGETS)  # fmt: skip


def _views():
    return build_model("resnet18-views-small", {"width": 4, "dropout": 0.0}, in_channels=4,
                       targets=TARGETS)  # fmt: skip


def _voxels():
    return build_model("resnet3d-tiny", {"dropout": 0.0}, in_channels=1, targets=TARGETS)


def _batch(kind: str, b: int = 4) -> dict:
    g = torch.Generator().manual_seed(0)
    if kind == "points":
        return {"points": torch.randn(b, 10, 4, generator=g),
                "mask": torch.ones(b, 10, dtype=torch.bool)}  # fmt: skip
    if kind == "images":
        return {"images": torch.randn(b, 6, 4, 32, 32, generator=g)}
    return {"voxels": torch.randn(b, 1, 8, 8, 8, generator=g)}


CASES = [("points", _pointnet), ("images", _views), ("voxels", _voxels)]


@pytest.mark.parametrize(("kind", "make"), CASES, ids=[c[0] for c in CASES])
def test_forward_shape_units_and_gradients(kind, make):
    torch.manual_seed(0)
    model = make()
    model.set_target_stats([1.0, -2.0, 300.0], [1.0, 2.0, 50.0])
    batch = _batch(kind)
    out = model(batch)
    assert out.shape == (4, len(TARGETS)) and out.dtype == torch.float32
    out.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, f"no gradient reaches {missing[:3]}"
    model.eval()
    with torch.no_grad():  # the heads' scale is mapped back to units: third target ~ 300 ± 50
        assert abs(float(model(batch)[:, 2].mean()) - 300.0) < 300.0


@pytest.mark.parametrize(("kind", "make"), CASES, ids=[c[0] for c in CASES])
def test_fits_a_tiny_batch(kind, make):
    torch.manual_seed(0)
    model = make()
    batch = _batch(kind)
    y = torch.randn(4, len(TARGETS), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = ((model(batch) - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = float(loss.detach()) if first is None else first
    assert float(loss.detach()) < 0.1 * first


def test_pointnet_ignores_padding_and_point_order():
    torch.manual_seed(0)
    for pooling in ("max", "max+mean", "max+sum"):
        model = _pointnet(pooling=pooling).eval()
        batch = _batch("points", 2)
        ref = model(batch)
        perm = torch.randperm(10)
        shuffled = {"points": batch["points"][:, perm], "mask": batch["mask"]}
        torch.testing.assert_close(model(shuffled), ref, rtol=1e-5, atol=1e-5)
        padded = {
            "points": torch.cat([batch["points"], 1e3 * torch.ones(2, 5, 4)], 1),
            "mask": torch.cat([batch["mask"], torch.zeros(2, 5, dtype=torch.bool)], 1),
        }
        torch.testing.assert_close(model(padded), ref, rtol=1e-5, atol=1e-5)


def test_view_resnet_pools_views_symmetrically():
    torch.manual_seed(0)
    model = _views().eval()
    batch = _batch("images", 2)
    ref = model(batch)
    flipped = {"images": batch["images"].flip(1)}
    torch.testing.assert_close(model(flipped), ref, rtol=1e-4, atol=1e-4)


def test_bad_settings_are_one_line_errors():
    from rhoml.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="pooling"):
        build_model("pointnet", {"pooling": "mean"}, in_features=4, targets=TARGETS)
    with pytest.raises((ConfigError, ValueError), match="width"):
        build_model("resnet18-views", {"width": 0}, in_channels=4, targets=TARGETS)
