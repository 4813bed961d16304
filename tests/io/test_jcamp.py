"""JCAMP-DX IR spectra: synthetic files in the AFFN and compressed (SQZ/DIF/DUP) (X++(Y..Y))
forms and as (XY..XY) pairs, XFACTOR/YFACTOR, transmittance → absorbance, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from rhoml.errors import InputError
from rhoml.io.jcamp import read_jcamp, read_jcamp_spectrum

SQZ = "@ABCDEFGHI"
SQZ_NEG = "abcdefghi"
DIF = "%JKLMNOPQR"
DIF_NEG = "jklmnopqr"
DUP = "STUVWXYZs"


def _sqz(v: int) -> str:
    s = str(abs(v))
    if v < 0:
        return SQZ_NEG[int(s[0]) - 1] + s[1:]
    return SQZ[int(s[0])] + s[1:]


def _dif(d: int) -> str:
    s = str(abs(d))
    if d < 0:
        return DIF_NEG[int(s[0]) - 1] + s[1:]
    return DIF[int(s[0])] + s[1:]


def _difdup_line(x: float, ys: list[int]) -> str:
    """One DIFDUP line: X, the first Y squeezed, then differences with repeats as DUP counts."""
    out = [f"{x:g} ", _sqz(ys[0])]
    diffs = [b - a for a, b in zip(ys[:-1], ys[1:], strict=True)]
    k = 0
    while k < len(diffs):
        n = 1
        while k + n < len(diffs) and diffs[k + n] == diffs[k] and n < 9:
            n += 1
        out.append(_dif(diffs[k]) + (DUP[n - 1] if n > 1 else ""))
        k += n
    return "".join(out)


def _spectrum():
    x = 1000.0 + 2.0 * np.arange(60)  # cm⁻¹
    a = 0.05 + 0.8 * np.exp(-0.5 * ((x - 1050.0) / 8.0) ** 2)
    a[20:26] = a[20]  # a flat stretch: repeated differences (DUP)
    return x, np.round(a * 1000).astype(int)  # integers; YFACTOR 0.001


def _header(kind: str, yunits: str = "ABSORBANCE", xunits: str = "1/CM", n: int = 60) -> str:
    return (
        "##TITLE=synthetic\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n"
        f"##XUNITS={xunits}\n##YUNITS={yunits}\n##XFACTOR=1.0\n##YFACTOR=0.001\n"
        f"##FIRSTX=1000\n##LASTX=1118\n##DELTAX=2\n##NPOINTS={n}\n##XYDATA={kind}\n"
    )


def test_affn_and_compressed_forms_give_the_same_spectrum(tmp_path):
    x, y = _spectrum()
    affn = _header("(X++(Y..Y))")
    dif = _header("(X++(Y..Y))")
    for i in range(0, 60, 10):
        affn += f"{x[i]:g} " + " ".join(str(v) for v in y[i : i + 10]) + "\n"
        # DIF lines repeat the last Y of the line before as a check value
        chunk = list(y[i : i + 11]) if i + 10 < 60 else list(y[i:])
        dif += _difdup_line(x[i], [int(v) for v in chunk]) + "\n"
    affn += "##END=\n"
    dif += "##END=\n"
    assert any(c in dif for c in DUP) and any(c in dif for c in DIF_NEG)
    (tmp_path / "affn.jdx").write_text(affn)
    (tmp_path / "dif.jdx").write_text(dif)
    w1, a1 = read_jcamp(tmp_path / "affn.jdx")
    w2, a2 = read_jcamp(tmp_path / "dif.jdx")
    np.testing.assert_allclose(w1, x)
    np.testing.assert_allclose(a1, y * 0.001)  # YFACTOR applied
    np.testing.assert_allclose(w2, w1)
    np.testing.assert_allclose(a2, a1)


def test_xy_pairs_in_micrometres_and_percent_transmittance(tmp_path):
    wn = np.array([3000.0, 2000.0, 1500.0, 1000.0])
    t = np.array([90.0, 50.0, 10.0, 100.0])  # percent
    text = (
        "##TITLE=pairs\n##JCAMP-DX=5.01\n##DATA TYPE=INFRARED SPECTRUM\n##XUNITS=MICROMETERS\n"
        "##YUNITS=TRANSMITTANCE\n##XFACTOR=0.5\n##YFACTOR=1\n##NPOINTS=4\n##XYPOINTS=(XY..XY)\n"
    )
    text += "\n".join(f"{2 * 1e4 / w:.6f}, {v:g}" for w, v in zip(wn, t, strict=True))
    text += "\n##END=\n"
    (tmp_path / "p.jdx").write_text(text)
    s = read_jcamp_spectrum(tmp_path / "p.jdx")
    order = np.argsort(wn)
    np.testing.assert_allclose(s.wavenumber, wn[order], rtol=1e-6)  # XFACTOR, µm → cm⁻¹
    np.testing.assert_allclose(s.absorbance, -np.log10(t[order] / 100), atol=1e-9)
    assert "transmittance" in s.yunits


def test_fractional_transmittance(tmp_path):
    x, y = _spectrum()
    text = _header("(X++(Y..Y))", yunits="TRANSMITTANCE")
    for i in range(0, 60, 10):
        text += f"{x[i]:g} " + " ".join(str(v) for v in y[i : i + 10]) + "\n"
    (tmp_path / "t.jdx").write_text(text + "##END=\n")
    _, a = read_jcamp(tmp_path / "t.jdx")
    np.testing.assert_allclose(a, -np.log10(y * 0.001))


@pytest.mark.parametrize(
    "text, message",
    [
        ("wavenumber,absorbance\n1000,0.1\n", "not a JCAMP-DX file"),
        ("##TITLE=x\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n##END=\n", "no IR data"),
        (
            "##TITLE=x\n##JCAMP-DX=4.24\n##DATA TYPE=NMR SPECTRUM\n##XUNITS=HZ\n"
            "##XYPOINTS=(XY..XY)\n1,2\n##END=\n",
            "not an IR spectrum",
        ),  # fmt: skip
        (
            "##TITLE=x\n##JCAMP-DX=4.24\n##DATA TYPE=INFRARED SPECTRUM\n##FIRSTX=1\n##LASTX=3\n"
            "##NPOINTS=3\n##XYDATA=(X++(Y..Y))\n1 5 6 7 8\n##END=\n",
            "y values for",
        ),  # fmt: skip
    ],
)
def test_bad_files_are_one_line_input_errors(tmp_path, text, message):
    p = tmp_path / "bad.jdx"
    p.write_text(text)
    with pytest.raises(InputError, match=message) as exc:
        read_jcamp(p)
    assert "\n" not in str(exc.value) and "bad.jdx" in str(exc.value)
    with pytest.raises(InputError, match="no such file"):
        read_jcamp(tmp_path / "missing.jdx")


def test_shared_gas_phase_spectra():
    folder = shared_path("data", "ir_gas_phase")
    w, a = read_jcamp(folder / "methanol.jdx")  # transmittance, (X++(Y..Y))
    assert np.all(np.diff(w) > 0) and w[0] == pytest.approx(463.438)
    assert len(w) == 3567 and np.all(np.isfinite(a))
    top = w[np.argmax(a)]
    assert 1000 < top < 1060  # C–O stretch, the strongest methanol band
    w, a = read_jcamp(folder / "acetone.jdx")  # absorption coefficient with YFACTOR
    assert 1700 < w[np.argmax(a)] < 1760  # C=O stretch


def test_write_jcamp_round_trips_through_the_reader(tmp_path):
    from rhoml.io.jcamp import write_jcamp

    x = np.arange(400.0, 4000.0, 1.5)
    y = np.exp(-0.5 * ((x - 1650.0) / 12.0) ** 2) - 0.01
    write_jcamp(tmp_path / "a.jdx", x[::-1], y[::-1], title="round trip")  # descending input
    s = read_jcamp_spectrum(tmp_path / "a.jdx")
    assert s.title == "round trip"
    np.testing.assert_allclose(s.wavenumber, x, atol=1e-6)
    np.testing.assert_allclose(s.absorbance, y, atol=2e-5)  # 5 significant digits
    with pytest.raises(InputError, match="evenly spaced"):
        write_jcamp(tmp_path / "b.jdx", [1.0, 2.0, 4.0], [0.0, 1.0, 0.0])
    with pytest.raises(InputError, match="non-finite"):
        write_jcamp(tmp_path / "c.jdx", [1.0, 2.0], [0.0, np.nan])
