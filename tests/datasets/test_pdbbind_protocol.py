"""The PDBbind protocol: complexes that cannot be prepared are recorded with their reason and
the rest go on (study data, `rhoml train`, `rhoml voxelize`, `rhoml predict`), label files of
other releases, and cluster splits that put no cluster on both sides."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path

from rhoml.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
Chem = pytest.importorskip("rdkit.Chem")

AMINO = "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split()
SMILES = ["CO", "CCO", "CN", "OCO", "CC(=O)O", "NCO", "CCN", "OC=O", "c1ccccc1O", "c1ccncc1"]


def _pdb_lines(residues: list[str], centre, rng, radius: float = 4.5) -> list[str]:
    """One CA-like atom per residue on a shell around ``centre`` (elements C, N, O in turn)."""
    out = []
    for k, res in enumerate(residues):
        v = rng.normal(size=3)
        xyz = centre + radius * v / np.linalg.norm(v)
        el = "CNO"[k % 3]
        out.append(
            f"ATOM  {k + 1:5d}  {el:<3s} {res} A{k + 1:4d}    "
            f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {el:>2s}"
        )
    return out


def _tree(root: Path, n: int = 12, families: int = 3, index: str | None = None) -> dict:
    """``n`` tiny complexes; complex i has a 30-residue protein of family ``i % families``
    (members of a family share 27 of 30 residues, families are unrelated) and ligand
    ``SMILES[i % 10]``. Labels in the new-release index format (Kd/Ki/IC50 with units).
    Returns {code: family}."""
    from rdkit.Chem import AllChem

    rng = np.random.default_rng(0)
    seqs = [list(rng.choice(AMINO, 30)) for _ in range(families)]
    lines = ["# PDB code, resolution, release year, binding data, reference, ligand name"]
    fam = {}
    for i in range(n):
        code = f"{i + 1}abc" if i < 9 else f"{i + 1}ab"
        d = root / code
        d.mkdir(parents=True)
        mol = Chem.AddHs(Chem.MolFromSmiles(SMILES[i % len(SMILES)]))
        AllChem.EmbedMolecule(mol, randomSeed=i)
        Chem.MolToMolFile(mol, str(d / f"{code}_ligand.sdf"))
        centre = mol.GetConformer().GetPositions().mean(0)
        seq = list(seqs[i % families])
        for j in rng.choice(30, 3, replace=False):
            seq[j] = str(rng.choice(AMINO))
        pdb = "\n".join(_pdb_lines(seq, centre, rng)) + "\nEND\n"
        (d / f"{code}_pocket.pdb").write_text(pdb)
        (d / f"{code}_protein.pdb").write_text(pdb)
        datum = ["Kd=%dnM", "Ki=%duM", "IC50=%dnM"][i % 3] % (10 + 7 * i)
        lines.append(f"{code}  2.00  2015  {datum}    // {code}.pdf (LIG)")
        fam[code] = i % families
    (root / "index").mkdir()
    (root / "index" / "INDEX_general_PL.2021").write_text(index or "\n".join(lines) + "\n")
    return fam


def _break(root: Path) -> dict[str, str]:
    """Break four complexes in four ways; returns {code: expected stage}."""
    (root / "2abc" / "2abc_pocket.pdb").unlink()  # missing file
    pdb = root / "3abc" / "3abc_pocket.pdb"  # unknown element
    pdb.write_text(pdb.read_text().replace("           C\n", "          Xq\n", 1))
    from rdkit.Chem import AllChem

    long = Chem.AddHs(Chem.MolFromSmiles("C" * 30))  # a ligand far longer than the box
    AllChem.EmbedMolecule(long, randomSeed=0)
    Chem.MolToMolFile(long, str(root / "4abc" / "4abc_ligand.sdf"))
    index = root / "index" / "INDEX_general_PL.2021"
    index.write_text("\n".join(x for x in index.read_text().splitlines()
                               if not x.startswith("5abc")) + "\n")  # fmt: skip
    return {"2abc": "read", "3abc": "read", "4abc": "box", "5abc": "label"}


def _spec(size: float = 10.0):
    from rhoml.datasets.pdbbind import default_spec

    spec = default_spec(spacing=1.0, size=size)
    return spec


def test_failed_complexes_are_recorded_and_the_rest_go_on(tmp_path):
    from rhoml.datasets.pdbbind import study_data

    root = tmp_path / "pdbbind"
    _tree(root)
    expected = _break(root)
    data = study_data(root, tmp_path / "store", spec=_spec(), n_val=2, n_test=2, progress=False)
    got = {d["id"]: d for d in data.info["dropped"]}
    assert {k: v["stage"] for k, v in got.items()} == expected
    assert "missing file" in got["2abc"]["reason"] and "2abc_pocket.pdb" in got["2abc"]["reason"]
    assert "unknown element" in got["3abc"]["reason"]
    assert "outside the 10 Å box" in got["4abc"]["reason"]
    assert "no pK" in got["5abc"]["reason"]
    assert data.info["dropped_summary"] == {
        "n": 4, "by_stage": {"read": 2, "box": 1, "label": 1}}  # fmt: skip
    kept = data.info["test_codes"] + data.info["val_codes"] + data.info["train_codes"]
    assert len(kept) == 8 and not set(kept) & set(expected)
    # the labels came from binding data with units: 1abc Kd=10nM -> pK 8
    assert data.info["train_codes"] or data.info["test_codes"]
    all_y = np.concatenate([data.targets[k][:, 0] for k in ("test", "val", "train_pool")])
    assert 8.0 in np.round(all_y, 10).tolist() or "1abc" not in kept
    # IC50 values (every third complex) can be left out, recorded as such
    data = study_data(root, tmp_path / "store", spec=_spec(), n_val=2, n_test=2,
                      exclude_ic50=True, progress=False)  # fmt: skip
    ic50 = {d["id"] for d in data.info["dropped"] if "IC50" in d["reason"]}
    assert ic50 == {"6abc", "9abc", "12ab"}  # 3abc, unreadable, is recorded as such


def test_train_voxelize_predict_record_what_they_drop(tmp_path, capsys):
    root = tmp_path / "pdbbind"
    _tree(root)
    expected = _break(root)
    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), n_train=4, n_val=2, n_test=2, workers=1)
    cfg["voxel"].update(size=10.0, separate_groups=False, channels=["atoms", "density"])
    cfg["model"].update(name="resnet3d-tiny")
    cfg["train"].update(epochs=1, batch_size=2, threads=1)
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", str(p), "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dropped"]["n"] == 4 and manifest["dropped"]["by_stage"]["read"] == 2
    with open(out / "dropped.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"]: r["stage"] for r in rows} == expected
    m = manifest["metrics"]
    assert (
        "rmse_pK" in m["mean_predictor_test"] and len(m["mean_predictor_test_ci95"]["rmse_pK"]) == 2
    )
    assert m["test_ci95"]["pearson"] and manifest["split"].startswith("random")

    # voxelize: the rest are voxelised, the failures are in OUT/dropped.csv
    store = tmp_path / "vox"
    capsys.readouterr()
    vox = tmp_path / "vox.json"  # the ligand centred, protein atoms beyond the box cropped
    vox.write_text(json.dumps({"voxel": {"size": 10.0, "spacing": 1.0, "channels": ["atoms"],
                                         "center_group": 1, "overflow": "crop"}}))  # fmt: skip
    args = ["voxelize", str(root), "--out", str(store), "--engine", "promolecule", "--config",
            str(vox), "--quiet", "--workers", "1"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "dropped 3 (read 2, box 1)" in text and "10 molecules" not in text
    assert "9 molecules x 1 pose(s)" in text  # 5abc has no label: voxelize does not need one
    with open(store / "dropped.csv") as fh:
        assert {r["id"] for r in csv.DictReader(fh)} == {"2abc", "3abc", "4abc"}
    assert main([*args, "--limit", "4"]) == 0  # 10ab 11ab 12ab 1abc (sorted codes)
    assert "4 molecules x 1 pose(s)" in capsys.readouterr().out

    # predict: every complex that can be prepared gets a row, the others are reported
    pred = tmp_path / "p.csv"
    assert main(["predict", str(out), str(root), "--out", str(pred), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "dropped 3" in err and "4abc: box:" in err and "2abc: read:" in err
    lines = [x for x in pred.read_text().splitlines() if not x.startswith("#")]
    assert len(lines) == 1 + 9
    with open(str(pred) + ".dropped.csv") as fh:
        assert {r["id"] for r in csv.DictReader(fh)} == {"2abc", "3abc", "4abc"}


def test_predict_needs_no_labels_and_reuses_a_voxel_store(tmp_path, capsys, monkeypatch):
    from rhoml import runs
    from rhoml.datasets.pdbbind import read_complexes

    root = tmp_path / "pdbbind"
    _tree(root, n=8)
    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), n_train=4, n_val=2, n_test=2, workers=1)
    cfg["voxel"].update(size=10.0, separate_groups=False, channels=["atoms", "density"])
    cfg["model"].update(name="resnet3d-tiny")
    cfg["train"].update(epochs=1, batch_size=2, threads=1)
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", str(p), "--out", str(out), "--quiet"]) == 0
    # a folder without any index or labels file predicts
    (root / "index" / "INDEX_general_PL.2021").unlink()
    (root / "index").rmdir()
    capsys.readouterr()
    assert main(["predict", str(out), str(root), "--quiet"]) == 0
    rows = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    assert len(rows) == 9
    fresh = {r.split(",")[0]: float(r.split(",")[1]) for r in rows[1:]}
    # ... and so does one whose index lacks some complexes or is broken
    (root / "labels_pK.csv").write_text("pdb_code,pK\n1abc,5\n")
    assert main(["predict", str(out), str(root), "--quiet"]) == 0
    capsys.readouterr()
    # the run's store holds voxels of the 8 complexes for the run's grid and engine: reused
    run = runs.load(out)
    mols = read_complexes(root, labels=False)
    cached = run.model.stored_voxels(out / "store", mols)
    assert set(cached) == {m.id for m in mols}
    from rhoml.represent import voxel as voxel_module

    def refuse(self, *a, **k):
        raise AssertionError("voxelised although the store has the voxels")

    monkeypatch.setattr(voxel_module.Voxelizer, "__call__", refuse)
    assert main(["predict", str(out), str(root), "--store", str(out / "store"), "--quiet"]) == 0
    rows = [x for x in capsys.readouterr().out.splitlines() if not x.startswith("#")]
    stored = {r.split(",")[0]: float(r.split(",")[1]) for r in rows[1:]}
    assert stored.keys() == fresh.keys()
    for k in fresh:  # float16 cached voxels vs fresh float32 ones
        assert stored[k] == pytest.approx(fresh[k], abs=0.05)


def test_labels_file_and_config_key(tmp_path):
    from rhoml.datasets.pdbbind import study_data

    root = tmp_path / "pdbbind"
    _tree(root, n=8)
    labels = tmp_path / "mine.csv"
    labels.write_text("code,pK\n" + "\n".join(f"{i}abc,{i}.5" for i in range(1, 9)) + "\n")
    data = study_data(root, tmp_path / "s", spec=_spec(), n_val=2, n_test=2, labels=labels,
                      progress=False)  # fmt: skip
    y = sorted(np.concatenate([data.targets[k][:, 0] for k in data.targets]).tolist())
    assert y == [i + 0.5 for i in range(1, 9)]
    from rhoml.runs import load_training_config

    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), labels=str(labels), split="protein")
    _, resolved = load_training_config(cfg)
    assert resolved["data"]["labels"] == str(labels) and resolved["data"]["split"] == "protein"
    cfg["data"]["labels"] = str(tmp_path / "absent.csv")
    with pytest.raises(Exception, match="absent.csv"):
        load_training_config(cfg)
    cfg["data"].update(labels="", split="cluster")
    with pytest.raises(Exception, match="split"):
        load_training_config(cfg)


def test_cluster_split_keeps_clusters_whole():
    from rhoml.datasets.splits import cluster_split

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 15, 200)
    for seed in range(5):
        test, val, pool = cluster_split(labels, [30, 20], seed)
        assert len(test) <= 30 and len(val) <= 20 and len(test) + len(val) + len(pool) == 200
        sides = [set(labels[part].tolist()) for part in (test, val, pool)]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert len(test) > 20  # 15 clusters of about 13: the parts are filled
    a, b = cluster_split(labels, [30, 20], 3), cluster_split(labels, [30, 20], 3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("split", ["protein", "scaffold"])
def test_synthetic_cluster_splits(tmp_path, split):
    from rhoml.datasets.clusters import clusters
    from rhoml.datasets.pdbbind import read_complexes, split_complexes

    root = tmp_path / "pdbbind"
    family = _tree(root, n=12, families=4)
    mols = read_complexes(root)
    labels, info = clusters(mols, split)
    if split == "protein":  # the 4 families are found: members share 27 of 30 residues
        assert info["n_clusters"] == 4
        groups = {}
        for m, c in zip(mols, labels, strict=True):
            groups.setdefault(c, set()).add(family[m.id])
        assert all(len(g) == 1 for g in groups.values())
    else:  # 10 SMILES; 'CO', 'CCO', ... are acyclic (one empty scaffold), two aromatic rings
        assert info["n_clusters"] == 3
    n = 3 if split == "protein" else 1  # scaffold clusters of 10, 1 and 1 complexes
    rows, desc = split_complexes(mols, n, n, split=split, seed=0)
    assert len(rows["test"]) == len(rows["val"]) == n
    of = desc["cluster_of"]
    sides = [{of[mols[r].id] for r in rows[k]} for k in ("test", "val", "train_pool")]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]


@pytest.mark.parametrize("split", ["protein", "scaffold"])
def test_sample_cluster_splits_put_no_cluster_on_both_sides(split):
    from rhoml.datasets.clusters import clusters
    from rhoml.datasets.pdbbind import read_complexes, split_complexes

    root = shared_path("data", "pdbbind_sample")
    mols = read_complexes(root)
    labels, info = clusters(mols, split)
    assert 20 <= info["n_clusters"] <= 50
    for seed in range(3):
        rows, desc = split_complexes(mols, 12, 6, split=split, seed=seed)
        of = desc["cluster_of"]
        sides = [{of[mols[r].id] for r in rows[k]} for k in ("test", "val", "train_pool")]
        assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
        assert 8 <= len(rows["test"]) <= 12 and len(rows["train_pool"]) >= 30


def test_voxelize_config_honours_data_options(tmp_path, capsys):
    """`rhoml voxelize --config` takes the engine, poses, workers, labels, store and root from
    [data] (promolecule here: the default xtb would ask for --pocket-cutoff), the grid from
    [voxel], and options given on the command line win."""
    from rhoml.store.sqlite_store import Store

    root = tmp_path / "pdbbind"
    _tree(root, n=4)
    labels = tmp_path / "mine.csv"
    labels.write_text("code,pK\n1abc,3.5\n")
    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), engine="promolecule", n_poses=2, workers=1,
                       labels=str(labels), store=str(tmp_path / "from_config"))  # fmt: skip
    cfg["voxel"].update(size=10.0, spacing=2.0, channels=["atoms", "density"])
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(cfg))
    assert main(["voxelize", "--config", str(p), "--quiet", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 molecules x 2 pose(s)" in out and "5^3 grid" in out
    with Store.open(tmp_path / "from_config", readonly=True) as st:
        assert any(m.startswith("promolecule") for m in st.methods())
        mols = {m.id: m for _, m in st.molecules()}
    assert mols["1abc"].labels["pK"] == 3.5 and "pK" not in mols["2abc"].labels
    other = tmp_path / "given"
    args = ["voxelize", "--config", str(p), "--quiet", "--limit", "1", "--out", str(other),
            "--poses", "1", "--spacing", "1"]  # fmt: skip
    assert main(args) == 0
    assert (
        "1 molecules x 1 pose(s)" in capsys.readouterr().out and (other / "dropped.csv").is_file()
    )
    qm9 = tomllib.loads((CONFIGS / "voxel_qm9_small.toml").read_text())
    qm9["data"]["split"] = "scaffold"
    q = tmp_path / "q.json"
    q.write_text(json.dumps(qm9))
    assert main(["voxelize", "--config", str(q), "qm9:1", "--out", str(tmp_path / "q")]) == 2
    assert "split: PDBbind options" in capsys.readouterr().err


def test_study_data_with_a_protein_split(tmp_path):
    from rhoml.datasets.pdbbind import study_data
    from rhoml.represent.voxel import VoxelSpec

    root = tmp_path / "pdbbind"
    _tree(root, n=12, families=4)
    spec = VoxelSpec(size=10.0, spacing=2.0, channels=("atoms",), elements=("C", "N", "O", "X"),
                     separate_groups=True, center_group=1, overflow="crop")  # fmt: skip
    data = study_data(root, tmp_path / "s", spec=spec, n_val=3, n_test=3, split="protein",
                      split_seed=1, progress=False)  # fmt: skip
    info = data.info
    assert info["split"].startswith("protein clusters") and info["clusters"]["n_clusters"] == 4
    of = info["cluster_of"]
    sides = [{of[c] for c in info[k]} for k in ("test_codes", "val_codes", "train_codes")]
    assert not sides[0] & sides[1] and not sides[0] & sides[2] and not sides[1] & sides[2]
    assert len(data.targets["test"]) == 3 and len(data.targets["train_pool"]) == 6
