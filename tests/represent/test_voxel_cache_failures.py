"""cache_poses: a failed density is recorded (Store.put_failure) and skipped, the rest cached."""

from __future__ import annotations

import pytest

from rhoml.errors import CalculationError
from rhoml.represent.voxel import VoxelSpec
from rhoml.represent.voxel_data import cache_poses
from rhoml.store.sqlite_store import Store


def test_failed_density_recorded_and_skipped(tmp_path, water, ethanol):
    from rhoml.density import compute

    spec = VoxelSpec(size=8.0, spacing=1.0, channels=("density",))
    calls = []

    def density_fn(idx, mol):
        calls.append(mol.id)
        if mol.id == "ethanol":
            raise CalculationError("ethanol: SCF not converged (test)")
        return [compute(mol, "promolecule")]

    with Store.create(tmp_path / "s") as st:
        idx = st.add_molecules([water, ethanol])
        with pytest.raises(CalculationError):
            cache_poses(st, idx, spec, engine="promolecule", density_fn=density_fn,
                        progress=False)  # fmt: skip
        calls.clear()
        key = cache_poses(st, idx, spec, engine="promolecule", density_fn=density_fn,
                          progress=False, on_error="record")  # fmt: skip
        assert calls == ["ethanol"]  # water was cached by the first call
        assert st.has_array(idx[0], f"{key}/0") and not st.has_array(idx[1], f"{key}/0")
        assert st.failures(key) == [(idx[1], key, "ethanol: SCF not converged (test)")]
        calls.clear()
        cache_poses(st, idx, spec, engine="promolecule", density_fn=density_fn, progress=False,
                    on_error="record")  # fmt: skip
        assert calls == []  # the recorded failure is not retried
