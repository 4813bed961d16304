"""Pocket preparation for quantum engines: cut, H caps along cut bonds, charge from the
hydrogens present, HIS and chain-break fixes, closed-shell check (rhoml.io.pocket)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import charged_peptide, shared_path

from rhoml.errors import ChargeSpinError, InputError
from rhoml.io.pocket import CAP_BOND_LENGTH, prepare_pocket

pytest.importorskip("gemmi")
Chem = pytest.importorskip("rdkit.Chem")


@pytest.fixture(scope="module")
def peptide_lines() -> list[str]:
    """ATOM lines of an all-hydrogen GLY-LYS-ASP-HIS-GLY with NH3+ N-terminus, LYS NH3+,
    ASP COO−, neutral HIS and a COOH C-terminus (total charge +1), embedded by RDKit."""
    mh = charged_peptide()
    assert Chem.GetFormalCharge(mh) == 1
    return [ln for ln in Chem.MolToPDBBlock(mh).splitlines() if ln.startswith(("ATOM", "HETATM"))]


def _xyz(line: str) -> np.ndarray:
    return np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])


def _find(lines, res: str, name: str) -> str:
    return next(ln for ln in lines if ln[17:20] == res and ln[12:16].strip() == name)


def _bonded_h(lines, heavy: str) -> list[str]:
    x = _xyz(heavy)
    return [ln for ln in lines if ln[76:78].strip() == "H" and np.linalg.norm(_xyz(ln) - x) < 1.2]


def _write(tmp_path, lines, name="p.pdb"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


def _pocket(path, ligand_at, cutoff, **kw):
    return prepare_pocket(path, [1], np.atleast_2d(ligand_at), cutoff, record="test", **kw)


def test_whole_peptide_charge_from_hydrogens_and_no_caps(tmp_path, peptide_lines):
    path = _write(tmp_path, peptide_lines)
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    p = _pocket(path, centre, 50.0)
    assert p.charge == 1 and p.n_caps == 0 and len(p.numbers) == len(peptide_lines)
    assert (p.numbers.sum() - p.charge) % 2 == 0


def test_cut_residue_capped_along_the_cut_bonds(tmp_path, peptide_lines):
    path = _write(tmp_path, peptide_lines)
    cg = _xyz(_find(peptide_lines, "ASP", "CG"))
    p = _pocket(path, cg, 2.0)  # only ASP 3 is within 2 Å of its own CG
    assert p.residues == ["ASP3"]
    assert p.charge == -1 and p.n_caps == 2
    caps = p.positions[-2:]
    for mine, other, z in (("N", ("LYS", "C"), 7), ("C", ("HIS", "N"), 6)):
        x, y = _xyz(_find(peptide_lines, "ASP", mine)), _xyz(_find(peptide_lines, *other))
        want = x + CAP_BOND_LENGTH[z] * (y - x) / np.linalg.norm(y - x)
        assert np.min(np.linalg.norm(caps - want, axis=1)) < 1e-3
    assert (p.numbers.sum() - p.charge) % 2 == 0


def test_his_without_ring_h_gets_he2_and_chain_end_gets_h(tmp_path, peptide_lines):
    ring_h = {
        ln
        for n in ("ND1", "NE2")
        for ln in _bonded_h(peptide_lines, _find(peptide_lines, "HIS", n))
    }
    assert len(ring_h) == 1  # neutral HIS
    oxt = _find(peptide_lines, "GLY", "OXT")
    drop = ring_h | {oxt, *_bonded_h(peptide_lines, oxt)}
    path = _write(tmp_path, [ln for ln in peptide_lines if ln not in drop])
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    p = _pocket(path, centre, 50.0)
    assert p.charge == 1  # HIS neutral (HE2 added), chain end neutral (aldehyde H)
    assert len(p.numbers) == len(peptide_lines) - len(drop) + 2
    ne2 = _xyz(_find(peptide_lines, "HIS", "NE2"))
    added = p.positions[len(peptide_lines) - len(drop) :]
    assert np.isclose(np.linalg.norm(added - ne2, axis=1), CAP_BOND_LENGTH[7], atol=1e-6).any()
    c_end = _xyz(
        next(ln for ln in peptide_lines if ln[12:16].strip() == "C" and ln[22:26].strip() == "5")
    )
    assert np.isclose(np.linalg.norm(added - c_end, axis=1), CAP_BOND_LENGTH[6], atol=1e-6).any()


def test_odd_electron_count_is_a_one_line_error_naming_the_record(tmp_path, peptide_lines):
    cb = _find(peptide_lines, "ASP", "CB")
    stray = cb[:12] + " HX  " + cb[17:30] + "".join(
        f"{v:8.3f}" for v in _xyz(cb) + [0.0, 0.0, 1.09]
    ) + cb[54:76] + " H"  # fmt: skip
    path = _write(tmp_path, [*peptide_lines, stray])
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    with pytest.raises(ChargeSpinError, match=r"^test: .*odd number of electrons") as err:
        _pocket(path, centre, 50.0)
    assert "\n" not in str(err.value)
    assert _pocket(path, centre, 50.0, closed_shell=False).charge == 1


def test_polar_hydrogen_only_file_is_refused(tmp_path, peptide_lines):
    carbons = [ln for ln in peptide_lines if ln[76:78].strip() == "C"]
    on_carbon = {h for c in carbons for h in _bonded_h(peptide_lines, c)}
    path = _write(tmp_path, [ln for ln in peptide_lines if ln not in on_carbon])
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    with pytest.raises(InputError, match="polar-hydrogen-only"):
        _pocket(path, centre, 50.0)


def test_no_hydrogens_gives_ph7_defaults(tmp_path, peptide_lines):
    path = _write(tmp_path, [ln for ln in peptide_lines if ln[76:78].strip() != "H"])
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    p = _pocket(path, centre, 50.0, closed_shell=False)
    assert p.charge == 0  # NH3+ +1, LYS +1, ASP −1, COO− −1
    assert any("no hydrogens" in n for n in p.notes)


def test_real_pdbbind_pocket_is_closed_shell_and_saturated():
    from rhoml.io.pdbbind import load_pdbbind
    from rhoml.io.pocket import _bonds

    root = shared_path("data", "pdbbind_sample", "1a61")
    m = load_pdbbind(root.parent, ["1a61"])[0]
    lig = m.groups == 1
    p = prepare_pocket(root / "1a61_protein.pdb", m.numbers[lig], m.positions[lig], 6.0,
                       record="1a61")  # fmt: skip
    assert p.n_caps > 10 and (p.numbers.sum() - p.charge) % 2 == 0
    # every atom has a chemically complete set of neighbours (HIS ND1 / aromatic N: 2)
    bonds = _bonds(p.positions, p.numbers)
    allowed = {1: {1}, 6: {3, 4}, 7: {2, 3, 4}, 8: {1, 2}, 16: {2}}
    bad = [(i, z, len(bonds[i])) for i, z in enumerate(p.numbers)
           if int(z) in allowed and len(bonds[i]) not in allowed[int(z)]]  # fmt: skip
    assert not bad


def test_pocket_takes_the_highest_occupancy_conformer(tmp_path, peptide_lines):
    """Pockets are read with rhoml.io.pdb: of two conformers of a side-chain atom, the one with
    the higher occupancy is kept (here B, listed second)."""
    cg = _find(peptide_lines, "ASP", "CG")
    i = peptide_lines.index(cg)
    moved = _xyz(cg) + [0.05, 0.0, 0.0]
    conf_a = cg[:16] + "A" + cg[17:54] + "  0.35" + cg[60:]
    conf_b = (cg[:16] + "B" + cg[17:30] + "".join(f"{v:8.3f}" for v in moved) + "  0.65"
              + cg[60:])  # fmt: skip
    path = _write(tmp_path, [*peptide_lines[:i], conf_a, conf_b, *peptide_lines[i + 1 :]])
    centre = np.mean([_xyz(ln) for ln in peptide_lines], axis=0)
    p = _pocket(path, centre, 50.0)
    assert len(p.numbers) == len(peptide_lines) and p.charge == 1
    assert np.min(np.linalg.norm(p.positions - moved, axis=1)) < 1e-6
    assert np.min(np.linalg.norm(p.positions - _xyz(cg), axis=1)) > 0.04
