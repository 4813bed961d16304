"""Shared fixtures: small molecules generated in code, and the location of ../shared."""

from __future__ import annotations

import os
from pathlib import Path

# Tests run as parallel single-threaded workers (pytest -n 2): several OpenMP runtimes (PySCF,
# tblite) oversubscribe a 2-core machine otherwise. Set before any of them loads.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

from rhoml import Molecule

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test with a clear reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the repository)")
    return path


@pytest.fixture
def water() -> Molecule:
    return Molecule.from_symbols(
        ["O", "H", "H"], [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]],
        id="water",
    )  # fmt: skip


@pytest.fixture
def ethanol() -> Molecule:
    pos = np.array(
        [
            [-0.0493, 0.5578, 0.0000], [1.3899, 0.1220, 0.0000], [-0.9196, -0.5352, 0.0000],
            [-0.3154, 1.1560, 0.8737], [-0.3154, 1.1560, -0.8737], [1.6576, -0.4768, 0.8820],
            [1.6576, -0.4768, -0.8820], [2.0119, 1.0245, 0.0000], [-1.8298, -0.2330, 0.0000],
        ]
    )  # fmt: skip
    return Molecule.from_symbols(["C", "C", "O", "H", "H", "H", "H", "H", "H"], pos, id="ethanol")


def charged_peptide():
    """RDKit mol of an all-hydrogen GLY-LYS-ASP-HIS-GLY with NH3+ N-terminus, LYS NH3+, ASP COO−,
    neutral HIS and a COOH C-terminus (total charge +1), embedded with seed 7 (PDB residue info
    kept). Skips when RDKit is absent."""
    Chem = pytest.importorskip("rdkit.Chem")
    from rdkit.Chem import AllChem

    m = Chem.MolFromSequence("GKDHG")
    for a in m.GetAtoms():
        info = a.GetPDBResidueInfo()
        name, res = info.GetName().strip(), info.GetResidueName()
        if (res, name) == ("LYS", "NZ") or (name == "N" and info.GetResidueNumber() == 1):
            a.SetFormalCharge(1)
        if (res, name) == ("ASP", "OD2"):
            a.SetFormalCharge(-1)
    Chem.SanitizeMol(m)
    mh = Chem.AddHs(m, addResidueInfo=True)
    assert AllChem.EmbedMolecule(mh, randomSeed=7) == 0
    return mh
