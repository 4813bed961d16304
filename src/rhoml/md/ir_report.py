"""Files and plots of IR results: ``ir.csv`` with a commented header saying how the spectrum
was made, band and harmonic tables (CSV + JSON), and the comparison plot (wavenumber decreasing
to the right, every curve normalised on its strongest mid-IR band)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from rhoml.md.ir import MID_IR, EnsembleSpectrum, HarmonicIR, broaden, mid_ir_max

#: Lorentzian FWHM (cm⁻¹) harmonic lines are broadened with in plots
HARMONIC_FWHM = 20.0


def write_ir_csv(path, spectrum: EnsembleSpectrum, metadata: Mapping[str, str], *,
                 hi: float = 4500.0, bootstrap: int = 200, seed: int = 0) -> None:  # fmt: skip
    """``wavenumber_cm-1, intensity, intensity_std`` up to ``hi`` cm⁻¹ (intensity normalised
    on the strongest mid-IR band; std: bootstrap over trajectories), after ``# key: value``
    header lines from ``metadata`` (model run, temperature, time step, ...) and the units."""
    mean = spectrum.mean()
    std = spectrum.std(bootstrap, seed)
    m = mean.wavenumber <= hi
    lines = [f"# {k}: {v}" for k, v in metadata.items()]
    lines += [
        f"# units: wavenumber cm^-1; intensity arbitrary, 1 = strongest band in "
        f"{MID_IR[0]:g}-{MID_IR[1]:g} cm^-1; intensity_std = bootstrap standard error over "
        f"{spectrum.n_trajectories} trajectories (same units)",
        "wavenumber_cm-1,intensity,intensity_std",
    ]
    rows = np.column_stack([mean.wavenumber[m], mean.intensity[m], std[m]])
    body = "\n".join(f"{w:.2f},{y:.6f},{e:.6f}" for w, y, e in rows)
    Path(path).write_text("\n".join(lines) + "\n" + body + "\n")


def write_rows(stem, rows: Sequence[Mapping], header: Mapping[str, str] | None = None) -> None:
    """``stem.csv`` (``# key: value`` header lines, then the rows) and ``stem.json``
    (``{"metadata": header, "rows": rows}``); missing values are empty cells / null."""
    stem = Path(stem)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with open(stem.with_suffix(".csv"), "w", newline="") as fh:
        for k, v in (header or {}).items():
            fh.write(f"# {k}: {v}\n")
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: "" if r.get(k) is None else r.get(k) for k in keys})
    payload = {"metadata": dict(header or {}), "rows": list(rows)}
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")


def harmonic_rows(results: Mapping[str, HarmonicIR]) -> list[dict]:
    """One row per mode and method: ``method, mode, frequency_cm-1, intensity_km_mol``, with
    ``conformer`` (1-based) and its ``weight`` first when a result holds several conformers
    (intensities are then those of the conformer alone)."""
    rows = []
    for name, h in results.items():
        blocks = h.blocks()
        for c, (w, freqs, ints) in enumerate(blocks):
            for k, (f, i) in enumerate(zip(freqs, ints, strict=True)):
                row = {"method": name}
                if len(blocks) > 1:
                    row |= {"conformer": c + 1, "weight": round(float(w), 4)}
                rows.append(row | {"mode": k + 1, "frequency_cm-1": round(float(f), 1),
                                   "intensity_km_mol": round(float(i), 2)})  # fmt: skip
    return rows


def format_harmonic(results: Mapping[str, HarmonicIR]) -> str:
    """Plain-text side-by-side harmonic table (cm⁻¹, km/mol), one block per conformer."""
    names = list(results)
    per = {name: results[name].blocks() for name in names}
    n_conf = max(len(b) for b in per.values())
    head = "  mode " + " ".join(f"{name + ' cm-1':>22} {'km/mol':>8}" for name in names)
    lines = []
    for c in range(n_conf):
        if n_conf > 1:
            w = [per[name][c][0] for name in names if c < len(per[name])]
            lines.append(f"  conformer {c + 1} (weight {w[0]:.2f}):")
        lines.append(head)
        n = max(len(per[name][c][1]) for name in names if c < len(per[name]))
        for k in range(n):
            cells = []
            for name in names:
                blk = per[name][c] if c < len(per[name]) else (0.0, [], [])
                if k < len(blk[1]):
                    cells.append(f"{blk[1][k]:22.1f} {blk[2][k]:8.2f}")
                else:
                    cells.append(" " * 31)
            lines.append(f"  {k + 1:4d} " + " ".join(cells))
    return "\n".join(lines)


def format_assignment(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    """Plain-text band-assignment table (:func:`rhoml.md.bands.assign_bands` rows)."""
    head = f"  {'experiment':>10} " + " ".join(f"{c:>16} {'shift':>7}" for c in columns)
    lines = [head]
    for r in rows:
        cells = []
        for c in columns:
            v, d = r.get(f"{c}_cm-1"), r.get(f"{c}_shift_cm-1")
            cells.append(f"{'-' if v is None else f'{v:.1f}':>16} "
                         f"{'' if d is None else f'{d:+.1f}':>7}")  # fmt: skip
        lines.append(f"  {r['experiment_cm-1']:10.1f} " + " ".join(cells))
    return "\n".join(lines)


def plot_ir(path, **kwargs) -> None:
    """Save :func:`ir_figure` (same keywords) as a PNG."""
    import matplotlib.pyplot as plt

    fig = ir_figure(**kwargs)
    fig.savefig(Path(path), dpi=120)
    plt.close(fig)


def ir_figure(
    *,
    md: EnsembleSpectrum | None = None,
    md_label: str = "",
    harmonic: Mapping[str, HarmonicIR] | None = None,
    experiment: tuple[np.ndarray, np.ndarray, str] | None = None,
    title: str = "",
    xlim: tuple[float, float] = (4000.0, 400.0),
    bootstrap: int = 200,
):
    """The comparison plot (a matplotlib figure): experiment (absorbance), the MD spectrum with
    a shaded ±1σ bootstrap band, harmonic lines as sticks and Lorentzians (FWHM
    :data:`HARMONIC_FWHM`); each normalised on its strongest mid-IR band; wavenumber decreasing
    to the right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    hi, lo = max(xlim), min(xlim)
    if experiment is not None:
        wn, y, label = experiment
        wn, y = np.asarray(wn, float), np.asarray(y, float)
        top = mid_ir_max(wn, y)
        ax.plot(wn, y / (top if top > 0 else 1), color="k", lw=0.8, label=label)
    if md is not None:
        mean = md.mean()
        m = (mean.wavenumber >= lo - 50) & (mean.wavenumber <= hi + 50)
        ax.plot(mean.wavenumber[m], mean.intensity[m], color="C0", lw=1.2, label=md_label)
        if md.n_trajectories > 1:
            std = md.std(bootstrap)[m]
            ax.fill_between(mean.wavenumber[m], np.clip(mean.intensity[m] - std, 0, None),
                            mean.intensity[m] + std, color="C0", alpha=0.25, lw=0,
                            label="±1σ (bootstrap over trajectories)")  # fmt: skip
    grid = np.linspace(lo, hi, 4000)
    for k, (name, h) in enumerate((harmonic or {}).items()):
        color = f"C{k + 1}"
        f, i = np.asarray(h.frequencies), np.asarray(h.intensities)
        keep = f > 0
        f, i = f[keep], i[keep]
        if not len(f):
            continue
        y = broaden(f, i, grid, HARMONIC_FWHM)
        top = mid_ir_max(grid, y)
        ax.plot(grid, y / (top if top > 0 else 1), color=color, lw=1, ls="--",
                label=f"{name} (Lorentzian {HARMONIC_FWHM:g} cm⁻¹)")  # fmt: skip
        ref = i[(f >= MID_IR[0]) & (f <= MID_IR[1])]
        scale = ref.max() if len(ref) and ref.max() > 0 else max(i.max(), 1e-12)
        ax.vlines(f, 0, np.clip(i / scale, 0, 1.05), colors=color, lw=0.8, alpha=0.7)
    ax.set_xlim(hi, lo)  # wavenumber decreasing to the right, as IR spectra are read
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_ylabel(f"intensity (1 = strongest band {MID_IR[0]:g}–{MID_IR[1]:g} cm⁻¹)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
