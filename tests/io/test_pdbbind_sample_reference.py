"""The PDBbind sample read and pocket-prepared gives the same atoms, positions and charges as the
stored reference (``data/pdbbind_sample_reference.json``, written by :func:`summarise` with the
readers this file guards: any change to PDB reading that moves an atom or a charge fails here)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import RhomlError
from rhoml.io.pdbbind import load_pdbbind
from rhoml.io.pocket import prepare_pocket

REFERENCE = Path(__file__).parent / "data" / "pdbbind_sample_reference.json"
POCKET_CUTOFF = 6.0  # Å
FAST_CODES = ["1a61", "1hte", "3gzn", "4bpj"]  # plain; blank-chain dimer; dropped residue; refused


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


def _positions(p) -> str:
    # rounded to 1e-6 Å: file coordinates have 3 decimals, caps are computed
    return _digest(np.rint(np.asarray(p) * 1e6).astype(np.int64))


def summarise(root: Path, codes: list[str] | None = None) -> dict:
    """Per complex: the protein+ligand and pocket+ligand molecules (atom count, hashed atomic
    numbers and positions, charge) and the pocket prepared at :data:`POCKET_CUTOFF` (also caps,
    residues, notes, or the error message with ``root`` written as ``<root>``)."""
    out: dict = {"complexes": {}, "pockets": {}}
    for pocket in (True, False):
        for m in load_pdbbind(root, codes, pocket=pocket):
            out["complexes"][f"{m.id}/{'pocket' if pocket else 'protein'}"] = {
                "n": m.n_atoms, "numbers": _digest(m.numbers),
                "positions": _positions(m.positions), "charge": m.charge,
                "charge_assumed": m.labels["charge_assumed"],
            }  # fmt: skip
    for m in load_pdbbind(root, codes):
        lig = m.groups == 1
        try:
            p = prepare_pocket(root / m.id / f"{m.id}_protein.pdb", m.numbers[lig],
                               m.positions[lig], POCKET_CUTOFF, record=m.id,
                               closed_shell=False)  # fmt: skip
        except RhomlError as exc:
            out["pockets"][m.id] = {"error": str(exc).replace(str(root), "<root>")}
            continue
        out["pockets"][m.id] = {
            "n": len(p.numbers), "numbers": _digest(p.numbers),
            "positions": _positions(p.positions), "charge": p.charge, "n_caps": p.n_caps,
            "residues": p.residues, "notes": p.notes,
        }  # fmt: skip
    return out


def _check(codes: list[str] | None) -> None:
    root = shared_path("data", "pdbbind_sample")
    pytest.importorskip("gemmi")
    pytest.importorskip("rdkit")
    ref = json.loads(REFERENCE.read_text())
    got = summarise(root, codes)
    if codes is not None:
        keep = set(codes)
        ref = {
            "complexes": {k: v for k, v in ref["complexes"].items() if k.split("/")[0] in keep},
            "pockets": {k: v for k, v in ref["pockets"].items() if k in keep},
        }
    assert got["complexes"].keys() == ref["complexes"].keys()
    assert got["pockets"].keys() == ref["pockets"].keys()
    for part in ("complexes", "pockets"):
        for key, want in ref[part].items():
            assert got[part][key] == want, f"{part} {key}"


def test_sample_subset_matches_reference():
    _check(FAST_CODES)


@pytest.mark.slow
def test_whole_sample_matches_reference():
    _check(None)
