"""QM9 / PDBbind voxel protocols, the study runner, and `rhoml train` / `rhoml predict` of the
voxel CNN family end to end on a synthetic PDBbind layout."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pytest

from rhoml.cli import main
from rhoml.datasets.qm9 import target_values
from rhoml.datasets.splits import nested_subset, qm9_split
from rhoml.errors import RhomlError
from rhoml.represent.voxel_data import channel_indices
from rhoml.runs import load_training_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_qm9_split_is_standard_and_reproducible():
    a, b = qm9_split(130_831), qm9_split(130_831)
    assert [len(a[k]) for k in ("train", "val", "test")] == [110_000, 10_000, 10_831]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not set(a["train"]) & set(a["test"]) and not set(a["val"]) & set(a["test"])
    small, big = nested_subset(a["train"], 100, 0), nested_subset(a["train"], 300, 0)
    assert set(small) <= set(big)


def test_qm9_targets_in_literature_units():
    from rhoml.io.qm9 import load_qm9

    methane = load_qm9(limit=1)[0]
    y = target_values([methane], ["gap", "U0", "mu"])[0]
    assert y[0] == pytest.approx(methane.labels["gap"] * 27211.386, rel=1e-6)  # meV
    # U0 atomisation energy: U0 − (E_C + 4 E_H) with QM9's atomref, in meV
    atomisation = methane.labels["U0"] - (-37.846772 + 4 * -0.500273)
    assert y[1] == pytest.approx(atomisation * 27211.386, rel=1e-6)
    assert -18_000 < y[1] < -16_000  # methane: about −17.2 eV
    assert y[2] == pytest.approx(methane.labels["mu"])  # Debye


def test_channel_indices():
    names = ["protein:atoms:C", "protein:density", "ligand:atoms:C", "ligand:density", "shape"]
    assert channel_indices(names, "density") == [1, 3]
    assert channel_indices(names, "atoms+shape") == [0, 2, 4]
    with pytest.raises(Exception, match="gradient"):
        channel_indices(names, "gradient")


def test_example_configs_are_valid_and_strict(tmp_path):
    shared = (CONFIGS.parents[1] / "shared" / "data" / "pdbbind_sample").is_dir()
    for f in sorted(CONFIGS.glob("voxel_*.toml")):
        if "pdbbind" in f.name and not shared:
            continue  # their root is ../shared/data/pdbbind_sample, checked on load
        family, resolved = load_training_config(f)
        assert family == "voxel-cnn" and resolved["voxel"]["spacing"] > 0
    bad = tomllib.loads((CONFIGS / "voxel_qm9_small.toml").read_text())
    bad["voxel"]["resolution"] = 1.0
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad))
    with pytest.raises(Exception, match="resolution"):
        load_training_config(p)


def _synthetic_pdbbind(root: Path, n: int = 10) -> None:
    """n tiny complexes: a shell of GLY-like pocket atoms around a small RDKit ligand."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rng = np.random.default_rng(0)
    smiles = ["CO", "CCO", "CN", "OCO", "CC(=O)O", "NCO", "CCN", "OC=O", "CCC", "COC"]
    lines = ["pdb_code,pK"]
    for i in range(n):
        code = f"{i + 1}abc"
        d = root / code
        d.mkdir(parents=True)
        mol = Chem.AddHs(Chem.MolFromSmiles(smiles[i % len(smiles)]))
        AllChem.EmbedMolecule(mol, randomSeed=i)
        Chem.MolToMolFile(mol, str(d / f"{code}_ligand.sdf"))
        centre = mol.GetConformer().GetPositions().mean(0)
        pdb = []
        for k in range(12):
            v = rng.normal(size=3)
            xyz = centre + 4.5 * v / np.linalg.norm(v)
            el = "CNO"[k % 3]
            pdb.append(
                f"ATOM  {k + 1:5d}  {el:<3s} GLY A{k + 1:4d}    "
                f"{xyz[0]:8.3f}{xyz[1]:8.3f}{xyz[2]:8.3f}  1.00  0.00          {el:>2s}"
            )
        (d / f"{code}_pocket.pdb").write_text("\n".join(pdb) + "\nEND\n")
        lines.append(f"{code},{4 + mol.GetNumAtoms() / 3:.2f}")
    (root / "labels_pK.csv").write_text("\n".join(lines) + "\n")


