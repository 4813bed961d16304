"""JCAMP-DX infrared spectra (e.g. NIST gas-phase spectra) through the ``jcamp`` package (MIT).

:func:`read_jcamp` returns the spectrum as wavenumber (cm⁻¹, ascending) and absorbance-like
intensity: AFFN and compressed (SQZ/DIF/DUP) ``(X++(Y..Y))`` data and ``(XY..XY)`` pairs, with
XFACTOR/YFACTOR applied by the reader; x in micrometres is turned into cm⁻¹; transmittance
(fraction or percent) into absorbance A = −log10 T. Absorbance and absorption coefficients are
returned as they are (their scale does not matter for band positions). A file that is not
JCAMP-DX, holds no IR spectrum or no data block is refused with a one-line
:class:`~rhoml.errors.InputError`.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rhoml.errors import InputError

__all__ = ["JcampSpectrum", "read_jcamp", "read_jcamp_spectrum", "write_jcamp"]


@dataclass
class JcampSpectrum:
    """``wavenumber`` (n,) cm⁻¹ ascending; ``absorbance`` (n,) (A = −log10 T for a
    transmittance file, else the file's y units, ``yunits``); ``title``; ``header`` (the file's
    ``##`` labels, lower-case keys)."""

    wavenumber: np.ndarray
    absorbance: np.ndarray
    title: str = ""
    yunits: str = ""
    header: dict = field(default_factory=dict)


def read_jcamp(path) -> tuple[np.ndarray, np.ndarray]:
    """(wavenumber cm⁻¹ ascending, absorbance) of the IR spectrum in JCAMP-DX file ``path``."""
    s = read_jcamp_spectrum(path)
    return s.wavenumber, s.absorbance


def read_jcamp_spectrum(path) -> JcampSpectrum:
    """The IR spectrum in JCAMP-DX file ``path`` with its title and header."""
    import jcamp

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    try:
        head = p.read_bytes()[:4096].decode("utf-8", "ignore")
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror or type(exc).__name__})") from None
    first = next((ln.strip() for ln in head.splitlines() if ln.strip()), "")
    if not first.startswith("##") or "##JCAMP" not in head.upper():
        raise InputError(f"{p}: not a JCAMP-DX file (no ##TITLE/##JCAMP-DX header)")
    try:
        with p.open("rb") as fh, contextlib.redirect_stdout(io.StringIO()):
            d = jcamp.read(fh)  # the reader prints its X/Y checks: keep them off stdout
    except Exception as exc:  # noqa: BLE001 - the reader raises bare Exception on bad data
        raise InputError(f"{p}: unreadable JCAMP-DX data ({exc})") from None
    if d.get("children"):
        kids = [c for c in d["children"] if len(c.get("y", ())) > 0 and _is_ir(c)]
        if not kids:
            raise InputError(f"{p}: no IR spectrum block in this compound JCAMP-DX file")
        d = kids[0]
    dtype = str(d.get("data type", d.get("datatype", ""))).upper()
    if dtype and "INFRARED" not in dtype and "IR " not in dtype + " ":
        raise InputError(f"{p}: not an IR spectrum (##DATA TYPE={dtype})")
    x = np.asarray(d.get("x", ()), float)
    y = np.asarray(d.get("y", ()), float)
    if not len(y):
        raise InputError(f"{p}: no IR data block (##XYDATA or ##XYPOINTS)")
    if len(x) != len(y):
        raise InputError(f"{p}: {len(y)} y values for {len(x)} x values (check ##NPOINTS)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError(f"{p}: non-finite values in the data block")
    xunits = str(d.get("xunits", "1/CM")).upper().replace(" ", "")
    if xunits in ("MICROMETERS", "MICRONS", "UM", "MICROMETER"):
        if np.any(x <= 0):
            raise InputError(f"{p}: non-positive wavelengths")
        x = 1e4 / x
    elif xunits not in ("1/CM", "CM-1", "CM^-1", "CM**-1", "WAVENUMBERS", "WAVENUMBER"):
        raise InputError(f"{p}: x units {d.get('xunits')!r}: expected 1/CM or MICROMETERS")
    yunits = str(d.get("yunits", ""))
    if "TRANSMIT" in yunits.upper():
        t = y / 100.0 if np.nanmax(y) > 2.0 else y  # percent or fraction
        y = -np.log10(np.clip(t, 1e-6, None))
        yunits = "absorbance (from transmittance)"
    order = np.argsort(x, kind="stable")
    header = {k: v for k, v in d.items() if k not in ("x", "y", "children")}
    return JcampSpectrum(x[order], y[order], str(d.get("title", "")), yunits, header)


def _is_ir(block: dict) -> bool:
    return "INFRARED" in str(block.get("data type", block.get("datatype", ""))).upper()


def write_jcamp(path, wavenumber, intensity, *, title: str = "", yunits: str = "ABSORBANCE",
                origin: str = "rhoml", digits: int = 5) -> Path:  # fmt: skip
    """Write a spectrum (``wavenumber`` (n,) cm⁻¹ on an even grid, ``intensity`` (n,)) as a
    JCAMP-DX 4.24 infrared file in the ``(X++(Y..Y))`` AFFN form, y stored as integers with
    ``YFACTOR`` = max|y|·10^-``digits``: what :func:`read_jcamp` and other JCAMP-DX programs
    read. Returns the path."""
    x = np.asarray(wavenumber, dtype=float)
    y = np.asarray(intensity, dtype=float)
    if x.ndim != 1 or x.shape != y.shape or len(x) < 2:
        raise InputError(f"{path}: a JCAMP-DX spectrum needs matching 1-D x and y (≥ 2 points)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError(f"{path}: spectrum has non-finite values")
    step = np.diff(x)
    if not np.allclose(step, step[0], rtol=1e-6, atol=1e-9) or step[0] == 0:
        raise InputError(f"{path}: JCAMP-DX (X++(Y..Y)) needs evenly spaced wavenumbers")
    top = float(np.abs(y).max()) or 1.0
    yfactor = top * 10.0**-digits
    ints = np.rint(y / yfactor).astype(np.int64)
    head = [f"##TITLE={title or 'spectrum'}", "##JCAMP-DX=4.24",
            "##DATA TYPE=INFRARED SPECTRUM", f"##ORIGIN={origin}", "##OWNER=public",
            "##XUNITS=1/CM", f"##YUNITS={yunits}", "##XFACTOR=1", f"##YFACTOR={yfactor:.8g}",
            f"##FIRSTX={x[0]:.6f}", f"##LASTX={x[-1]:.6f}", f"##DELTAX={step[0]:.8g}",
            f"##FIRSTY={ints[0] * yfactor:.8g}", f"##NPOINTS={len(x)}",
            "##XYDATA=(X++(Y..Y))"]  # fmt: skip
    body = [f"{x[i]:.6f} " + " ".join(str(v) for v in ints[i : i + 8])
            for i in range(0, len(x), 8)]  # fmt: skip
    p = Path(path)
    p.write_text("\n".join(head + body + ["##END="]) + "\n")
    return p
