"""IR bands: peak picking with positions, widths and uncertainties, spectral regions, and the
assignment of bands between spectra (experiment, MD, harmonic).

Positions are refined below the grid spacing by a parabola through the three highest points;
widths are full widths at half prominence (FWHM for an isolated band); intensities are relative
to the strongest mid-IR band of the spectrum given (normalise it first, e.g.
:meth:`rhoml.md.ir.EnsembleSpectrum.mean`). Every band also has a centroid: the
intensity-weighted mean wavenumber over its half-prominence extent, which does not jump between
the sub-maxima of a structured band the way the maximum does. Uncertainties come from resampled
spectra (bootstrap over trajectories): the standard deviation of the band maximum, and of the
centroid over the same fixed window, across the samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

#: (name, lowest, highest) cm⁻¹: the regions a peak table is split into.
REGIONS: tuple[tuple[str, float, float], ...] = (
    ("fingerprint <1500", 0.0, 1500.0),
    ("double/triple bonds 1500-2500", 1500.0, 2500.0),
    ("C-H stretch 2500-3200", 2500.0, 3200.0),
    ("O-H/N-H stretch >3200", 3200.0, np.inf),
)


def region_of(wavenumber: float) -> str:
    """The :data:`REGIONS` name of a wavenumber (cm⁻¹)."""
    for name, lo, hi in REGIONS:
        if lo <= wavenumber < hi:
            return name
    return REGIONS[-1][0]


@dataclass(frozen=True)
class Band:
    """One band: ``position`` (its maximum) and ``fwhm`` in cm⁻¹, ``intensity`` relative to the
    strongest mid-IR band, ``uncertainty`` (cm⁻¹) and ``intensity_std`` from resampled spectra
    (NaN when none were given), ``region`` (:data:`REGIONS`), ``centroid`` (cm⁻¹, NaN when not
    computed) and its ``centroid_uncertainty``."""

    position: float
    fwhm: float
    intensity: float
    uncertainty: float = float("nan")
    intensity_std: float = float("nan")
    region: str = ""
    centroid: float = float("nan")
    centroid_uncertainty: float = float("nan")

    @property
    def centre(self) -> float:
        """The centroid where there is one, else the maximum (cm⁻¹)."""
        return self.centroid if np.isfinite(self.centroid) else self.position

    @classmethod
    def from_row(cls, row: Mapping) -> Band:
        """The band of a :meth:`row` (e.g. read back from ``peaks.json``; rounded values)."""
        nan = float("nan")

        def get(key: str) -> float:
            return nan if row.get(key) is None else float(row[key])

        return cls(float(row["position_cm-1"]), get("fwhm_cm-1"), float(row["rel_intensity"]),
                   get("uncertainty_cm-1"), get("rel_intensity_std"), row.get("region", ""),
                   get("centroid_cm-1"), get("centroid_uncertainty_cm-1"))  # fmt: skip

    def row(self) -> dict:
        """The band rounded for tables: position and width to 0.1 cm⁻¹, intensity to 0.001."""
        d = asdict(self)
        return {
            "region": d["region"],
            "position_cm-1": round(d["position"], 1),
            "uncertainty_cm-1": _r(d["uncertainty"], 1),
            "fwhm_cm-1": _r(d["fwhm"], 1),
            "rel_intensity": round(d["intensity"], 3),
            "rel_intensity_std": _r(d["intensity_std"], 3),
            "centroid_cm-1": _r(d["centroid"], 1),
            "centroid_uncertainty_cm-1": _r(d["centroid_uncertainty"], 1),
        }


def _r(x: float, digits: int) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def _refine(wn: np.ndarray, y: np.ndarray, i: int) -> float:
    """Parabolic interpolation of the maximum at index ``i`` (cm⁻¹)."""
    if i <= 0 or i >= len(y) - 1:
        return float(wn[i])
    a, b, c = y[i - 1], y[i], y[i + 1]
    den = a - 2 * b + c
    off = 0.5 * (a - c) / den if den < 0 else 0.0
    return float(np.interp(i + np.clip(off, -0.5, 0.5), np.arange(len(wn)), wn))


def centroid(wn: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Intensity-weighted mean wavenumber of ``y`` (negative values clipped) over [lo, hi]
    cm⁻¹, the end points interpolated (trapezoidal weights); NaN when it holds no intensity."""
    if not hi > lo:
        return float("nan")
    inside = (wn > lo) & (wn < hi)
    x = np.concatenate([[lo], wn[inside], [hi]])
    w = np.clip(np.concatenate([[np.interp(lo, wn, y)], y[inside], [np.interp(hi, wn, y)]]),
                0.0, None)  # fmt: skip
    area = np.trapezoid(w, x)
    return float(np.trapezoid(w * x, x) / area) if area > 0 else float("nan")


