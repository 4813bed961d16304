"""Molecular systems for DenSNet beyond rMD17: build from SMILES, sample geometries by GFN2-xTB MD.

A system is named by a built-in name (:data:`BUILTIN`: ``ethanol``, ``ethanethiol``,
``resorcinol``), ``thiophene-N`` (α-linked, H-capped N-mer of thiophene, :func:`thiophene_smiles`)
or any SMILES string. :func:`build_molecule` embeds it with RDKit (ETKDGv3, hydrogens added);
:func:`sample_frames` pre-optimises it on GFN2-xTB (tblite's ASE calculator, BFGS), runs Langevin
MD (ASE, 0.5 fs by default) and appends every ``interval``-th geometry to an extended XYZ file
(Å) with provenance labels (xTB energy in eV, step, time in fs, temperature in K, seed, SMILES).
The velocities of each frame are stored as a per-atom column (Å/fs), so an interrupted run
continues from the last written frame (the thermostat noise after a restart differs from an
uninterrupted run; the sampled ensemble does not).

Frame ids are ``<name>_<split>#<k>``: :mod:`rhoml.represent.coefficients` takes the train/test
split of a
labelled frame from the ``_train`` / ``_test`` in its id, so sampled files go straight into
``rhoml densnet labels``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rhoml.errors import CalculationError, InputError
from rhoml.molecule import Molecule

BUILTIN = {"ethanol": "CCO", "ethanethiol": "CCS", "resorcinol": "Oc1cccc(O)c1"}
_THIOPHENE = re.compile(r"^(?:poly)?thiophene-(\d+)$", re.I)
VELOCITY_UNIT = "angstrom/fs"
LEVEL = "GFN2-xTB"


def thiophene_smiles(n: int) -> str:
    """SMILES of the α-linked (2,5'), H-capped thiophene ``n``-mer (n ≥ 1)."""
    if n < 1:
        raise InputError(f"thiophene-{n}: the number of monomers must be at least 1")
    if n == 1:
        return "c1ccsc1"
    return "c1csc(c1)" + "-c1ccc(s1)" * (n - 2) + "-c1cccs1"


def resolve(spec: str) -> tuple[str, str]:
    """(name, SMILES) of a built-in name, ``thiophene-N`` or a SMILES string (name ``mol``
    plus a short hash-free sanitised form of the SMILES)."""
    key = spec.strip()
    if key.lower() in BUILTIN:
        return key.lower(), BUILTIN[key.lower()]
    m = _THIOPHENE.match(key)
    if m:
        n = int(m.group(1))
        return f"thiophene-{n}", thiophene_smiles(n)
    if not key:
        raise InputError("empty molecule name or SMILES")
    name = re.sub(r"[^A-Za-z0-9]+", "", key)[:24] or "mol"
    return f"smiles-{name}", key


def build_molecule(spec: str, seed: int = 0) -> Molecule:
    """3D molecule (Å) for ``spec`` (see :func:`resolve`): RDKit ETKDGv3 embedding with explicit
    hydrogens, then an MMFF94 clean-up when MMFF knows the molecule. Charge from formal charges;
    closed shell unless the SMILES marks radicals."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    name, smiles = resolve(spec)
    RDLogger.DisableLog("rdApp.*")
    try:
        rd = Chem.MolFromSmiles(smiles)
    finally:
        RDLogger.EnableLog("rdApp.*")
    if rd is None:
        raise InputError(f"{spec}: not a built-in name ({', '.join(BUILTIN)}, thiophene-N) "
                         "nor a valid SMILES")  # fmt: skip
    rd = Chem.AddHs(rd)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(rd, params) != 0:
        raise InputError(f"{spec}: RDKit could not embed a 3D geometry for {smiles}")
    if AllChem.MMFFHasAllMoleculeParams(rd):
        AllChem.MMFFOptimizeMolecule(rd, maxIters=500)
    pos = rd.GetConformer().GetPositions()
    numbers = [a.GetAtomicNum() for a in rd.GetAtoms()]
    charge = sum(a.GetFormalCharge() for a in rd.GetAtoms())
    radicals = sum(a.GetNumRadicalElectrons() for a in rd.GetAtoms())
    return Molecule(
        numbers,
        pos,
        charge=charge,
        multiplicity=radicals + 1,
        id=name,
        labels={"smiles": smiles},
        label_units={"smiles": "text"},
    )


@dataclass(frozen=True)
class SampleSettings:
    """Langevin MD sampling on GFN2-xTB.

    frames: number of frames to write; interval: MD steps between frames; equilibration: steps
    before the first frame; dt_fs: time step (fs); temperature (K); friction (1/fs); fmax:
    pre-optimisation threshold (eV/Å); split: ``train`` / ``test`` / ``other`` (goes in the ids).
    """

    frames: int = 50
    interval: int = 20
    equilibration: int = 200
    dt_fs: float = 0.5
    temperature: float = 500.0
    friction: float = 0.01
    seed: int = 0
    fmax: float = 0.02
    split: str = "train"

    def check(self) -> None:
        if self.frames < 1 or self.interval < 1 or self.equilibration < 0:
            raise InputError("sampling needs frames ≥ 1, interval ≥ 1 and equilibration ≥ 0")
        if self.dt_fs <= 0 or self.temperature <= 0 or self.friction < 0:
            raise InputError("sampling needs dt > 0 fs, temperature > 0 K and friction ≥ 0")
        if self.split not in ("train", "test", "other"):
            raise InputError(f"split must be train, test or other, got {self.split!r}")


def xtb_calculator(molecule: Molecule):
    """tblite's ASE calculator at GFN2-xTB for ``molecule`` (charge, multiplicity), quiet."""
    from tblite.ase import TBLite

    return TBLite(
        method=LEVEL, charge=molecule.charge, multiplicity=molecule.multiplicity, verbosity=0
    )


def _atoms(molecule: Molecule):
    from ase import Atoms

    return Atoms(numbers=molecule.numbers, positions=molecule.positions)


def preoptimise(molecule: Molecule, fmax: float = 0.02, steps: int = 500) -> Molecule:
    """GFN2-xTB minimum (ASE BFGS to ``fmax`` eV/Å) starting from ``molecule``."""
    from ase.optimize import BFGS

    atoms = _atoms(molecule)
    atoms.calc = xtb_calculator(molecule)
    try:
        BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    except Exception as exc:  # tblite raises its own runtime errors
        raise CalculationError(f"{molecule.id}: {LEVEL} optimisation failed: {exc}") from None
    out = Molecule(
        atoms.numbers,
        atoms.positions,
        molecule.charge,
        molecule.multiplicity,
        molecule.id,
        dict(molecule.labels),
        dict(molecule.label_units),
    )
    atoms.calc = None  # before interpreter exit, or tblite prints ffi errors
    return out


def _existing(path: Path, name: str) -> list[Molecule]:
    from rhoml.io.xyz import read_xyz

    if not path.exists() or path.stat().st_size == 0:
        return []
    frames = list(read_xyz(path))
    for f in frames:
        if not f.id.startswith(f"{name}_"):
            raise InputError(f"{path}: frame {f.id!r} is not from system {name!r}; use a new --out")
    return frames


def sample_frames(
    spec: str,
    settings: SampleSettings,
    out,
    *,
    progress: bool = True,
    molecule: Molecule | None = None,
) -> list[Molecule]:
    """Sample ``settings.frames`` geometries of ``spec`` into the extended XYZ file ``out``
    (appending; frames already there count, so a rerun resumes). Returns all frames.

    ``molecule``: start from this geometry (Å; pre-optimised on GFN2-xTB) instead of building
    ``spec``, which is then only the system's name in the frame ids (letters, digits, ``-``,
    ``.``)."""
    from ase import units as ase_units
    from ase.constraints import FixCom
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
    from tqdm.auto import tqdm

    from rhoml.io.xyz import write_xyz

    settings.check()
    out = Path(out)
    if molecule is None:
        name, smiles = resolve(spec)
    else:
        if not re.fullmatch(r"[A-Za-z0-9.-]+", spec):
            raise InputError(f"{spec!r}: a system name has only letters, digits, '-' and '.'")
        name, smiles = spec, str(molecule.labels.get("smiles", ""))
    frames = _existing(out, name)
    if len(frames) >= settings.frames:
        return frames[: settings.frames]
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([settings.seed, len(frames)])
    if frames:
        last = frames[-1]
        start = Molecule(last.numbers, last.positions, last.charge, last.multiplicity, name)
        velocities = np.asarray(last.labels["velocities"], dtype=float)
        step = int(last.labels["step"])
    else:
        first = build_molecule(spec, settings.seed) if molecule is None else molecule
        start = preoptimise(first, settings.fmax)
        velocities = None
        step = None
    atoms = _atoms(start)
    atoms.set_constraint(FixCom())
    atoms.calc = xtb_calculator(start)
    if velocities is None:
        thermalize_momenta(atoms, temperature_K=settings.temperature, rng=rng)
        Stationary(atoms)
        ZeroRotation(atoms)
    else:
        atoms.set_velocities(velocities / ase_units.fs)  # Å/fs → ASE velocity units
    dyn = Langevin(
        atoms,
        timestep=settings.dt_fs * ase_units.fs,
        temperature_K=settings.temperature,
        friction=settings.friction / ase_units.fs,
        fixcm=False,
        rng=rng,
    )
    n_todo = settings.frames - len(frames)
    bar = tqdm(total=n_todo, desc=f"{name} {LEVEL} MD", unit="frame", disable=not progress)
    try:
        for _ in range(n_todo):
            n_steps = settings.interval if step is not None else settings.equilibration
            step = n_steps + (step or 0)
            try:
                dyn.run(n_steps)
            except Exception as exc:
                raise CalculationError(
                    f"{name}: {LEVEL} MD failed before step {step}: {exc}"
                ) from None
            k = len(frames)
            ekin = atoms.get_kinetic_energy()
            mol = Molecule(
                atoms.numbers,
                atoms.positions,  # updated in place by ASE's MD; Molecule takes a copy
                start.charge,
                start.multiplicity,
                f"{name}_{settings.split}#{k}",
                labels={
                    "xtb_energy": float(atoms.get_potential_energy()),
                    "velocities": atoms.get_velocities() * ase_units.fs,
                    "step": step,
                    "time_fs": step * settings.dt_fs,
                    "kinetic_temperature": float(ekin / (1.5 * ase_units.kB * len(atoms))),
                    "bath_temperature": settings.temperature,
                    "seed": settings.seed,
                    "smiles": smiles,
                    "level": LEVEL,
                },
                label_units={
                    "xtb_energy": "eV",
                    "velocities": VELOCITY_UNIT,
                    "step": "unknown",
                    "time_fs": "fs",
                    "kinetic_temperature": "K",
                    "bath_temperature": "K",
                    "seed": "unknown",
                    "smiles": "text",
                    "level": "text",
                },
            )
            if not smiles:  # started from a geometry without one
                mol.labels.pop("smiles")
                mol.label_units.pop("smiles")
            write_xyz(out, mol, append=True)  # one frame at a time: a killed run keeps them
            frames.append(mol)
            bar.update(1)
    finally:
        bar.close()
        atoms.calc = None
    return frames