def _csv_rows(text: str) -> list[str]:
    """Header and data lines of ``rhoml predict`` CSV output (``#`` metadata lines dropped)."""
    return [line for line in text.strip().splitlines() if not line.startswith("#")]


def test_train_and_predict_end_to_end_on_synthetic_pdbbind(tmp_path, capsys):
    from rhoml.density import compute
    from rhoml.grid import Grid
    from rhoml.io import read_molecules
    from rhoml.io.ccp4 import write_map
    from rhoml.io.cube import write_cube

    root = tmp_path / "pdbbind"
    _synthetic_pdbbind(root)
    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), n_train=6, n_val=2, n_test=2)
    cfg["voxel"].update(size=12.0, separate_groups=False, channels=["atoms", "density"])
    cfg["model"].update(name="resnet3d-tiny")
    cfg["train"].update(epochs=2, batch_size=3, threads=1)
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", str(p), "--out", str(out), "--quiet"]) == 0
    report = json.loads((out / "manifest.json").read_text())["metrics"]
    assert report["n_test"] == 2 and np.isfinite(report["test"]["rmse_pK"])
    for name in ("config.toml", "model.pt", "metrics.csv", "learning_curve.png"):
        assert (out / name).is_file(), name
    capsys.readouterr()
    # predict on the complexes themselves
    assert main(["predict", str(out), str(root)]) == 0
    text = _csv_rows(capsys.readouterr().out)
    assert text[0] == "id,pK [dimensionless]" and len(text) == 11
    by_id = {line.split(",")[0]: float(line.split(",")[1]) for line in text[1:]}
    # a fine cube of the same (promolecule) density, centred on the ligand, feeds the density
    # channel alone: the prediction stays close to the one from the molecule
    mol = next(m for m in read_molecules(str(root)) if m.id == "1abc")
    lig = mol.positions[mol.groups == 1].mean(0)
    grid = Grid.cube(lig, 14.0, 0.2)
    dens = compute(mol, "promolecule")
    write_cube(tmp_path / "m.cube", grid, dens.evaluate(grid.points()).reshape(grid.shape))
    one = tmp_path / "one"
    shutil.copytree(root / "1abc", one / "1abc")
    shutil.copy(root / "labels_pK.csv", one / "labels_pK.csv")
    capsys.readouterr()
    assert main(["predict", str(out), str(one), "--map", str(tmp_path / "m.cube")]) == 0
    with_mol = float(_csv_rows(capsys.readouterr().out)[1].split(",")[1])
    assert with_mol == pytest.approx(by_id["1abc"], abs=0.05)
    # the model uses density channels only, so the map alone (box centred on it) is enough
    assert main(["predict", str(out), "--map", str(tmp_path / "m.cube")]) == 0
    alone = float(_csv_rows(capsys.readouterr().out)[1].split(",")[1])
    assert alone == pytest.approx(by_id["1abc"], abs=0.05)
    # the same values as a CCP4 and an MRC map (grid origin in the header, written by gemmi)
    # give the same prediction as the cube, with and without the molecule
    from rhoml.io.cube import read_cube

    _, cube_grid, cube_values = read_cube(tmp_path / "m.cube")
    for suffix in ("ccp4", "mrc"):
        write_map(tmp_path / f"m.{suffix}", cube_grid, cube_values)
        assert main(["predict", str(out), str(one), "--map", str(tmp_path / f"m.{suffix}")]) == 0
        got = float(_csv_rows(capsys.readouterr().out)[1].split(",")[1])
        assert got == pytest.approx(with_mol, abs=1e-4)
        assert main(["predict", str(out), "--map", str(tmp_path / f"m.{suffix}")]) == 0
        got = float(_csv_rows(capsys.readouterr().out)[1].split(",")[1])
        assert got == pytest.approx(alone, abs=1e-4)


