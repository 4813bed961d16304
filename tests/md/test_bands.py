"""Band picking (positions below the grid spacing, widths, regions, noise rejection) and the
one-to-one band assignment."""

from __future__ import annotations

import numpy as np
import pytest

from rhoml.md.bands import (
    REGIONS,
    assign_bands,
    band_table,
    centroid,
    compare_with_experiment,
    find_bands,
    harmonic_bands,
    line_width,
    match,
    mode_deviation,
    shift_summary,
    smooth,
)

# (position cm⁻¹, FWHM cm⁻¹, height): fingerprint, a C=O-like band, two overlapping C–H
# stretches and a weak O–H stretch far below the strongest band
LINES = [
    (801.3, 20.0, 0.30),
    (1052.7, 25.0, 1.00),
    (1451.1, 18.0, 0.12),
    (1748.9, 22.0, 0.55),
    (2941.6, 30.0, 0.40),
    (3012.4, 30.0, 0.35),
    (3655.2, 40.0, 0.05),
]


def _lorentzians(grid, lines):
    y = np.zeros_like(grid)
    for pos, fwhm, h in lines:
        g = fwhm / 2
        y += h * g**2 / ((grid - pos) ** 2 + g**2)
    return y


def test_every_band_of_a_synthetic_spectrum_is_found():
    grid = np.arange(0.0, 4500.0, 4.1)  # coarser than the positions' decimals
    y = _lorentzians(grid, LINES)
    y /= y[(grid > 500) & (grid < 4000)].max()
    bands = find_bands(grid, y)
    assert len(bands) == len(LINES)
    for b, (pos, _, _) in zip(bands, LINES, strict=True):
        assert b.position == pytest.approx(pos, abs=0.5)  # parabolic refinement
    # isolated bands: width at half height is the FWHM; intensities relative to the strongest
    iso = {round(b.position): b for b in bands}
    assert iso[801].fwhm == pytest.approx(20.0, rel=0.15)
    assert iso[1053].intensity == pytest.approx(1.0, abs=0.02)
    # the weak O–H band is kept in its own region
    table = band_table(bands)
    assert list(table) == [name for name, _, _ in REGIONS]
    assert [r["position_cm-1"] for r in table["O-H/N-H stretch >3200"]] == [
        pytest.approx(3655.2, abs=0.5)
    ]
    assert len(table["C-H stretch 2500-3200"]) == 2
    assert table["fingerprint <1500"][0]["position_cm-1"] == round(bands[0].position, 1)


def test_noise_peaks_are_rejected_and_uncertainties_come_from_samples():
    rng = np.random.default_rng(0)
    grid = np.arange(400.0, 4000.0, 2.0)
    clean = _lorentzians(grid, [(1000.0, 30.0, 1.0), (3000.0, 40.0, 0.3)])
    samples = np.stack([
        _lorentzians(grid, [(1000.0 + rng.normal(0, 2), 30.0, 1.0),
                            (3000.0 + rng.normal(0, 6), 40.0, 0.3)])
        + 0.01 * rng.normal(size=grid.size)
        for _ in range(100)
    ])  # fmt: skip
    mean = samples.mean(axis=0)
    noisy = find_bands(grid, mean, min_prominence=0.001)  # ripples pass a tiny prominence...
    bands = find_bands(grid, mean, min_prominence=0.001, samples=samples)  # ...not 3σ of noise
    assert len(noisy) > 2
    assert [round(b.position) for b in bands] == [1000, 3000]
    assert bands[0].uncertainty == pytest.approx(2.0, rel=0.4)
    assert bands[1].uncertainty == pytest.approx(6.0, rel=0.4)
    assert np.isnan(find_bands(grid, clean)[0].uncertainty)  # no samples: unknown


