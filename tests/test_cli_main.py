"""The CLI: every bad input gives one line naming the file and exits 2; the happy paths run."""

import json
import sqlite3

import pytest

from rhoml.cli import main
from rhoml.io.cube import read_cube


def _run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


BAD_XYZ = {
    "unknown_element.xyz": "2\nmol\nXx 0 0 0\nH 0 0 1\n",
    "malformed.xyz": "2\nmol\nO 0 0 zero\nH 0 0 1\n",
    "truncated.xyz": "3\nmol\nO 0 0 0\nH 0 0 1\n",
    "empty.xyz": "",
    "charge_spin.xyz": "3\ncharge=1 multiplicity=1\nO 0 0 0\nH 0 0 1\nH 0 1 0\n",
}


@pytest.mark.parametrize("name", sorted(BAD_XYZ))
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name):
    path = tmp_path / name
    path.write_text(BAD_XYZ[name])
    out = tmp_path / "s"
    code, _, err = _run(capsys, "density", "compute", str(path), "--method", "promolecule",
                        "--out", str(out), "--quiet")  # fmt: skip
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rhoml: error: ") and name in lines[0]
    assert "Traceback" not in err


def test_missing_file_and_unknown_format(tmp_path, capsys):
    code, _, err = _run(capsys, "density", "compute", str(tmp_path / "nope.xyz"), "--method",
                        "xtb", "--out", str(tmp_path / "s"))  # fmt: skip
    assert code == 2 and "nope.xyz" in err
    (tmp_path / "mol.weird").write_text("x")
    code, _, err = _run(capsys, "density", "compute", str(tmp_path / "mol.weird"), "--method",
                        "xtb", "--out", str(tmp_path / "s"))  # fmt: skip
    assert code == 2 and "mol.weird" in err


def test_incompatible_store_is_refused(tmp_path, capsys):
    xyz = tmp_path / "h2.xyz"
    xyz.write_text("2\nh2\nH 0 0 0\nH 0 0 0.74\n")
    store = tmp_path / "s"
    assert _run(capsys, "density", "compute", str(xyz), "--method", "promolecule", "--out",
                str(store), "--quiet", "--workers", "1")[0] == 0  # fmt: skip
    conn = sqlite3.connect(store / "rhoml.sqlite")
    conn.execute("UPDATE meta SET value='7' WHERE key='format_version'")
    conn.commit()
    conn.close()
    code, _, err = _run(capsys, "info", str(store))
    assert code == 2 and "incompatible" in err and len(err.strip().splitlines()) == 1


def test_compute_info_export_cube(tmp_path, capsys, water):
    from rhoml.io.xyz import write_xyz

    xyz = tmp_path / "water.xyz"
    write_xyz(xyz, [water])
    store = tmp_path / "w.rhoml"
    code, out, _ = _run(capsys, "density", "compute", str(xyz), "--method", "dft", "--basis",
                        "sto-3g", "--out", str(store), "--workers", "1", "--quiet")  # fmt: skip
    assert code == 0 and "1 ok" in out
    code, out, _ = _run(capsys, "info", str(store), "--json")
    info = json.loads(out)
    assert info["molecules"] == 1
    (method,) = info["methods"]
    assert info["methods"][method]["ok"] == 1
    for quantity in ("density", "gradient", "esp"):
        cube = tmp_path / f"{quantity}.cube"
        argv = ["density", "export-cube", str(store), "--index", "0", "--out", str(cube)]
        code, out, _ = _run(capsys, *argv, "--quantity", quantity, "--spacing", "0.4")
        assert code == 0
        mol, grid, values = read_cube(cube)
        assert mol.n_atoms == 3 and values.shape == grid.shape
    code, _, err = _run(capsys, "density", "export-cube", str(store), "--index", "5", "--out",
                        str(tmp_path / "x.cube"))  # fmt: skip
    assert code == 2 and "5" in err


def test_help_texts_exist(capsys):
    for argv in (["--help"], ["density", "compute", "--help"], ["density", "export-cube", "--help"],
                 ["info", "--help"], ["demo", "--help"], ["train", "--help"],
                 ["predict", "--help"]):  # fmt: skip
        assert main(argv) == 0
    assert "--scheduler" in capsys.readouterr().out


def test_python_dash_m_rhoml_runs_the_cli():
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "rhoml", "--version"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert res.returncode == 0 and res.stdout.startswith("rhoml ")


def test_shared_options_are_declared_once():
    """Every command's --out/--workers/--device/--seed/--quiet/--threads comes from
    rhoml.commands.options (one meaning, one default)."""
    import re
    from pathlib import Path

    import rhoml.commands

    folder = Path(rhoml.commands.__file__).parent
    pattern = re.compile(r'add_argument\(\s*"--(out|workers|device|seed|quiet|threads|limit)"')
    offenders = [f.name for f in folder.glob("*.py")
                 if f.name != "options.py" and pattern.search(f.read_text())]  # fmt: skip
    assert not offenders, offenders


def test_study_out_pointing_at_a_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["bench", "voxel-study", "--dataset", "qm9", "--sizes", "2", "--out", str(f)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["density", "compute", "x.xyz", "--method", "xtb", "--out", "s", "--workers", "-1"],
        ["density", "compute", "x.xyz", "--method", "xtb", "--out", "s", "--limit", "-1"],
        ["density", "export-cube", "s", "--index", "0", "--out", "c.cube", "--spacing", "0"],
        ["bench", "voxel-study", "--dataset", "qm9", "--sizes", "-5", "--out", "o"],
    ],
)
def test_bad_option_values_are_usage_errors(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("rhoml") and "error:" in err[-1]