def test_summary_of_finished_runs_table_and_plot(tmp_path):
    from rhoml.studies.voxel import StudySettings, run_study

    rng = np.random.default_rng(0)
    for rep in ("atoms", "density"):
        for size in (10, 30):
            for seed in (0, 1):
                if size == 30 and seed == 1:
                    continue  # a cell with fewer seeds
                d = tmp_path / "runs" / rep / f"n{size}" / f"s{seed}"
                d.mkdir(parents=True)
                err = 100.0 / size * (1.0 if rep == "atoms" else 0.8) + rng.normal() * 0.1
                (d / "result.json").write_text(json.dumps({
                    "representation": rep, "size": size, "seed": seed,
                    "test": {"mae_gap": err, "mae_mu": err / 100}}))  # fmt: skip
                if rep == "atoms" and size == 10:
                    continue  # restored from its result.json alone: no description
                (d / "model.json").write_text(json.dumps({
                    "dataset": "qm9", "targets": ["gap", "mu"], "units": ["meV", "debye"],
                    "all_channel_names": ["atoms:H", "density"]}))  # fmt: skip
    settings = StudySettings(representations=["atoms", "density"], sizes=[10, 30], seeds=2)
    only_atoms_10 = StudySettings(representations=["atoms"], sizes=[10], seeds=2)
    with pytest.raises(RhomlError, match="no finished run keeps its manifest.json"):
        run_study(None, only_atoms_10, tmp_path, summary_only=True)
    summary = run_study(None, settings, tmp_path, summary_only=True)
    cells = {(e["representation"], e["size"]): e for e in summary["table"]}
    assert cells[("atoms", 10)]["seeds"] == 2 and cells[("atoms", 30)]["seeds"] == 1
    assert cells[("density", 10)]["mae_gap"]["mean"] < cells[("atoms", 10)]["mae_gap"]["mean"]
    md = (tmp_path / "results.md").read_text()
    assert "| density | 30 |" in md and "mae_gap (meV)" in md
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


def test_rhoml_train_under_torchrun_ddp(tmp_path):
    """`torchrun --nproc_per_node 2 rhoml train` on CPU (gloo): rank 0 prepares the voxels,
    both ranks train through DDP, rank 0 writes the model and test metrics."""
    import os
    import shutil
    import subprocess
    import sys

    root = tmp_path / "pdbbind"
    _synthetic_pdbbind(root)
    cfg = tomllib.loads((CONFIGS / "voxel_pdbbind_sample.toml").read_text())
    cfg["data"].update(root=str(root), n_train=6, n_val=2, n_test=2)
    cfg["data"].update(representation="atoms")
    cfg["voxel"].update(size=12.0, separate_groups=False, channels=["atoms"])
    cfg["model"].update(name="resnet3d-tiny")
    cfg["train"].update(epochs=2, batch_size=3, threads=1, bn_recalibration=0)
    p = tmp_path / "exp.json"
    p.write_text(json.dumps(cfg))
    out = tmp_path / "run"
    rhoml = shutil.which("rhoml") or "rhoml"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", rhoml, "train", str(p), "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    report = json.loads((out / "manifest.json").read_text())["metrics"]
    assert report["n_test"] == 2 and report["epochs_run"] == 2
    assert len((out / "metrics.csv").read_text().splitlines()) == 3


