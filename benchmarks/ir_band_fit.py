"""Issue 14 item 2: would a fitted band profile give positions that vary less across seeds
than band maxima or centroids? Reads the per-seed spectra committed by
``benchmarks/ir_protocol.py`` (``results/ir_protocol_default.json``: 6 seeds of the default
protocol, 8 trajectories each), fits each seed-0 band in every seed (a Gaussian or a Lorentzian
plus a linear baseline, least squares over ± one FWHM around the band's local maximum) and
compares the spread (max − min) and standard deviation over seeds of the fitted centres with
those of the maxima and centroids the protocol reports. Seconds, no simulation.

    python benchmarks/ir_band_fit.py [--source ir_protocol_default]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402


def fit_centre(wn: np.ndarray, y: np.ndarray, centre: float, fwhm: float, shape: str) -> float:
    """Centre (cm⁻¹) of one ``shape`` ('gaussian' | 'lorentzian') profile plus a linear
    baseline fitted to ``y`` over ``centre`` ± ``fwhm``."""
    lo, hi = centre - fwhm, centre + fwhm
    m = (wn >= lo) & (wn <= hi)
    x, yy = wn[m], y[m]

    def residual(p):
        a, x0, g, b0, b1 = p
        if shape == "lorentzian":
            prof = a / (1.0 + ((x - x0) / (g / 2.0)) ** 2)
        else:
            prof = a * np.exp(-4.0 * np.log(2.0) * ((x - x0) / g) ** 2)
        return prof + b0 + b1 * (x - centre) - yy

    p0 = [float(yy.max()), float(x[np.argmax(yy)]), fwhm, 0.0, 0.0]
    lower = [0.0, lo, 2.0, -np.inf, -np.inf]
    upper = [np.inf, hi, 4.0 * fwhm, np.inf, np.inf]
    return float(least_squares(residual, p0, bounds=(lower, upper)).x[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="ir_protocol_default")
    args = ap.parse_args()
    src = json.loads((RESULTS / f"{args.source}.json").read_text())
    wn = np.asarray(src["wavenumber_cm-1"], float)
    spectra = [np.asarray(p["spectrum"], float) for p in src["per_seed"]]
    rows = []
    for band in src["bands_across_seeds"]:
        c0 = band["seed0_cm-1"]
        fwhm = next(b["fwhm_cm-1"] for b in src["per_seed"][0]["bands"]
                    if abs(b["position_cm-1"] - c0) < 0.05)  # fmt: skip
        row = {"band_cm-1": c0, "fwhm_cm-1": fwhm, "region": band["region"]}
        maxima = [p for p in band["positions"] if p is not None]
        row["maximum"] = maxima
        row["centroid"] = [p for p in band["centroids"] if p is not None]
        for shape in ("gaussian", "lorentzian"):
            fitted = []
            for y in spectra:
                near = (wn > c0 - fwhm / 2) & (wn < c0 + fwhm / 2)
                start = float(wn[near][np.argmax(y[near])])
                fitted.append(round(fit_centre(wn, y, start, fwhm, shape), 1))
            row[shape] = fitted
        for key in ("maximum", "centroid", "gaussian", "lorentzian"):
            v = np.asarray(row[key], float)
            row[f"{key}_spread"] = round(float(v.max() - v.min()), 1)
            row[f"{key}_std"] = round(float(v.std(ddof=1)), 1)
        rows.append(row)
    keys = ("maximum", "centroid", "gaussian", "lorentzian")
    medians = {k: round(float(np.median([r[f"{k}_std"] for r in rows])), 1) for k in keys}
    lines = [
        f"Source: `benchmarks/results/{args.source}.json` ({len(spectra)} seeds of the default "
        "protocol, each the mean spectrum of its 8 trajectories; spectra as committed, 4 "
        "significant digits). Fit: one Gaussian or Lorentzian plus a linear baseline over ± one "
        "FWHM (the seed-0 band width) around each seed's local maximum. Standard deviation "
        "over seeds (spread = max − min in brackets), cm⁻¹.",
        "",
        "| band (seed 0) | FWHM | maximum | centroid | Gaussian fit | Lorentzian fit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r[f'{k}_std']} ({r[f'{k}_spread']})" for k in keys)
        lines.append(f"| {r['band_cm-1']} ({r['region']}) | {r['fwhm_cm-1']} | {cells} |")
    lines += [
        "",
        "Median standard deviation over the bands: "
        + ", ".join(f"{k} {v}" for k, v in medians.items())
        + " cm⁻¹.",
        "",
        "Reading: fitted centres move across seeds as much as centroids do; the seed-to-seed "
        "differences are in the spectra themselves (sampling noise of 8 × 4 ps), not in how a "
        "position is read off them. Only more sampling narrows them (16 pooled trajectories "
        "halve the 1200–1500 window's spread, `ir_protocol_default.md`).",
    ]
    data = {"title": "Band positions across seeds: maxima, centroids and fitted profiles",
            "source": args.source, "bands": rows, "median_std_cm-1": medians,
            "machine": machine()}  # fmt: skip
    write_results("ir_band_fit", data, "\n".join(lines))


if __name__ == "__main__":
    main()
