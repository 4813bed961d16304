"""The QM9 sample of the energy-term study: seeded, nested (a prefix of a larger sample is the
smaller one), within QM9, and the CPU level's record key is stable (results name it)."""

from __future__ import annotations

import numpy as np

from rhoml.datasets.energy_terms_qm9 import CPU_LEVEL, qm9_rows
from rhoml.io.qm9 import QM9_SIZE
from rhoml.store.batch import MethodSpec


def test_sample_is_seeded_nested_and_in_range():
    a, b = qm9_rows(50), qm9_rows(200)
    np.testing.assert_array_equal(a, b[:50])
    assert len(set(b.tolist())) == 200 and b.min() >= 0 and b.max() < QM9_SIZE
    assert not np.array_equal(qm9_rows(50, seed=1), a)


def test_cpu_level_record_key():
    assert MethodSpec("dft", dict(CPU_LEVEL)).key == "dft:B3LYP/6-31G:f19bcb"
