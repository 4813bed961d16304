"""rhoml.md.reference: DFT levels of the harmonic reference from a level string, a label record
key or a run's manifest."""

from __future__ import annotations

import pytest

from rhoml.errors import InputError
from rhoml.md.reference import DEFAULT_LEVEL, label_settings, run_level


def test_label_settings_read_levels_and_record_keys():
    assert label_settings(None).level == DEFAULT_LEVEL == "PBE/def2-SVP"
    s = label_settings("B3LYP/def2-TZVP")
    assert (s.functional, s.basis) == ("B3LYP", "def2-TZVP")
    assert label_settings("dft:PBE0/def2-SVP:1a2b3c").level == "PBE0/def2-SVP"
    for bad in ("B3LYP", "/def2-SVP", "PBE/", "xtb:GFN2:1", "PBE/def2-SVP:extra"):
        with pytest.raises(InputError, match="expected FUNCTIONAL/BASIS"):
            label_settings(bad)


def test_run_level_from_a_manifest():
    assert run_level({"build": {"meta": {"level": "dft:PBE/def2-SVP:880105"}}}) == "PBE/def2-SVP"
    assert run_level({"build": {"meta": {"level": None}}}) is None  # frames given by the caller
    assert run_level({"build": {"meta": {"level": "xtb:GFN2-xTB:1"}}}) is None
    assert run_level({}) is None
