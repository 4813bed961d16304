"""The shipped small EDG runs (``imageed-small``, ``edg-teacher-small``): they load by name, are
small, record how they were made, and reproduce their own provenance (the teacher's ImageED
weights fingerprint) and predictions for a QM9 molecule."""

from __future__ import annotations

import numpy as np
import pytest


def _shipped(name):
    from rhoml import runs

    if name not in runs.shipped():
        pytest.skip(f"shipped run {name} not in this checkout")
    return runs.load(name)


def test_shipped_runs_are_small_and_documented():
    from rhoml import runs

    for name in ("imageed-small", "edg-teacher-small"):
        run = _shipped(name)
        folder = runs.shipped()[name]
        assert not (folder / "checkpoints").exists()
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        assert size < 6e6, f"{name}: {size / 1e6:.1f} MB"
        m = run.manifest
        assert m["finished"] and "commands" in m and m["metrics"]["epochs_run"] >= 1
    teacher = _shipped("edg-teacher-small")
    from rhoml.families.edg_teacher import weights_fingerprint

    assert teacher.manifest["build"]["imageed"]["weights"] == weights_fingerprint(
        runs.shipped()["imageed-small"]
    )


def test_shipped_teacher_predicts_a_qm9_molecule():
    from rhoml.io.qm9 import load_qm9

    teacher = _shipped("edg-teacher-small")
    mol = load_qm9(limit=3)[2]
    row = teacher.predict([mol])[0]
    assert row["teacher_features"].shape == (teacher.manifest["build"]["feature_dim"],)
    assert row["ed_features"].shape == (teacher.manifest["build"]["ed_dim"],)
    assert np.isfinite(row["ed_features"]).all()
    again = teacher.predict([mol])[0]
    np.testing.assert_array_equal(row["teacher_features"], again["teacher_features"])
