"""Binding pockets as closed-shell molecules: cut, cap, protonation charge (for xTB on pockets).

:func:`prepare_pocket` reads a protein PDB (all-hydrogen, as PDBbind's) with
:func:`rhoml.io.pdb.read_pdb_structure` (first model, highest-occupancy alternate locations,
waters dropped), keeps the whole residues with any atom within ``cutoff`` Å of the ligand, and
makes them a molecule a quantum engine can take:

* **Caps.** Every covalent bond from a kept atom to an atom that is not kept (a residue outside
  the cutoff, a dropped residue, or the ligand of a covalent complex) is replaced by an X–H bond
  along the original bond direction, with the standard X–H length :data:`CAP_BOND_LENGTH`
  (C–H 1.09, N–H 1.01, O–H 0.96, S–H 1.34 Å; Allen et al., J. Chem. Soc. Perkin Trans. 2 (1987)
  S1). A cut peptide bond C(i)–N(i+1) thus gives an aldehyde C(=O)H on one side and an N–H on
  the other; a cut disulfide gives two thiols. Bonds are found by distance in the reference
  structure: ``d < 1.25 (r_i + r_j)`` with the covalent radii of Cordero et al., Dalton Trans.
  (2008) 2832 (:data:`COVALENT_RADIUS`).
* **Charge.** From the hydrogens present (the file's protonation states): ASP/GLU −1 without a
  carboxyl H; LYS +1 with three H on NZ; ARG +1 with five H on NE/NH1/NH2; HIS +1 with H on
  both ring N; CYS −1 with neither H nor a disulfide partner on SG; TYR −1 without H on OH;
  N-terminus +1 with NH3⁺ (PRO NH2⁺); C-terminus (OXT) −1 without a carboxyl H. A pocket with no
  hydrogens at all gets the pH-7 defaults (ASP/GLU −1, LYS/ARG +1, HIS 0, termini ±1) as a
  bookkeeping value only (an engine needs the hydrogens anyway). HIS with no H on either ring N
  (written so by some preparation tools) gets HE2 added (the neutral Nε-H tautomer, N–H 1.01 Å
  on the external bisector of CD2–NE2–CE1). A backbone C bonded only to CA and O (a chain end
  without OXT, i.e. a chain break in the crystal structure) gets an H in the trigonal direction
  (an aldehyde end, C–H 1.09 Å).
* **Incomplete residues** (fewer heavy atoms than the standard residue, e.g. truncated side
  chains, or fewer hydrogens on carbon than :data:`CARBON_H`) are dropped and their neighbours
  capped; if more than half of the residues are incomplete the file is taken as a
  polar-hydrogen-only (united-atom) PDB and :class:`~rhoml.errors.InputError` is raised.
* **Ions, waters, other hetero groups.** Single-atom ions of :data:`ION_CHARGES` within the
  cutoff are kept with their formal charge (Zn²⁺, Mg²⁺, Ca²⁺, Na⁺, K⁺, Cl⁻...); waters are
  dropped (PDBbind's carry no hydrogens); other hetero groups (cofactors, glycans, modified
  residues) are dropped with a note, since no charge model covers them.
* **Electron count.** An odd number of electrons (Σ Z − charge) raises
  :class:`~rhoml.errors.ChargeSpinError` naming the complex: the pocket is handed to engines as
  a closed-shell singlet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rhoml.errors import ChargeSpinError, InputError
from rhoml.io import StrPath

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

# X–H cap bond lengths in Å (Allen et al. 1987 mean values)
CAP_BOND_LENGTH = {6: 1.09, 7: 1.01, 8: 0.96, 16: 1.34, 34: 1.47}
# covalent radii in Å (Cordero et al. 2008; C sp3); others default to 1.5 Å (no bond found)
COVALENT_RADIUS = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66, 9: 0.57, 15: 1.07, 16: 1.05, 17: 1.02,
                   34: 1.20, 35: 1.20, 53: 1.39}  # fmt: skip
# neighbours of a saturated neutral atom (caps to a covalent ligand only below this)
MAX_VALENCE = {6: 4, 7: 3, 8: 2, 16: 2, 34: 2}
BOND_TOLERANCE = 1.25  # bonded if d < BOND_TOLERANCE * (r_i + r_j)
MIN_BOND = 1.0  # Å; a pocket-ligand contact shorter than this is a clash, not a bond
# formal charges of single-atom ions kept in pockets (e)
ION_CHARGES = {"ZN": 2, "MG": 2, "CA": 2, "MN": 2, "FE": 2, "FE2": 2, "CO": 2, "NI": 2, "CU": 2,
               "CD": 2, "HG": 2, "SR": 2, "BA": 2, "NA": 1, "K": 1, "LI": 1, "CS": 1, "CL": -1,
               "BR": -1, "IOD": -1}  # fmt: skip
# heavy atoms of the standard residues (without OXT)
HEAVY_ATOMS = {"ALA": 5, "ARG": 11, "ASN": 8, "ASP": 8, "CYS": 6, "GLN": 9, "GLU": 9, "GLY": 4,
               "HIS": 10, "ILE": 8, "LEU": 8, "LYS": 9, "MET": 8, "PHE": 11, "PRO": 7, "SER": 6,
               "THR": 7, "TRP": 14, "TYR": 12, "VAL": 7}  # fmt: skip
# hydrogens on carbon atoms of the standard residues (protonation-independent)
CARBON_H = {"ALA": 4, "ARG": 7, "ASN": 3, "ASP": 3, "CYS": 3, "GLN": 5, "GLU": 5, "GLY": 2,
            "HIS": 5, "ILE": 10, "LEU": 10, "LYS": 9, "MET": 8, "PHE": 8, "PRO": 7, "SER": 3,
            "THR": 5, "TRP": 8, "TYR": 7, "VAL": 8}  # fmt: skip
# pH-7 charges used when the file has no hydrogens
_DEFAULT_CHARGE = {"ASP": -1, "GLU": -1, "LYS": 1, "ARG": 1}


@dataclass
class Pocket:
    """A prepared pocket: ``numbers`` (n,), ``positions`` (n, 3) Å with caps last, total
    ``charge`` (e), and what was done (``n_caps``, kept ``residues``, ``notes``)."""

    numbers: np.ndarray
    positions: np.ndarray
    charge: int
    n_caps: int = 0
    residues: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Atom:
    name: str
    z: int
    xyz: np.ndarray
    res: int  # residue index in the reference structure


def prepare_pocket(path: StrPath, ligand_numbers: ArrayLike, ligand_positions: ArrayLike,
                   cutoff: float, *, record: str = "",
                   closed_shell: bool = True) -> Pocket:  # fmt: skip
    """Cut, cap and charge the pocket of ``path`` (a protein or pocket PDB) around a ligand.

    Args:
        path: PDB file of the protein (the reference for bonds: use the whole protein, or caps
            are missed where the file itself was cut).
        ligand_numbers: (m,) atomic numbers of the ligand.
        ligand_positions: (m, 3) ligand coordinates in Å (same frame as the PDB).
        cutoff: keep whole residues with an atom within this distance (Å) of a ligand atom.
        record: name used in error messages (e.g. the PDB code).
        closed_shell: raise on an odd electron count (False: return the pocket anyway, for
            engines that need no wavefunction, e.g. the promolecule).

    Raises:
        InputError: unreadable file, no residue within the cutoff, polar-hydrogen-only pocket.
        ChargeSpinError: odd electron count after capping.
    """
    from rhoml.io.pdb import read_pdb_structure

    p = Path(path)
    name = record or p.stem
    if not p.is_file():
        raise InputError(f"{p}: no such file (pocket of {name})")
    st = read_pdb_structure(p)  # first model, highest-occupancy altlocs, waters dropped
    residues = [r for chain in st[0] for r in chain]
    atoms = [
        _Atom(a.name.strip(), a.element.atomic_number, np.array([a.pos.x, a.pos.y, a.pos.z]), i)
        for i, r in enumerate(residues)
        for a in r
    ]
    if not atoms:
        raise InputError(f"{p}: no atoms ({name})")
    xyz = np.array([a.xyz for a in atoms])
    z = np.array([a.z for a in atoms])
    res_of = np.array([a.res for a in atoms])
    lig_xyz = np.asarray(ligand_positions, float).reshape(-1, 3)
    lig_z = np.asarray(ligand_numbers, int).reshape(-1)

    from scipy.spatial import cKDTree

    near = cKDTree(lig_xyz).query(xyz, distance_upper_bound=cutoff)[0] <= cutoff
    chosen = sorted(set(res_of[near].tolist()))
    if not chosen:
        raise InputError(f"{p}: no residue within {cutoff} Å of the ligand of {name}")
    has_h = bool((z == 1).any())
    bonds = _bonds(xyz, z)
    notes: list[str] = []

    keep: list[int] = []
    incomplete: list[str] = []
    n_amino = 0
    for ri in chosen:
        r = residues[ri]
        rname = r.name.strip().upper()
        label = f"{rname}{r.seqid.num}{r.seqid.icode.strip()}"
        if rname in HEAVY_ATOMS:
            n_amino += 1
            if has_h and not _complete(ri, rname, atoms, res_of, z, bonds):
                incomplete.append(label)
                continue
            keep.append(ri)
        elif len(r) == 1 and rname in ION_CHARGES:
            keep.append(ri)
        else:
            notes.append(f"{label} dropped (hetero group without a charge model)")
    if has_h and n_amino and len(incomplete) * 2 > n_amino:
        raise InputError(
            f"{name}: {len(incomplete)} of {n_amino} pocket residues lack hydrogens or atoms "
            f"(polar-hydrogen-only PDB?); an all-hydrogen pocket is needed ({p})"
        )
    if incomplete:
        notes.append(f"incomplete residues dropped and capped: {', '.join(incomplete)}")

    kept = np.isin(res_of, keep)
    numbers = [int(v) for v in z[kept]]
    positions = [v for v in xyz[kept]]
    charge = 0
    for ri in keep:
        q, extra = _residue_charge(ri, residues[ri], atoms, res_of, z, xyz, bonds, has_h)
        charge += q
        for zz, pos in extra:
            numbers.append(zz)
            positions.append(pos)
    # caps: bonds from kept atoms to anything not kept (other residues, the ligand)
    n_caps = 0
    kept_idx = np.flatnonzero(kept)
    outside = np.flatnonzero(~kept & (z > 1) & ~_is_ion(res_of, residues))
    targets = [(xyz[outside], z[outside], False)] if len(outside) else []
    if len(lig_z):
        heavy = lig_z > 1
        targets.append((lig_xyz[heavy], lig_z[heavy], True))
    clashes = 0
    for t_xyz, t_z, is_ligand in targets:
        tree = cKDTree(t_xyz)
        for i in kept_idx:
            if z[i] == 1 or z[i] not in CAP_BOND_LENGTH:
                continue
            if is_ligand and len(bonds[i]) >= MAX_VALENCE.get(int(z[i]), 0):
                continue  # a covalent ligand on an atom the file already saturates (e.g. S-H)
            for j in tree.query_ball_point(xyz[i], 2.6):
                d = t_xyz[j] - xyz[i]
                if is_ligand and np.linalg.norm(d) < MIN_BOND:
                    clashes += 1
                elif np.linalg.norm(d) < _bond_cut(z[i], t_z[j]):
                    numbers.append(1)
                    positions.append(xyz[i] + CAP_BOND_LENGTH[int(z[i])] * d / np.linalg.norm(d))
                    n_caps += 1
    if clashes:
        notes.append(f"{clashes} pocket atom(s) closer than {MIN_BOND} Å to a ligand atom (clash)")
    n_el = sum(numbers) - charge
    if n_el % 2 and closed_shell:
        raise ChargeSpinError(
            f"{name}: pocket ({len(keep)} residues, {n_caps} caps, charge {charge:+d}) has an "
            f"odd number of electrons ({n_el}); check the hydrogens of {p}"
        )
    if not has_h:
        notes.append("no hydrogens in the file: pH-7 default charges (bookkeeping only)")
    labels = [f"{residues[ri].name.strip()}{residues[ri].seqid.num}" for ri in keep]
    return Pocket(np.array(numbers, dtype=np.int64), np.array(positions, dtype=float), charge,
                  n_caps, labels, notes)  # fmt: skip


def _bond_cut(z1: int, z2: int) -> float:
    return BOND_TOLERANCE * (COVALENT_RADIUS.get(int(z1), 1.5) + COVALENT_RADIUS.get(int(z2), 1.5))


def _bonds(xyz: np.ndarray, z: np.ndarray) -> dict[int, list[int]]:
    """Covalent neighbours of every atom by distance (metal ions have none)."""
    from scipy.spatial import cKDTree

    out: dict[int, list[int]] = {i: [] for i in range(len(z))}
    bonded = np.array([int(v) in COVALENT_RADIUS for v in z])
    for i, j in cKDTree(xyz).query_pairs(2.6):
        if bonded[i] and bonded[j] and np.linalg.norm(xyz[i] - xyz[j]) < _bond_cut(z[i], z[j]):
            if z[i] == 1 and z[j] == 1:
                continue
            out[i].append(j)
            out[j].append(i)
    return out


def _is_ion(res_of: np.ndarray, residues) -> np.ndarray:
    ion = np.array([len(r) == 1 and r.name.strip().upper() in ION_CHARGES for r in residues])
    return ion[res_of]


def _in_res(ri, atoms, res_of) -> dict[str, int]:
    return {atoms[k].name: int(k) for k in np.flatnonzero(res_of == ri)}


def _n_h(k: int | None, z: np.ndarray, bonds) -> int:
    return 0 if k is None else sum(1 for j in bonds[k] if z[j] == 1)


def _complete(ri, rname, atoms, res_of, z, bonds) -> bool:
    idx = _in_res(ri, atoms, res_of)
    heavy = [k for n, k in idx.items() if z[k] > 1 and n != "OXT"]
    on_carbon = sum(_n_h(k, z, bonds) for k in heavy if z[k] == 6)
    return len(heavy) >= HEAVY_ATOMS[rname] and on_carbon >= CARBON_H[rname]


def _residue_charge(ri, r, atoms, res_of, z, xyz, bonds, has_h):
    """(formal charge, added atoms [(Z, xyz)]) of kept residue ``ri``."""
    rname = r.name.strip().upper()
    if rname in ION_CHARGES and rname not in HEAVY_ATOMS:
        return ION_CHARGES[rname], []
    idx = _in_res(ri, atoms, res_of)
    q, extra = 0, []
    n_at = idx.get("N")
    c_at = idx.get("C")
    n_term = n_at is not None and not any(
        z[j] == 6 and res_of[j] != ri for j in bonds[n_at]
    )  # no peptide bond to a previous residue anywhere in the file
    c_term = "OXT" in idx
    if not has_h:
        q = _DEFAULT_CHARGE.get(rname, 0) + int(n_term) - int(c_term)
        return q, extra
    h = lambda name: _n_h(idx.get(name), z, bonds)  # noqa: E731
    if n_term:
        base = 1 if rname == "PRO" else 2  # H on a neutral N-terminal amine
        q += max(h("N") - base, 0)
        if h("N") == base - 1:  # a chain break: H on the N in the trigonal direction
            a, b = [j for j in bonds[n_at] if res_of[j] == ri][:2]
            extra.append((1, _trigonal(xyz[n_at], xyz[a], xyz[b], CAP_BOND_LENGTH[7])))
    if c_term and h("O") + h("OXT") == 0:
        q -= 1
    if c_at is not None and not c_term and len(bonds[c_at]) == 2 and {"CA", "O"} <= idx.keys():
        # a chain end without OXT (chain break): H in the trigonal direction of the carbonyl C
        extra.append((1, _trigonal(xyz[c_at], xyz[idx["CA"]], xyz[idx["O"]], CAP_BOND_LENGTH[6])))
    if rname == "ASP" and h("OD1") + h("OD2") == 0:
        q -= 1
    elif rname == "GLU" and h("OE1") + h("OE2") == 0:
        q -= 1
    elif rname == "LYS":
        q += h("NZ") - 2
    elif rname == "ARG":
        q += h("NE") + h("NH1") + h("NH2") - 4
    elif rname == "TYR" and h("OH") == 0:
        q -= 1
    elif rname == "CYS" and "SG" in idx:
        sg = idx["SG"]
        if h("SG") == 0 and not any(z[j] == 16 for j in bonds[sg]):
            q -= 1
    elif rname == "HIS":
        n_ring = h("ND1") + h("NE2")
        if n_ring == 2:
            q += 1
        elif n_ring == 0 and {"CD2", "NE2", "CE1"} <= idx.keys():
            ne2, cd2, ce1 = xyz[idx["NE2"]], xyz[idx["CD2"]], xyz[idx["CE1"]]
            extra.append((1, _trigonal(ne2, cd2, ce1, CAP_BOND_LENGTH[7])))
    return q, extra


def _trigonal(center: np.ndarray, a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
    """Position (Å) at ``length`` from ``center`` opposite the bisector of its bonds to a, b."""
    u = (center - a) / np.linalg.norm(center - a) + (center - b) / np.linalg.norm(center - b)
    return center + length * u / np.linalg.norm(u)