def _sample_position(wn: np.ndarray, y: np.ndarray, i: int, half: int) -> float | None:
    """Position of the local maximum of ``y`` nearest index ``i`` within ±``half`` points."""
    lo, hi = max(i - half, 1), min(i + half + 1, len(y) - 1)
    j = lo + int(np.argmax(y[lo:hi]))
    if j in (lo, hi - 1) and not (y[j] >= y[j - 1] and y[j] >= y[j + 1]):
        return None  # no maximum inside the window
    return _refine(wn, y, j)


def find_bands(
    wavenumber: np.ndarray,
    intensity: np.ndarray,
    *,
    lo: float = 400.0,
    hi: float = 4000.0,
    min_prominence: float = 0.02,
    samples: np.ndarray | None = None,
    noise_sigmas: float = 3.0,
) -> list[Band]:
    """Bands of a spectrum on a uniform ascending grid (``wavenumber`` cm⁻¹, ``intensity``
    normalised to 1 on its strongest mid-IR band), in [lo, hi], ascending.

    A band is a local maximum with prominence ≥ ``min_prominence`` and, when resampled spectra
    ``samples`` (n, n_wn) are given, ≥ ``noise_sigmas`` × their standard deviation there; every
    region keeps its bands however weak they are next to the strongest band elsewhere."""
    from scipy.signal import find_peaks, peak_widths

    wn = np.asarray(wavenumber, float)
    y = np.asarray(intensity, float)
    if wn.shape != y.shape or wn.ndim != 1 or len(wn) < 5:
        raise ValueError(f"need matching 1-D wavenumber and intensity, got {wn.shape}, {y.shape}")
    std = samples.std(axis=0) if samples is not None and len(samples) > 1 else None
    idx, props = find_peaks(y, prominence=min_prominence)
    keep = (wn[idx] >= lo) & (wn[idx] <= hi)
    if std is not None:
        keep &= props["prominences"] >= noise_sigmas * std[idx]
    idx = idx[keep]
    if not len(idx):
        return []
    widths, _, left, right = peak_widths(y, idx, rel_height=0.5)
    grid = np.arange(len(wn))
    left_wn, right_wn = np.interp(left, grid, wn), np.interp(right, grid, wn)
    fwhm = right_wn - left_wn
    step = float(np.median(np.diff(wn)))
    bands = []
    for k, i in enumerate(idx):
        pos = _refine(wn, y, int(i))
        cen = centroid(wn, y, left_wn[k], right_wn[k])
        unc = ist = cen_unc = float("nan")
        if samples is not None and len(samples) > 1:
            half = max(3, int(round(0.5 * fwhm[k] / step)))
            found = [_sample_position(wn, s, int(i), half) for s in samples]
            found = [f for f in found if f is not None]
            if len(found) >= max(2, len(samples) // 2):
                unc = float(np.std(found))
            ist = float(std[i])
            cens = [centroid(wn, s, left_wn[k], right_wn[k]) for s in samples]
            cens = [c for c in cens if np.isfinite(c)]
            if len(cens) >= 2:
                cen_unc = float(np.std(cens))
        bands.append(Band(pos, float(fwhm[k]), float(y[i]), unc, ist, region_of(pos), cen,
                          cen_unc))  # fmt: skip
    return bands


def band_table(bands: Sequence[Band]) -> dict[str, list[dict]]:
    """Rows (:meth:`Band.row`) per region, regions in :data:`REGIONS` order (empty ones too)."""
    out: dict[str, list[dict]] = {name: [] for name, _, _ in REGIONS}
    for b in sorted(bands, key=lambda b: b.position):
        out[b.region or region_of(b.position)].append(b.row())
    return out


def format_band_table(bands: Sequence[Band], title: str = "") -> str:
    """A plain-text peak table, one block per region."""
    lines = [title] if title else []
    lines.append(f"  {'cm-1':>8} {'±':>6} {'FWHM':>7} {'rel.int':>8}")
    for region, rows in band_table(bands).items():
        lines.append(f"  {region}:" + ("" if rows else " none"))
        for r in rows:
            u = "" if r["uncertainty_cm-1"] is None else f"{r['uncertainty_cm-1']:.1f}"
            w = "" if r["fwhm_cm-1"] is None else f"{r['fwhm_cm-1']:.1f}"
            lines.append(f"  {r['position_cm-1']:8.1f} {u:>6} {w:>7} {r['rel_intensity']:8.3f}")
    return "\n".join(lines)


def smooth(wavenumber: np.ndarray, intensity: np.ndarray, fwhm: float,
           step: float = 0.5) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """``intensity`` on a uniform ``step`` cm⁻¹ grid, convolved with a Gaussian of ``fwhm``
    cm⁻¹ (e.g. to merge the rotational P/Q/R structure of a gas-phase band before peak
    picking); ``fwhm`` 0 only resamples."""
    wn = np.asarray(wavenumber, float)
    y = np.asarray(intensity, float)
    order = np.argsort(wn)
    wn, y = wn[order], y[order]
    grid = np.arange(wn[0], wn[-1] + step / 2, step)
    out = np.interp(grid, wn, y)
    if fwhm > 0:
        from scipy.ndimage import gaussian_filter1d

        out = gaussian_filter1d(out, fwhm / step / 2.3548, mode="nearest")
    return grid, out


def match(reference: Sequence[float], candidates: Sequence[float],
          max_shift: float = 150.0) -> list[int | None]:  # fmt: skip
    """One-to-one assignment of ``candidates`` to ``reference`` positions (cm⁻¹) minimising the
    total |shift| (Hungarian algorithm); pairs further apart than ``max_shift`` are left
    unassigned. Returns, per reference position, the candidate index or None."""
    from scipy.optimize import linear_sum_assignment

    r = np.asarray(reference, float)
    c = np.asarray(candidates, float)
    out: list[int | None] = [None] * len(r)
    if not len(r) or not len(c):
        return out
    cost = np.abs(r[:, None] - c[None, :])
    big = 1e6
    rows, cols = linear_sum_assignment(np.where(cost <= max_shift, cost, big))
    for i, j in zip(rows, cols, strict=True):
        if cost[i, j] <= max_shift:
            out[i] = int(j)
    return out


def assign_bands(experiment: Sequence[float], columns: Mapping[str, Sequence[float]],
                 max_shift: float = 150.0) -> list[dict]:  # fmt: skip
    """Band-assignment table: one row per experimental band (cm⁻¹) with, for each named column
    of computed positions (e.g. ``{"md": [...], "model_harmonic": [...], "dft_harmonic":
    [...]}``), the position assigned to it by :func:`match` and its shift (computed −
    experiment), None where nothing lies within ``max_shift``."""
    exp = [float(e) for e in experiment]
    rows = [{"region": region_of(e), "experiment_cm-1": round(e, 1)} for e in exp]
    for name, values in columns.items():
        vals = [float(v) for v in values]
        for row, j, e in zip(rows, match(exp, vals, max_shift), exp, strict=True):
            row[f"{name}_cm-1"] = None if j is None else round(vals[j], 1)
            row[f"{name}_shift_cm-1"] = None if j is None else round(vals[j] - e, 1)
    return rows


def shift_summary(rows: Sequence[Mapping], name: str) -> dict:
    """Mean and largest |shift| (cm⁻¹) of column ``name`` over the assigned rows of
    :func:`assign_bands`, and how many rows were assigned."""
    s = [abs(r[f"{name}_shift_cm-1"]) for r in rows if r.get(f"{name}_shift_cm-1") is not None]
    return {
        "assigned": len(s),
        "of": len(rows),
        "mean_abs_shift_cm-1": round(float(np.mean(s)), 1) if s else None,
        "max_abs_shift_cm-1": round(float(np.max(s)), 1) if s else None,
    }


def pr_branch_separation(numbers, positions, temperature: float = 298.15) -> float:
    """Separation (cm⁻¹) of the P- and R-branch maxima of a gas-phase band of the molecule
    (``numbers`` (n,), ``positions`` (n, 3) Å) at ``temperature`` K: 2.3583·√(B·T) with B the
    mean of its two smallest rotational constants in cm⁻¹ (Herzberg's formula for a linear or
    near-prolate top; methanol about 37, acetone and 2-propanol about 19 cm⁻¹ at 298 K)."""
    from ase.data import atomic_masses

    from rhoml.units import rotational_constant_cm

    m = atomic_masses[np.asarray(numbers, int)]
    x = np.asarray(positions, float)
    x = x - (m[:, None] * x).sum(0) / m.sum()
    inertia = np.einsum("i,ij,ik->jk", m, x, x)
    moments = np.linalg.eigvalsh(np.trace(inertia) * np.eye(3) - inertia)  # amu·Å², ascending
    b = sorted(rotational_constant_cm(moments[moments > 1e-8]))[:2]
    return float(2.3583 * np.sqrt(np.mean(b) * temperature))


def experiment_bands(wavenumber, absorbance, *, smoothing: float = 20.0,
                     min_prominence: float = 0.03, lo: float = 400.0,
                     hi: float = 4000.0) -> list[Band]:  # fmt: skip
    """Bands of an experimental spectrum (any absorbance-like units): resampled to 0.5 cm⁻¹,
    smoothed with a Gaussian of ``smoothing`` cm⁻¹ FWHM (merging rotational P/Q/R structure
    into band contours; use at least :func:`pr_branch_separation`), normalised on its strongest
    mid-IR band and picked by :func:`find_bands`. Each band's position is the centroid of the
    spectrum (smoothed by 2 cm⁻¹ only) over the band's half-maximum extent: the band centre of
    a P/Q/R contour, where the maximum of the smoothed contour leans to its stronger branch."""
    grid, y = smooth(wavenumber, absorbance, smoothing)
    mid = (grid >= 500.0) & (grid <= 4000.0)
    top = y[mid].max() if np.any(mid) else y.max()
    y = y / (top if top > 0 else 1.0)
    bands = find_bands(grid, y, lo=lo, hi=hi, min_prominence=min_prominence)
    if smoothing <= 2.0:
        return bands
    fine_x, fine_y = smooth(wavenumber, absorbance, 2.0)
    out = []
    for b in bands:
        i = int(np.argmin(np.abs(grid - b.position)))
        half = 0.5 * y[i]
        left, right = i, i
        while left > 0 and y[left - 1] >= half and y[left - 1] <= y[left] + 1e-12:
            left -= 1
        while right < len(y) - 1 and y[right + 1] >= half and y[right + 1] <= y[right] + 1e-12:
            right += 1
        pos = centroid(fine_x, fine_y, grid[left], grid[right])
        pos = pos if np.isfinite(pos) else b.position
        out.append(Band(pos, b.fwhm, b.intensity, b.uncertainty, b.intensity_std,
                        region_of(pos), pos))  # fmt: skip
    return out


def harmonic_bands(frequencies: Sequence[float], intensities: Sequence[float], fwhm: float, *,
                   lo: float = 400.0, hi: float = 4000.0, min_prominence: float = 0.02,
                   step: float = 0.5) -> list[Band]:  # fmt: skip
    """Bands of a harmonic stick spectrum (``frequencies`` cm⁻¹, ``intensities`` km/mol)
    broadened by Gaussians of ``fwhm`` cm⁻¹ and picked by :func:`find_bands` like an MD
    spectrum: modes closer than about ``fwhm`` merge into one band whose centroid is their
    intensity-weighted position. Compare harmonic and MD bands at the same ``fwhm`` (e.g.
    :func:`line_width` of the MD bands), so that neither side can choose among more lines."""
    from rhoml.md.ir import broaden, mid_ir_max

    if not fwhm > 0:
        raise ValueError(f"fwhm must be > 0 cm^-1, got {fwhm}")
    f = np.asarray(frequencies, float)
    top = max(hi, float(f.max()) if len(f) else hi) + 5 * fwhm
    grid = np.arange(0.0, top + step / 2, step)
    y = broaden(f, intensities, grid, fwhm, shape="gaussian")
    peak = mid_ir_max(grid, y)
    if not peak > 0:
        return []
    return find_bands(grid, y / peak, lo=lo, hi=hi, min_prominence=min_prominence)


def line_width(bands: Sequence[Band], default: float = 20.0, lo: float = 500.0) -> float:
    """Median FWHM (cm⁻¹) of the ``bands`` above ``lo`` cm⁻¹ (``default`` when there are none):
    the width to broaden harmonic lines with before comparing them with these bands."""
    w = [b.fwhm for b in bands if b.position >= lo and np.isfinite(b.fwhm) and b.fwhm > 0]
    return round(float(np.median(w)), 1) if w else float(default)


def compare_with_experiment(
    experiment: Sequence[Band],
    *,
    md: Sequence[Band] | None = None,
    harmonic: Mapping | None = None,
    max_shift: float = 150.0,
    harmonic_fwhm: float | None = None,
) -> tuple[list[dict], dict]:
    """The band-assignment table of experimental bands against MD bands (column ``md``, their
    :attr:`Band.centre`: the centroid, as the experimental positions are) and harmonic results
    (``{"model harmonic": HarmonicIR, ...}`` → columns ``model_harmonic`` ...): their stick
    spectra broadened to ``harmonic_fwhm`` cm⁻¹ (default: :func:`line_width` of ``md``, 20
    without MD) and picked as bands (:func:`harmonic_bands`, centroids), so every column offers
    the assignment bands of the same resolution; with :func:`shift_summary` per column.
    Returns (rows, summary)."""
    fwhm = harmonic_fwhm if harmonic_fwhm is not None else line_width(md or [])
    columns: dict[str, list[float]] = {}
    if md is not None:
        columns["md"] = [b.centre for b in md]
    for name, h in (harmonic or {}).items():
        columns[name.replace(" ", "_")] = [
            b.centre for b in harmonic_bands(h.frequencies, h.intensities, fwhm)
        ]
    rows = assign_bands([b.centre for b in experiment], columns, max_shift)
    return rows, {c: shift_summary(rows, c) for c in columns}


def mode_deviation(model, reference, floor: float = 500.0, tolerance: float = 20.0) -> dict:
    """Mode-by-mode harmonic deviation (cm⁻¹) of ``model`` from ``reference`` (e.g. a model's
    against DFT's, each at its own minima): frequency arrays, or
    :class:`~rhoml.md.ir.HarmonicIR` results whose conformers are paired in order
    (:meth:`~rhoml.md.ir.HarmonicIR.blocks`); within each, modes are paired in ascending
    order. Over the reference modes above ``floor``: largest and mean |Δ|, and how many lie
    within ``tolerance``. The model error without any band picking or experiment."""

    def blocks(x) -> list[np.ndarray]:
        if hasattr(x, "blocks"):
            return [np.sort(f) for _, f, _ in x.blocks()]
        return [np.sort(np.asarray(x, float))]

    bm, br = blocks(model), blocks(reference)
    if len(bm) != len(br) or any(len(f) != len(r) for f, r in zip(bm, br, strict=True)):
        raise ValueError(f"modes {[len(f) for f in bm]} against reference modes "
                         f"{[len(r) for r in br]}")  # fmt: skip
    f, r = np.concatenate(bm), np.concatenate(br)
    above = r > floor
    d = np.abs(f - r)[above]
    return {
        "n_modes": int(above.sum()),
        "max_abs_cm-1": round(float(d.max()), 1) if len(d) else None,
        "mean_abs_cm-1": round(float(d.mean()), 1) if len(d) else None,
        f"within_{tolerance:g}": int(np.sum(d <= tolerance)),
    }


def model_vs_dft(harmonic: Mapping) -> dict | None:
    """:func:`mode_deviation` of ``harmonic["model harmonic"]`` from ``harmonic["DFT
    harmonic"]`` when both are there (``rhoml ir --harmonic --dft-reference``), else None."""
    if "model harmonic" not in harmonic or "DFT harmonic" not in harmonic:
        return None
    return mode_deviation(harmonic["model harmonic"], harmonic["DFT harmonic"])