def test_pdbbind_table_has_mean_predictor_intervals_split_and_drops(tmp_path):
    """A single-seed PDBbind table: cells with bootstrap 95 % intervals, a mean-predictor row
    with its own intervals, the split and what was dropped under the table, dropped.csv in the
    study folder, no NaN in the JSON, a plot with units and a legend."""
    from rhoml.datasets import VoxelData, read_dropped
    from rhoml.studies.voxel import StudySettings, run_study

    rng = np.random.default_rng(0)
    for rep in ("atoms", "density"):
        d = tmp_path / "runs" / rep / "n8" / "s0"
        d.mkdir(parents=True)
        (d / "result.json").write_text(json.dumps({
            "representation": rep, "size": 8, "seed": 0,
            "test": {"rmse_pK": 1.5, "pearson": float("nan"), "spearman": 0.2},
            "test_ci95": {"rmse_pK": [1.1, 1.9], "pearson": [None, None]}}))  # fmt: skip
    y = {"train_pool": rng.normal(6, 1.5, (8, 1)), "val": rng.normal(6, 1.5, (2, 1)),
         "test": rng.normal(6, 1.5, (6, 1))}  # fmt: skip
    dropped = [{"id": "2abc", "stage": "read", "reason": "missing file"},
               {"id": "4abc", "stage": "box", "reason": "ligand outside the 24 Å box"}]  # fmt: skip
    info = {"split": "protein clusters (single linkage): test 6 / val 2 / pool 8",
            "split_kind": "protein", "dropped": dropped,
            "dropped_summary": {"n": 2, "by_stage": {"read": 1, "box": 1}}}  # fmt: skip
    data = VoxelData("pdbbind", ["pK"], ["dimensionless"], ["ligand:atoms:C"], {}, y, info)
    settings = StudySettings(representations=["atoms", "density"], sizes=[8], seeds=1)
    summary = run_study(data, settings, tmp_path, summary_only=True)
    md = (tmp_path / "results.md").read_text()
    assert "| atoms | 8 | 1 | 1.5 [1.1, 1.9] |" in md and "±" not in md.split("\n", 2)[2]
    row = next(x for x in md.splitlines() if x.startswith("| mean predictor"))
    base = summary["info"]["mean_predictor_test"]["rmse_pK"]
    lo, hi = summary["info"]["mean_predictor_test_ci95"]["rmse_pK"]
    assert f"{base:.4g} [{lo:.3g}, {hi:.3g}]" in row and lo <= base <= hi
    assert "Split: protein clusters" in md and "Dropped while preparing: 2 (read 1, box 1" in md
    assert read_dropped(tmp_path / "dropped.csv") == dropped
    assert "NaN" not in (tmp_path / "results.json").read_text()
    assert (tmp_path / "learning_curve.png").stat().st_size > 1000


def test_cosine_schedule_without_early_stopping_reaches_the_run(tmp_path):
    """--scheduler cosine --patience 0: every epoch is trained, the learning rate follows a half
    cosine, and the run's config records both; the test uses the best validation epoch."""
    import csv

    from rhoml.datasets import VoxelData
    from rhoml.studies.voxel import StudySettings, run_one

    rng = np.random.default_rng(0)
    vox = {k: rng.normal(size=(n, 1, 2, 8, 8, 8)).astype(np.float16)
           for k, n in (("train_pool", 12), ("val", 4), ("test", 4))}  # fmt: skip
    y = {k: rng.normal(size=(len(v), 1)) for k, v in vox.items()}
    data = VoxelData("toy", ["gap"], ["meV"], ["atoms:C", "density"], vox, y, {})
    settings = StudySettings(representations=["density"], sizes=[12], seeds=1,
                             model="resnet3d-tiny", min_epochs=4, max_epochs=4, batch_size=6,
                             scheduler="cosine", patience=0, threads=1, device="cpu")  # fmt: skip
    out = tmp_path / "run"
    row = run_one(data, "density", 12, 0, settings, out, progress=False)
    assert np.isfinite(row["test"]["mae_gap"]) and row["channels"] == 1
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert cfg["train"]["scheduler"] == "cosine" and cfg["train"]["patience"] == 0
    rows = list(csv.DictReader((out / "checkpoints" / "metrics.csv").open()))
    lr = [float(r["lr"]) for r in rows]
    assert len(rows) == 4 and lr[0] > lr[1] > lr[2] > lr[3]