def test_assignment_is_one_to_one_within_the_largest_shift():
    exp = [1000.0, 1050.0, 2900.0, 3650.0]
    md = [1045.0, 1010.0, 2950.0]
    rows = assign_bands(exp, {"md": md, "dft": [1060.0, 3700.0]}, max_shift=80.0)
    assert [r["md_cm-1"] for r in rows] == [1010.0, 1045.0, 2950.0, None]
    assert [r["md_shift_cm-1"] for r in rows] == [10.0, -5.0, 50.0, None]
    assert [r["dft_cm-1"] for r in rows] == [None, 1060.0, None, 3700.0]
    assert match([1000.0], [1200.0], max_shift=100.0) == [None]
    s = shift_summary(rows, "md")
    assert s == {"assigned": 3, "of": 4, "mean_abs_shift_cm-1": 21.7, "max_abs_shift_cm-1": 50.0}


def test_harmonic_bands_merge_lines_closer_than_the_width():
    freqs, ints = [300.0, 1000.0, 1010.0, 1100.0, 3000.0], [50.0, 100.0, 100.0, 1.0, 10.0]
    narrow = harmonic_bands(freqs, ints, fwhm=4.0)
    assert [round(b.position) for b in narrow] == [1000, 1010, 3000]  # 1100: below 2 %
    (merged, ch) = harmonic_bands(freqs, ints, fwhm=30.0)
    assert merged.centroid == pytest.approx(1005.0, abs=0.5) and ch.position == pytest.approx(3000)
    top = 2 * 100 * np.exp(-0.5 * (5 / (30 / 2.3548)) ** 2)  # the merged maximum at 1005
    assert ch.intensity == pytest.approx(10 / top, rel=1e-3)
    with pytest.raises(ValueError, match="fwhm"):
        harmonic_bands(freqs, ints, fwhm=0.0)


def test_line_width_is_the_median_mid_ir_fwhm():
    from rhoml.md.bands import Band

    bands = [Band(450.0, 90.0, 1.0), Band(1000.0, 30.0, 1.0), Band(1500.0, 40.0, 1.0),
             Band(3000.0, 50.0, 1.0)]  # fmt: skip
    assert line_width(bands) == 40.0
    assert line_width([]) == 20.0


def test_mode_deviation_pairs_modes_in_order():
    d = mode_deviation([1030.0, 300.0, 2990.0], [1000.0, 310.0, 3000.0])
    assert d == {"n_modes": 2, "max_abs_cm-1": 30.0, "mean_abs_cm-1": 20.0, "within_20": 1}
    with pytest.raises(ValueError, match="modes"):
        mode_deviation([1.0], [1.0, 2.0])


def test_smoothing_merges_branches():
    # P and R branches 30 cm⁻¹ apart merge into one band at the centre
    wn = np.arange(900.0, 1100.0, 0.25)
    y = _lorentzians(wn, [(985.0, 6.0, 1.0), (1015.0, 6.0, 1.0)])
    g, s = smooth(wn, y, fwhm=40.0)
    assert [round(b.position) for b in find_bands(g, s / s.max(), lo=900)] == [1000]


def test_pr_branch_separation_of_carbon_monoxide_and_methanol():
    from rhoml.md.bands import pr_branch_separation

    # CO, r = 1.128 Å: B = 1.93 cm⁻¹ → 2.3583·√(1.93·298.15) = 56.6 cm⁻¹
    assert pr_branch_separation([6, 8], [[0, 0, 0], [0, 0, 1.128]]) == pytest.approx(56.6, abs=0.5)
    methanol = [
        [-0.0468, 0.6626, 0.0], [-0.0468, -0.7584, 0.0], [-1.0891, 0.9897, 0.0],
        [0.4452, 1.0790, 0.89], [0.4452, 1.0790, -0.89], [0.8686, -1.0819, 0.0],
    ]  # fmt: skip
    sep = pr_branch_separation([6, 8, 1, 1, 1, 1], methanol)
    assert 33.0 < sep < 40.0  # B ≈ (0.82 + 0.79) / 2 cm⁻¹


