"""Systems beyond rMD17: SMILES building, GFN2-xTB MD sampling, XYZ round trip, CLI."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.cli import main
from rhoml.errors import InputError
from rhoml.io.xyz import read_xyz
from rhoml.md.sampling import (
    SampleSettings,
    build_molecule,
    resolve,
    sample_frames,
    thiophene_smiles,
)


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_thiophene_oligomer_composition_and_links(n):
    from rdkit import Chem

    m = build_molecule(f"thiophene-{n}")
    counts = {z: int(np.sum(m.numbers == z)) for z in (1, 6, 16)}
    assert counts == {1: 2 * n + 2, 6: 4 * n, 16: n}  # C4nH(2n+2)Sn
    rd = Chem.MolFromSmiles(thiophene_smiles(n))
    # α-linked: every inter-ring bond joins two carbons that are both bonded to sulfur
    links = [b for b in rd.GetBonds() if not b.IsInRing()]
    assert len(links) == n - 1
    for b in links:
        for a in (b.GetBeginAtom(), b.GetEndAtom()):
            assert 16 in [x.GetAtomicNum() for x in a.GetNeighbors()]


def test_builtin_names_and_smiles():
    assert resolve("Ethanethiol") == ("ethanethiol", "CCS")
    assert resolve("polythiophene-2")[0] == "thiophene-2"
    m = build_molecule("resorcinol")
    assert sorted(m.symbols) == sorted("C" * 6 + "H" * 6 + "O" * 2)
    d = np.linalg.norm(m.positions[:, None] - m.positions[None], axis=-1)
    assert d[np.triu_indices(m.n_atoms, 1)].min() > 0.8  # a real 3D embedding, Å
    assert build_molecule("C[NH3+]").charge == 1


@pytest.mark.parametrize("bad", ["thiophene-0", "C1CC", "not a molecule", ""])
def test_bad_system_is_one_clear_error(bad):
    with pytest.raises(InputError):
        build_molecule(bad)


def test_sampling_writes_resumable_extended_xyz(tmp_path):
    out = tmp_path / "frames.xyz"
    s = SampleSettings(frames=2, interval=3, equilibration=2, temperature=300.0, seed=1)
    first = sample_frames("ethanethiol", s, out, progress=False)
    assert [f.id for f in first] == ["ethanethiol_train#0", "ethanethiol_train#1"]
    # freshly sampled frames are the written ones (not views of the MD's moving positions)
    assert not np.allclose(first[0].positions, first[1].positions)
    for a, b in zip(first, read_xyz(out), strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9)
    more = sample_frames("ethanethiol", SampleSettings(**{**s.__dict__, "frames": 3}), out,
                         progress=False)  # fmt: skip
    back = list(read_xyz(out))
    assert len(back) == 3 and len(more) == 3
    for a, b in zip(more, back, strict=True):
        np.testing.assert_allclose(a.positions, b.positions, atol=1e-9)
        assert b.label_units["xtb_energy"] == "eV"
        assert b.label_units["velocities"] == "angstrom/fs"
    assert [int(f.labels["step"]) for f in back] == [2, 5, 8]
    # MD moved the atoms, GFN2-xTB energies are finite and distinct
    assert not np.allclose(back[0].positions, back[2].positions)
    e = [f.labels["xtb_energy"] for f in back]
    assert np.all(np.isfinite(e)) and len(set(e)) == 3
    # asking for fewer frames than present does not run anything
    assert len(sample_frames("ethanethiol", s, out, progress=False)) == 2
    # another system into the same file is refused
    with pytest.raises(InputError, match="not from system"):
        sample_frames("ethanol", s, out, progress=False)


def test_sample_cli_and_labels_accept_the_ids(tmp_path, capsys):
    from rhoml.represent.coefficients import _split_of

    out = tmp_path / "t.xyz"
    args = "--frames 1 --interval 2 --equilibration 0 --split test --quiet --out".split()
    rc = main(["densnet", "sample", "CCO", *args, str(out)])
    assert rc == 0
    (mol,) = read_xyz(out)
    assert mol.id == "smiles-CCO_test#0" and _split_of(mol) == "test"
    assert main(["densnet", "sample", "C1CC", "--frames", "1", "--out", str(out)]) != 0
    assert "C1CC" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["ethanethiol", "resorcinol", "polythiophene"])
def test_system_configs_are_valid(name):
    import tomllib
    from pathlib import Path

    from rhoml.config import load_config
    from rhoml.families.densnet import DenSNetFamily

    path = Path(__file__).resolve().parents[2] / "configs" / f"densnet_{name}.toml"
    raw = tomllib.loads(path.read_text())
    assert raw.pop("family") == "densnet"
    cfg = load_config(raw, DenSNetFamily.sections, str(path), base_dir=path.parent)
    assert cfg["basis"].mode == "delta"
    assert Path(cfg["data"].store).resolve().is_relative_to(path.parents[1] / "runs")


def test_energy_scale_ignores_composition_spread():
    from rhoml.families.densnet_train import _composition_residual
    from rhoml.molecule import Molecule
    from rhoml.represent.coefficients import Frame

    rng = np.random.default_rng(0)

    def frame(n):  # thiophene n-mer composition, geometry irrelevant here
        z = [16] * n + [6] * (4 * n) + [1] * (2 * n + 2)
        return Frame(Molecule(z, rng.random((len(z), 3)) * 9), 0.0, None, None, None, "train")

    one = [frame(1) for _ in range(4)]
    e1 = np.array([1.0, 2.0, 3.0, 6.0])
    np.testing.assert_allclose(_composition_residual(one, e1), e1 - e1.mean(), atol=1e-12)
    mixed = one + [frame(2) for _ in range(4)]
    e2 = np.concatenate([e1 - 3.5e5, e1 - 7e5])  # kcal/mol: sizes differ by ~3.5e5
    res = _composition_residual(mixed, e2)
    assert np.std(res) < 3.0 < np.std(e2)
