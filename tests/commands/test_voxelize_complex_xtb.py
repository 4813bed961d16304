"""`rhoml voxelize` of a PDBbind-layout complex with --engine xtb: the pocket is re-cut and
capped (--pocket-cutoff), pocket and ligand densities are GFN2-xTB store records (reused on a
rerun), and they fill separate density channels."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import charged_peptide

from rhoml.cli import main
from rhoml.store.sqlite_store import Store

pytest.importorskip("tblite")
Chem = pytest.importorskip("rdkit.Chem")


def _complex(root) -> None:
    """Folder root/1abc: an all-H GLY-LYS-ASP-HIS-GLY 'protein' (charge +1) and methanol placed
    3 Å from the ASP carboxylate, PDBbind layout with a labels CSV."""
    from rdkit.Chem import AllChem

    protein = charged_peptide()
    pos = protein.GetConformer().GetPositions()
    od2 = next(a.GetIdx() for a in protein.GetAtoms()
               if a.GetPDBResidueInfo().GetName().strip() == "OD2")  # fmt: skip
    outward = pos[od2] - pos.mean(0)
    target = pos[od2] + 3.0 * outward / np.linalg.norm(outward)
    lig = Chem.AddHs(Chem.MolFromSmiles("CO"))
    assert AllChem.EmbedMolecule(lig, randomSeed=1) == 0
    conf = lig.GetConformer()
    shift = target - conf.GetPositions().mean(0)
    for i in range(lig.GetNumAtoms()):
        p = conf.GetAtomPosition(i)
        conf.SetAtomPosition(i, (p.x + shift[0], p.y + shift[1], p.z + shift[2]))
    d = root / "1abc"
    d.mkdir(parents=True)
    block = Chem.MolToPDBBlock(protein)
    (d / "1abc_protein.pdb").write_text(block)
    (d / "1abc_pocket.pdb").write_text(block)
    Chem.MolToMolFile(lig, str(d / "1abc_ligand.sdf"))
    (root / "labels_pK.csv").write_text("pdb_code,pK\n1abc,5.0\n")


def test_voxelize_complex_with_xtb_pocket_and_ligand(tmp_path, capsys):
    root = tmp_path / "pdbbind"
    _complex(root)
    cfg = tmp_path / "vox.json"
    cfg.write_text(json.dumps({"voxel": {
        "size": 10.0, "spacing": 1.0, "channels": ["density"], "separate_groups": True,
        "center_group": 1, "overflow": "crop"}}))  # fmt: skip
    store = tmp_path / "s.rhoml"
    base = ["voxelize", str(root), "--engine", "xtb", "--config", str(cfg), "--out", str(store),
            "--quiet", "--workers", "1"]  # fmt: skip
    assert main(base) != 0
    assert "needs --pocket-cutoff" in capsys.readouterr().err
    args = [*base, "--pocket-cutoff", "4", "--solvent", "water", "--npy", str(tmp_path / "v.npy")]
    assert main(args) == 0
    with Store.open(store, readonly=True) as st:
        methods = st.summary()["methods"]
        (key,) = [k for k in methods if k.startswith("xtb")]
        assert methods[key]["ok"] == 2 and methods[key].get("failed", 0) == 0
        names = {st.molecule(i).id: i for i in st.indices()}
        pocket = st.density(names["1abc:g0"], key)
        ligand = st.density(names["1abc:g1"], key)
    assert pocket.provenance["solvent"] == "ALPB water"
    # the capped pocket: ASP charge −1 plus whatever else is within 4 Å, closed shell
    n_valence = pocket.nuclear_charges.sum() - pocket.molecule.charge
    assert n_valence % 2 == 0 and pocket.electron_count() == pytest.approx(n_valence, abs=1e-5)
    assert ligand.electron_count() == pytest.approx(14, abs=1e-5)  # CH3OH valence electrons
    vox = np.load(tmp_path / "v.npy")
    assert vox.shape == (1, 2, 10, 10, 10)  # protein:density, ligand:density
    assert (vox[0, 0] > 0).any() and (vox[0, 1] > 0).any()
    capsys.readouterr()
    # rerun: the records are reused (no new method, same counts)
    assert main(args) == 0
    with Store.open(store, readonly=True) as st:
        assert st.summary()["methods"][key]["ok"] == 2
