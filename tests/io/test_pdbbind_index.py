"""PDBbind index files of both formats (v2016–v2020 with a pK column; later releases with
binding data only), units, qualifiers, label CSVs and one-line errors."""

from __future__ import annotations

import math

import pytest

from rhoml.errors import InputError
from rhoml.io.pdbbind import parse_affinity, read_affinities, read_pdbbind_index

OLD = """# ==============================================================================
# List of protein-ligand complexes with known binding data in PDBbind v.2016
# PDB code, resolution, release year, -logKd/Ki, Kd/Ki, reference, ligand name
# ==============================================================================
3zzf  2.20  2012   0.40  Ki=400mM      // 3zzf.pdf (NLG)
1abc  2.00  2007   6.50  Kd=316nM      // 1abc.pdf (LIG)
2xyz  NMR   2010   4.25  Ki~56uM       // 2xyz.pdf (XYZ) incomplete ligand structure
4abc  1.90  2011   7.00  IC50=100nM    // 4abc.pdf (ABC)
"""

NEW = """# ==============================================================================
# List of protein-ligand complexes with known binding data in PDBbind v.2021
# PDB code, resolution, release year, binding data, reference, ligand name
# ==============================================================================
1aaa  2.00  2001  Kd=1nM         // 1aaa.pdf (AAA)
1bbb  1.50  2002  Ki=0.068nM     // 1bbb.pdf (BBB)
1ccc  2.50  2003  IC50=2.5uM     // 1ccc.pdf (CCC)
1ddd  3.00  2004  Kd<10uM        // 1ddd.pdf (DDD)
1eee  1.00  2005  Ki>1mM         // 1eee.pdf (EEE)
1fff  NMR   2006  Kd~30pM        // 1fff.pdf (FFF)
1ggg  2.10  2007  Ki<=500fM      // 1ggg.pdf (GGG)
1hhh  2.20  2008  IC50>=0.1M     // 1hhh.pdf (HHH)
1iii  2.30  2009  kd=1e-3uM      // 1iii.pdf (1-mer)
"""


@pytest.mark.parametrize(
    ("text", "measure", "qualifier", "molar"),
    [
        ("Kd=1nM", "Kd", "=", 1e-9),
        ("Ki=0.068nM", "Ki", "=", 6.8e-11),
        ("IC50=2.5uM", "IC50", "=", 2.5e-6),
        ("Kd<10uM", "Kd", "<", 1e-5),
        ("Ki>1mM", "Ki", ">", 1e-3),
        ("Kd~30pM", "Kd", "~", 3e-11),
        ("Ki<=500fM", "Ki", "<=", 5e-13),
        ("IC50>=0.1M", "IC50", ">=", 0.1),
        ("Kd=3µM", "Kd", "=", 3e-6),
    ],
)
def test_parse_affinity(text, measure, qualifier, molar):
    m, q, v = parse_affinity(text)
    assert (m, q) == (measure, qualifier)
    assert v == pytest.approx(molar, rel=1e-12)


@pytest.mark.parametrize(
    "text", ["Kd=5", "Kd=5nm", "Kx=5nM", "Kd==5nM", "Kd=-5nM", "5nM", "Kd=0nM"]
)
def test_parse_affinity_refuses(text):
    with pytest.raises(ValueError, match="binding datum"):
        parse_affinity(text)


def test_old_format_takes_the_pk_column(tmp_path):
    path = tmp_path / "INDEX_general_PL_data.2016"
    path.write_text(OLD)
    a = read_affinities(path)
    assert list(a) == ["3zzf", "1abc", "2xyz", "4abc"]
    assert a["1abc"].pK == 6.5 and a["1abc"].measure == "Kd" and a["1abc"].qualifier == "="
    assert a["3zzf"].pK == 0.4 and a["3zzf"].text == "Ki=400mM"
    assert a["2xyz"].qualifier == "~" and a["2xyz"].qualified and a["2xyz"].ligand == "XYZ"
    assert a["2xyz"].resolution == "NMR" and a["2xyz"].year == "2010"
    assert a["4abc"].measure == "IC50" and a["4abc"].line == 8
    assert read_pdbbind_index(path) == {"3zzf": 0.4, "1abc": 6.5, "2xyz": 4.25, "4abc": 7.0}
    assert set(read_pdbbind_index(path, exclude_ic50=True)) == {"3zzf", "1abc", "2xyz"}
    assert set(read_pdbbind_index(path, exclude_qualified=True)) == {"3zzf", "1abc", "4abc"}


def test_new_format_converts_units_to_pk(tmp_path):
    path = tmp_path / "INDEX_general_PL.2021"
    path.write_text(NEW)
    a = read_affinities(path)
    expected = {
        "1aaa": 9.0, "1bbb": -math.log10(6.8e-11), "1ccc": -math.log10(2.5e-6), "1ddd": 5.0,
        "1eee": 3.0, "1fff": -math.log10(3e-11), "1ggg": -math.log10(5e-13), "1hhh": 1.0,
        "1iii": 9.0,
    }  # fmt: skip
    assert {k: v.pK for k, v in a.items()} == pytest.approx(expected, abs=1e-12)
    assert [a[c].measure for c in ("1aaa", "1bbb", "1ccc", "1iii")] == ["Kd", "Ki", "IC50", "Kd"]
    assert [a[c].qualifier for c in ("1ddd", "1eee", "1fff", "1ggg", "1hhh")] == [
        "<", ">", "~", "<=", ">=",
    ]  # fmt: skip
    assert a["1bbb"].pK == pytest.approx(10.1675, abs=1e-4)
    assert a["1iii"].ligand == "1-mer"
    kept = read_pdbbind_index(path, exclude_ic50=True, exclude_qualified=True)
    assert set(kept) == {"1aaa", "1bbb", "1iii"}


def test_label_csv_with_measure_and_qualifier(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("code,pK,measure,qualifier\n1ABC,6.5,Kd,=\n2xyz,4.0,ic50,<\n3def,5.0,,\n")
    a = read_affinities(path)
    assert a["1abc"].pK == 6.5 and a["2xyz"].measure == "IC50" and a["2xyz"].qualifier == "<"
    assert a["3def"].measure == "" and a["3def"].qualifier == "="
    assert read_pdbbind_index(path, exclude_ic50=True) == {"1abc": 6.5, "3def": 5.0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (NEW + "1zzz  2.0  2001  Kd=5\n", "line 14: 4th field: binding datum 'Kd=5'"),
        (NEW + "1zzz  2.0  2001  Kd=5nm\n", "line 14: 4th field: binding datum 'Kd=5nm'"),
        (NEW + "1zzz  2.0  2001  EC50=5nM\n", "line 14: 4th field: binding datum 'EC50=5nM'"),
        (NEW + "1zzz  2.0  2001\n", "line 14: expected 4 or more fields, got 3"),
        (OLD + "bad!  2.0  2001  5.0  Kd=1nM\n", "line 9: 'bad!' is not a PDB code"),
        ("code,pK\n1abc,x\n", "line 2: pK 'x' is not a number"),
        ("code,pK,measure\n1abc,5,EC50\n", "line 2: measure 'EC50' is not one of"),
        ("code,pK,qualifier\n1abc,5,!\n", "line 2: qualifier '!' is not one of"),
    ],
)
def test_unreadable_lines_give_one_line_errors(tmp_path, text, expected):
    path = tmp_path / "INDEX_bad.2021"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_affinities(path)
    msg = str(info.value)
    assert str(path) in msg and expected in msg and "\n" not in msg
