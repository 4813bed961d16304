"""3D ResNet: shapes, presets, strict configs, target standardisation."""

from __future__ import annotations

import pytest
import torch

from rhoml.models.registry import ConfigError, build_model


def test_build_and_forward_shapes():
    cfg = {"width": 4, "depth": [1, 1]}
    model = build_model("resnet3d", cfg, in_channels=3, targets=["a", "b"])
    out = model({"voxels": torch.randn(2, 3, 8, 8, 8)})
    assert out.shape == (2, 2)


def test_presets_and_target_stats():
    model = build_model("resnet3d-tiny", in_channels=1, targets=["gap"]).eval()
    x = {"voxels": torch.randn(3, 1, 8, 8, 8)}
    z = model.standardised(x)
    model.set_target_stats([5.0], [2.0])
    assert torch.allclose(model(x), z * 2.0 + 5.0)


def test_unknown_model_key_and_bad_type_rejected():
    with pytest.raises(ConfigError, match="unknown key.*colour"):
        build_model("resnet3d", {"colour": 1}, in_channels=1, targets=["y"])
    with pytest.raises(ConfigError, match="width"):
        build_model("resnet3d", {"width": "wide"}, in_channels=1, targets=["y"])
    with pytest.raises(ConfigError, match="unknown model"):
        build_model("resnet4d", in_channels=1, targets=["y"])


def test_float64_model():
    model = build_model("resnet3d", {"width": 2, "depth": [1], "dtype": "float64"},
                        in_channels=1, targets=["y"])  # fmt: skip
    assert model({"voxels": torch.randn(1, 1, 4, 4, 4)}).dtype == torch.float64


def test_cnn_is_not_rotation_invariant_but_its_cube_average_is():
    """rhoml.testing's 90° tester catches the plain 3D CNN (not invariant: why training augments
    with cube rotations) and passes its average over the 24 exact cube rotations."""
    from rhoml.testing import assert_voxel_invariant, cube_rotations, rotate_grid

    torch.manual_seed(0)
    model = build_model("resnet3d", {"width": 4, "depth": [1, 1], "dtype": "float64"},
                        in_channels=2, targets=["a", "b"]).eval()  # fmt: skip
    voxels = torch.rand(2, 2, 8, 8, 8, dtype=torch.float64)

    def plain(v):
        with torch.no_grad():
            return model({"voxels": v})

    def averaged(v):
        return torch.stack([plain(rotate_grid(v, r)) for r in cube_rotations()]).mean(0)

    with pytest.raises(AssertionError, match=r"model output under R\[0\]=.*max \|Δ\|"):
        assert_voxel_invariant(plain, voxels, rotations=[5], atol=1e-6, rtol=1e-6)
    report = assert_voxel_invariant(averaged, voxels, rotations=[1, 5, 13, 22], atol=1e-12,
                                    rtol=1e-12)  # fmt: skip
    assert max(report.values()) < 1e-12