def test_experiment_band_centre_of_a_pr_contour_is_its_centroid():
    """A P/R doublet 37 cm⁻¹ apart with a stronger R branch: smoothed enough to merge, the band
    sits at the contour's centroid (1035.1), near its centre 1033, not at the smoothed maximum,
    which leans to the R branch."""
    from rhoml.md.bands import experiment_bands

    x = np.arange(800.0, 1300.0, 0.5)
    y = 0.8 * np.exp(-0.5 * ((x - 1014.5) / 7) ** 2) + np.exp(-0.5 * ((x - 1051.5) / 7) ** 2)
    (band,) = experiment_bands(x, y, smoothing=40.0, lo=850.0, hi=1250.0)
    centroid = (0.8 * 1014.5 + 1051.5) / 1.8
    assert band.position == pytest.approx(centroid, abs=0.5)
    grid, smoothed = smooth(x, y, 40.0)
    assert grid[np.argmax(smoothed)] - 1033.0 > 2 * (band.position - 1033.0)


def test_centroid_of_a_symmetric_band_is_its_position_and_of_a_doublet_its_weighted_mean():
    grid = np.arange(900.0, 1200.0, 0.5)
    y = _lorentzians(grid, [(1052.7, 25.0, 1.0)])
    assert centroid(grid, y, 1052.7 - 30, 1052.7 + 30) == pytest.approx(1052.7, abs=0.05)
    assert np.isnan(centroid(grid, np.zeros_like(grid), 1000.0, 1100.0))
    assert np.isnan(centroid(grid, y, 1100.0, 1000.0))
    # an unresolved doublet: the maximum sits on the stronger line, the centroid between them
    (band,) = find_bands(grid, _lorentzians(grid, [(1040.0, 30.0, 1.0), (1060.0, 30.0, 0.8)]))
    assert band.position < 1050.0 - 3
    assert 1045.0 < band.centroid < 1052.0
    assert band.centre == band.centroid
    assert band.row()["centroid_cm-1"] == round(band.centroid, 1)


def test_centroid_is_steadier_than_the_maximum_when_sub_peaks_trade_places():
    """Resampled spectra of a doublet whose two lines swap which is stronger: the maximum jumps
    by the line spacing, the centroid moves by a fraction of it (this is what happens to the
    C–O and C–H bands of ethanol between MD seeds, benchmarks/results/ir_protocol.md)."""
    grid = np.arange(900.0, 1200.0, 0.5)
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(40):
        a = rng.uniform(0.8, 1.0)
        samples.append(_lorentzians(grid, [(1040.0, 30.0, a), (1062.0, 30.0, 1.8 - a)]))
    samples = np.array(samples)
    mean = samples.mean(axis=0)
    (band,) = find_bands(grid, mean / mean.max(), samples=samples / mean.max())
    assert np.isfinite(band.uncertainty) and np.isfinite(band.centroid_uncertainty)
    assert band.centroid_uncertainty < 0.5 * band.uncertainty


def test_md_bands_are_compared_with_experiment_by_their_centroid():
    experiment = find_bands(*_doublet_and_single())
    md = find_bands(*_doublet_and_single(shift=5.0))
    rows, summary = compare_with_experiment(experiment, md=md)
    assert len(rows) == len(md) == 2
    for row, b in zip(rows, md, strict=True):
        assert row["md_cm-1"] == pytest.approx(b.centroid, abs=0.05)
        assert row["md_shift_cm-1"] == pytest.approx(5.0, abs=0.2)
    assert summary["md"]["mean_abs_shift_cm-1"] == pytest.approx(5.0, abs=0.2)


def _doublet_and_single(shift: float = 0.0):
    grid = np.arange(500.0, 2000.0, 0.5)
    y = _lorentzians(grid, [(1040.0 + shift, 30.0, 1.0), (1062.0 + shift, 30.0, 0.8),
                            (1500.0 + shift, 20.0, 0.5)])  # fmt: skip
    return grid, y / y.max()
