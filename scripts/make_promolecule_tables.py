#!/usr/bin/env python
"""Build ``src/rhoml/data/promolecule.json``: spherical neutral-atom densities as s Gaussians.

For each element this script

1. runs a spherically averaged, fractional-occupation restricted Hartree-Fock calculation of the
   neutral atom (``pyscf.scf.atom_hf.AtomSphAverageRHF``, the solver behind PySCF's SAD guess;
   ``AtomHF1e`` for H) in the **uncontracted Jorge QZP** basis (PySCF ``"qzp"``: an
   all-electron, non-relativistic basis for H-Xe, no ECPs). Occupations follow the experimental
   ground-state configuration ``pyscf.data.elements.CONFIGURATION`` (Fe 3d6 4s2, Cu 3d10 4s1),
   spread evenly over the m components of each open l shell so the density is exactly spherical;
2. evaluates the radial density ρ(r) and its core part (the noble-gas core, plus the filled
   (n-1)d¹⁰ shell from group 12 on, which is GFN2-xTB's valence/core split) on a radial grid;
3. fits the core and the valence density (total − core) separately with the same fixed set of
   s Gaussians ``ρ(r) = Σ_k c_k exp(−a_k r²)``; the stored total is core + valence, so
   total − core is the valence fit exactly. Each fit is a least-squares fit of the radial
   distribution 4πr²ρ(r) (plus a small relative-error term that keeps the nucleus and the tail
   right), with the electron count fixed exactly (null-space elimination of the constraint),
   ρ_fit(r) ≥ 0 everywhere and dρ_fit/dr ≤ 0 wherever the atomic density decreases, both on a
   radial grid to 100 Bohr (Lawson-Hanson least-distance programming); see :func:`fit_radial`.

Exponents: even-tempered ``a_k = 0.01 · 1.3^k`` Bohr⁻², k = 0, 1, ... up to the first value at or
above twice the steepest s exponent of the atomic basis (the steepest Gaussian the atomic density
contains): 40 functions for H, 60 for C, 73 for Fe, 85 for I.

Why signed coefficients rather than NNLS: a sum of Gaussians with c_k ≥ 0 is completely monotone
in r², which shell-structured atomic densities are not. With these exponents, NNLS on the total
density leaves L1 errors ∫|Δρ|4πr²dr/Z of about 0.6 % (C), 2 % (Fe) and 6 % (I), and on valence
densities 6 % (C) to 25 % (I); the constrained fit used here reaches 1e-6 to 3e-5 while keeping
what NNLS would have guaranteed (ρ ≥ 0, here also a monotone tail). ``--fit nnls`` reproduces
the NNLS variant for comparison.

Usage::

    python scripts/make_promolecule_tables.py                      # default element set
    python scripts/make_promolecule_tables.py --elements H C --output /tmp/promo.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pyscf
from pyscf import gto
from pyscf.data import elements as pyscf_elements
from pyscf.scf import atom_hf
from scipy.optimize import nnls

LOG = logging.getLogger("make_promolecule_tables")

DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "src" / "rhoml" / "data" / "promolecule.json"
DEFAULT_ELEMENTS = list(range(1, 55))  # H-Xe: everything the QZP basis covers
BASIS = "qzp"  # Jorge et al. QZP, all-electron, non-relativistic, H-Xe; used uncontracted
CONFIGURATION = pyscf_elements.CONFIGURATION

# Fit settings (changing any of them changes the table; they are recorded in its metadata).
EXP_MIN = 0.01  # Bohr^-2
EXP_RATIO = 1.3
RELATIVE_WEIGHT = 1e-4  # weight μ of the relative-error term ∫ (Δρ/ρ)² d ln r
RELATIVE_CUTOFF = 1e-12  # e/Bohr³: the relative term only where ρ exceeds this
RCOND = 1e-14  # singular-value cut of the (column-scaled) least-squares matrix
# Radial grid: uniform in ln r; even points fit, all points measure the error.
R_MIN, R_MAX, N_RADIAL = 1e-6, 60.0, 8001
R_POSITIVE_MAX, N_POSITIVE = 100.0, 2000  # ρ_fit ≥ 0 (and monotone) on this uniform grid

# 26 directions (cube faces, edges, corners): the spherical average of ρ and a symmetry check
_DIRS = np.array([d for d in np.ndindex(3, 3, 3) if d != (1, 1, 1)], dtype=float) - 1.0
_DIRS /= np.linalg.norm(_DIRS, axis=1)[:, None]


def n_core_electrons(z: int) -> int:
    """Core electrons of element ``z``: the noble-gas core, plus (n−1)d¹⁰ from group 12 on.

    This is GFN2-xTB's split (its valence charges are Z − n_core for H–Rn): Cu keeps 3d in the
    valence (11 valence electrons), Zn–Kr put 3d¹⁰ in the core (Zn 2, Ga 3, Kr 8).
    """
    for last_z, core in ((2, 0), (10, 2), (18, 10), (29, 18), (36, 28), (47, 36), (54, 46)):
        if z <= last_z:
            return core
    raise ValueError(f"no core definition for Z = {z} (table covers H–Xe)")


# core electrons -> number of doubly occupied core shells per l (s, p, d)
_CORE_SHELLS = {0: (0, 0, 0), 2: (1, 0, 0), 10: (2, 1, 0), 18: (3, 2, 0), 28: (3, 2, 1),
                36: (4, 3, 1), 46: (4, 3, 2)}  # fmt: skip


# -- the atomic calculation --------------------------------------------------------------------
def atomic_basis(symbol: str) -> list:
    """The uncontracted QZP basis of ``symbol`` in PySCF's format."""
    return gto.uncontract(gto.basis.load(BASIS, symbol))


def run_atom(z: int):
    """Spherically averaged fractional-occupation RHF of neutral atom ``z`` → (mol, mf)."""
    sym = gto.mole._std_symbol(z)
    mol = gto.M(atom=[(sym, (0.0, 0.0, 0.0))], basis={sym: atomic_basis(sym)},
                spin=z % 2, verbose=0)  # fmt: skip
    if z == 1:
        mf = atom_hf.AtomHF1e(mol)
    else:
        mf = atom_hf.AtomSphAverageRHF(mol)
        mf.atomic_configuration = CONFIGURATION
    mf.conv_tol = 1e-10
    mf.max_cycle = 200
    mf.run()
    if not mf.converged:
        LOG.warning("%s: SCF not converged, retrying with damping and level shift", sym)
        mf.damp = 0.5
        mf.level_shift = 0.3
        mf.max_cycle = 500
        mf.run(mf.make_rdm1())
        if not mf.converged:
            raise RuntimeError(f"{sym}: spherically averaged atomic HF did not converge")
    return mol, mf


def core_occupations(mol, mf, n_core: int) -> np.ndarray:
    """Occupation vector of the core orbitals (the lowest ``_CORE_SHELLS`` per l)."""
    ang = atom_hf._angular_momentum_for_each_ao(mol)
    l_of_mo = ang[np.argmax(np.abs(mf.mo_coeff), axis=0)]
    occ = np.zeros_like(mf.mo_occ)
    for l, n_shells in enumerate(_CORE_SHELLS[n_core]):
        idx = np.nonzero(l_of_mo == l)[0]
        idx = idx[np.argsort(mf.mo_energy[idx], kind="stable")]
        chosen = idx[: n_shells * (2 * l + 1)]
        if len(chosen) != n_shells * (2 * l + 1) or np.any(mf.mo_occ[chosen] < 2 - 1e-8):
            raise RuntimeError(f"{mol.atom_symbol(0)}: core {l=} orbitals are not doubly occupied")
        occ[chosen] = 2.0
    if abs(occ.sum() - n_core) > 1e-8:
        raise RuntimeError(f"{mol.atom_symbol(0)}: core occupation {occ.sum()} != {n_core}")
    return occ


def radial_density(mol, mf, occ: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, float]:
    """Spherical average of ρ at radii ``r`` (Bohr) for occupations ``occ``, and the largest
    relative spread over the 26 directions (0 for an exactly spherical density)."""
    keep = occ > 0
    if not keep.any():
        return np.zeros_like(r), 0.0
    coeff = mf.mo_coeff[:, keep]
    out = np.empty((len(r), len(_DIRS)))
    step = 1000
    for s in range(0, len(r), step):
        pts = (r[s : s + step, None, None] * _DIRS[None]).reshape(-1, 3)
        phi = mol.eval_gto("GTOval_sph", pts) @ coeff
        out[s : s + step] = ((phi * phi) @ occ[keep]).reshape(-1, len(_DIRS))
    mean = out.mean(axis=1)
    spread = float(np.max(np.ptp(out, axis=1) / np.maximum(mean, 1e-300)))
    return mean, spread


# -- the fit -------------------------------------------------------------------------------------
def exponents_for(max_s_exponent: float) -> np.ndarray:
    """Even-tempered exponents ``EXP_MIN · EXP_RATIO^k`` up to ≥ 2 × the steepest s exponent."""
    n = int(np.ceil(np.log(2.0 * max_s_exponent / EXP_MIN) / np.log(EXP_RATIO))) + 1
    return EXP_MIN * EXP_RATIO ** np.arange(n)


def gaussian_integrals(exps: np.ndarray) -> np.ndarray:
    """∫ exp(−a r²) d³r = (π/a)^{3/2}."""
    return (np.pi / exps) ** 1.5


def radial_grid() -> tuple[np.ndarray, np.ndarray]:
    """Radii (Bohr) uniform in ln r and trapezoid weights for ∫ f(r) dr."""
    x = np.linspace(np.log(R_MIN), np.log(R_MAX), N_RADIAL)
    r = np.exp(x)
    w = r * (x[1] - x[0])
    w[[0, -1]] *= 0.5
    return r, w


def _least_distance(e: np.ndarray, f: np.ndarray) -> np.ndarray:
    """min ‖v‖ subject to e v ≥ f (Lawson & Hanson, ch. 23, via NNLS)."""
    m, n = e.shape
    a = np.vstack([e.T, f[None, :]])
    b = np.zeros(n + 1)
    b[-1] = 1.0
    u, _ = nnls(a, b, maxiter=50 * (m + n))
    resid = a @ u - b
    if abs(resid[-1]) < 1e-12:
        raise RuntimeError("positivity constraints are infeasible")
    return -resid[:-1] / resid[-1]


def monotone_from(r: np.ndarray, rho: np.ndarray, floor: float = 1e-12) -> float:
    """Smallest radius beyond which ``rho`` decreases (ignoring values below ``floor``)."""
    rising = np.nonzero((np.diff(rho) > 0.0) & (rho[1:] > floor))[0]
    return float(r[rising[-1] + 1]) if len(rising) else 0.0


def fit_radial(
    r: np.ndarray,
    w: np.ndarray,
    rho: np.ndarray,
    n_electrons: float,
    exps: np.ndarray,
    r_monotone: float = 0.0,
) -> np.ndarray:
    """Coefficients ``c`` of ``Σ c_k exp(−a_k r²)`` fitting ``rho`` (e/Bohr³) at radii ``r``.

    Minimises ``Σ_i w_i [4π r_i² (ρ_fit − ρ)(r_i)]² + μ Σ_{ρ>cut} Δln r [(ρ_fit − ρ)/ρ]²``
    subject to ``∫ρ_fit d³r = n_electrons`` exactly, ``ρ_fit ≥ 0`` and ``dρ_fit/dr ≤ 0`` for
    ``r ≥ r_monotone`` on a radial grid to ``R_POSITIVE_MAX`` (the atomic density decreases
    there; without this the fit's far tail can wobble at the 1e-9 level). Solved in the
    well-conditioned coordinates of a truncated SVD of the column-scaled design matrix, where
    the inequality-constrained problem is a least-distance program.
    """
    if n_electrons == 0:
        return np.zeros_like(exps)
    gauss = np.exp(-np.outer(r * r, exps))
    w_abs = np.sqrt(w) * 4.0 * np.pi * r * r
    rel = rho > RELATIVE_CUTOFF
    dlnr = float(np.log(r[1] / r[0]))
    w_rel = np.sqrt(RELATIVE_WEIGHT * dlnr) / rho[rel]
    a = np.vstack([gauss * w_abs[:, None], gauss[rel] * w_rel[:, None]])
    b = np.concatenate([rho * w_abs, rho[rel] * w_rel])
    scale = np.linalg.norm(a, axis=0)
    u, s, vt = np.linalg.svd(a / scale, full_matrices=False)
    k = int(np.sum(s > RCOND * s[0]))
    # c = T z with T = diag(1/scale) V_k Σ_k^-1; ‖a c − b‖² = ‖z − d‖² + const
    t = (vt[:k].T / s[:k]) / scale[:, None]
    d = u[:, :k].T @ b
    h = gaussian_integrals(exps) @ t  # electron count: h·z = n
    # z = d + z0 + N y with z0 ⟂ null(h) fixing the count; ‖z − d‖² = ‖z0‖² + ‖y‖²
    z0 = h * ((n_electrons - h @ d) / (h @ h))
    q, _ = np.linalg.qr(np.column_stack([h, np.eye(k)[:, : k - 1]]))
    null = q[:, 1:]
    base = d + z0
    # constraint rows g (in z coordinates), each required to give g·z ≥ 0:
    # ρ_fit(r) = Σ c exp(−a r²) ≥ 0, and −dρ_fit/dr ∝ Σ a c exp(−a r²) ≥ 0 for r ≥ r_monotone
    r_con = np.linspace(0.0, R_POSITIVE_MAX, N_POSITIVE)
    g_con = np.exp(-np.outer(r_con * r_con, exps))
    mono = r_con >= r_monotone
    g = np.vstack([g_con, g_con[mono] * exps[None, :]]) @ t
    if np.all(g @ base >= 0.0):
        return t @ base
    # (g N) y ≥ −g base; rows normalised (same feasible set)
    e = g @ null
    f = -(g @ base)
    norm = np.linalg.norm(e, axis=1)
    ok = norm > 0
    y = _least_distance(e[ok] / norm[ok, None], f[ok] / norm[ok])
    return t @ (base + null @ y)


def fit_radial_nnls(r, w, rho, n_electrons, exps) -> np.ndarray:
    """The plain alternative: NNLS on the 4πr²-weighted density, then rescaled to the count."""
    if n_electrons == 0:
        return np.zeros_like(exps)
    gauss = np.exp(-np.outer(r * r, exps))
    w_abs = np.sqrt(w) * 4.0 * np.pi * r * r
    a = gauss * w_abs[:, None]
    scale = np.linalg.norm(a, axis=0)
    c, _ = nnls(a / scale, rho * w_abs, maxiter=50 * len(exps))
    c /= scale
    return c * (n_electrons / (gaussian_integrals(exps) @ c))


def l1_error(r, w, rho, c, exps, n_electrons) -> float:
    """∫ |ρ_fit − ρ| 4πr² dr / N (0 when N = 0)."""
    if n_electrons == 0:
        return 0.0
    fit = np.exp(-np.outer(r * r, exps)) @ c
    return float(np.sum(np.abs(fit - rho) * 4.0 * np.pi * r * r * w) / n_electrons)


def max_relative_error(rho, fit, floor=1e-6) -> float:
    """max |ρ_fit/ρ − 1| where ρ > ``floor`` e/Bohr³ (the region any grid or isosurface sees)."""
    m = rho > floor
    return float(np.max(np.abs(fit[m] / rho[m] - 1.0))) if m.any() else 0.0


def make_entry(z: int, method: str = "lsq") -> dict:
    """Run the atom and fit it; the table entry for element ``z``."""
    t0 = time.perf_counter()
    mol, mf = run_atom(z)
    t_scf = time.perf_counter() - t0
    sym = mol.atom_symbol(0)
    n_core = n_core_electrons(z)
    r, w = radial_grid()
    total, spread = radial_density(mol, mf, mf.mo_occ, r)
    core, _ = radial_density(mol, mf, core_occupations(mol, mf, n_core), r)
    if spread > 1e-8:
        raise RuntimeError(f"{sym}: density not spherical (relative spread {spread:.1e})")
    n_grid = float(np.sum(total * 4.0 * np.pi * r * r * w))
    if abs(n_grid - z) > 1e-5:
        raise RuntimeError(f"{sym}: radial grid integrates the atom to {n_grid}, not {z}")
    valence = total - core
    max_s = max(p[0] for shell in mol._basis[sym] if shell[0] == 0 for p in shell[1:])
    exps = exponents_for(max_s)
    fit_r, fit_w = r[::2], 2.0 * w[::2]
    if method == "lsq":
        c_core = fit_radial(fit_r, fit_w, core[::2], n_core, exps, monotone_from(r, core))
        c_val = fit_radial(fit_r, fit_w, valence[::2], z - n_core, exps, monotone_from(r, valence))
    else:
        c_core = fit_radial_nnls(fit_r, fit_w, core[::2], n_core, exps)
        c_val = fit_radial_nnls(fit_r, fit_w, valence[::2], z - n_core, exps)
    c_tot = c_core + c_val
    gauss = np.exp(-np.outer(r * r, exps))
    r_check = np.linspace(0.0, R_POSITIVE_MAX, 20001)
    g_check = np.exp(-np.outer(r_check**2, exps))
    min_total, min_valence = float(np.min(g_check @ c_tot)), float(np.min(g_check @ c_val))
    rises_until = monotone_from(r_check, g_check @ c_tot, floor=1e-14)
    entry = {
        "z": z,
        "n_electrons": z,
        "n_core": n_core,
        "configuration": [int(x) for x in CONFIGURATION[z]],
        "hf_energy": float(mf.e_tot),
        "exponents": exps.tolist(),
        "total": c_tot.tolist(),
        "core": c_core.tolist(),
        "fit_error": l1_error(r, w, total, c_tot, exps, z),
        "fit_error_core": l1_error(r, w, core, c_core, exps, n_core),
        "fit_error_valence": l1_error(r, w, valence, c_val, exps, z - n_core),
        "max_relative_error": max_relative_error(total, gauss @ c_tot),
    }
    LOG.info(
        "%-2s Z=%2d core=%2d n_exp=%2d E=%.6f L1 total %.2e core %.2e valence %.2e "
        "maxrel(ρ>1e-6) %.1e min %.0e/%.0e rises until r=%.2f scf %.1fs total %.1fs",
        sym, z, n_core, len(exps), mf.e_tot, entry["fit_error"], entry["fit_error_core"],
        entry["fit_error_valence"], entry["max_relative_error"], min_total, min_valence,
        rises_until, t_scf, time.perf_counter() - t0,
    )  # fmt: skip
    return entry


def metadata(method: str) -> dict:
    fit_text = (
        "core and valence (= total - core) radial densities fitted separately; total = core + "
        "valence. Least squares on 4*pi*r^2*rho (plus weight "
        f"{RELATIVE_WEIGHT:g} on the relative error where rho > {RELATIVE_CUTOFF:g}) with the "
        "electron count constrained exactly, rho_fit >= 0 and d rho_fit/dr <= 0 (wherever "
        f"rho_atom decreases) on r in [0, {R_POSITIVE_MAX:g}] Bohr; signed coefficients"
        if method == "lsq"
        else "NNLS on 4*pi*r^2*rho, rescaled to the electron count"
    )
    return {
        "description": "Spherical neutral-atom densities for promolecule densities (rhoml)",
        "generator": "scripts/make_promolecule_tables.py",
        "method": "spherically averaged fractional-occupation restricted Hartree-Fock "
        "(pyscf.scf.atom_hf.AtomSphAverageRHF; AtomHF1e for H), non-relativistic",
        "level": "SA-RHF/unc-QZP",
        "basis": "Jorge QZP (PySCF 'qzp'), uncontracted, all-electron, spherical",
        "configuration": "pyscf.data.elements.CONFIGURATION (experimental ground state), "
        "spread evenly over m",
        "core_definition": "noble-gas core, plus the filled (n-1)d10 shell for groups 12-18 "
        "(GFN2-xTB valence split)",
        "pyscf_version": pyscf.__version__,
        "python_version": platform.python_version(),
        "fit": fit_text,
        "exponent_rule": f"a_k = {EXP_MIN:g} * {EXP_RATIO:g}**k, k = 0.. up to the first "
        ">= 2 x the steepest s exponent of the atomic basis",
        "radial_grid": f"{N_RADIAL} points uniform in ln r, r in [{R_MIN:g}, {R_MAX:g}] Bohr "
        "(even points fit, all points measure errors)",
        "fit_error": "integral |rho_fit - rho_atom| 4 pi r^2 dr / N over that grid "
        "(N = Z, n_core or Z - n_core)",
        "max_relative_error": "max |rho_fit/rho_atom - 1| where rho_atom > 1e-6 e/Bohr^3",
        "units": {
            "exponents": "bohr^-2",
            "coefficients": "e/bohr^3",
            "hf_energy": "hartree",
            "n_electrons": "e",
        },
        "convention": "rho(r) = sum_k c_k exp(-a_k r^2), r in Bohr, rho in e/Bohr^3; c_k are "
        "amplitudes of UNNORMALISED Gaussians; valence = total - core",
    }


def _dump(table: dict) -> str:
    """JSON with one element per block and each array on one line (diff-friendly)."""
    lines = ["{"]
    items = list(table.items())
    for i, (key, value) in enumerate(items):
        tail = "," if i < len(items) - 1 else ""
        if key == "elements":
            lines.append('  "elements": {')
            els = list(value.items())
            for j, (sym, entry) in enumerate(els):
                lines.append(f'    "{sym}": {{')
                fields = list(entry.items())
                for k, (name, v) in enumerate(fields):
                    comma = "," if k < len(fields) - 1 else ""
                    lines.append(f'      "{name}": {json.dumps(v)}{comma}')
                lines.append("    }" + ("," if j < len(els) - 1 else ""))
            lines.append("  }" + tail)
        else:
            text = json.dumps(value, indent=2).replace("\n", "\n  ")
            lines.append(f"  {json.dumps(key)}: {text}{tail}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def build_table(zs, method: str = "lsq") -> dict:
    entries = {}
    for z in zs:
        entries[gto.mole._std_symbol(z)] = make_entry(z, method)
    return {"format_version": 1, "metadata": metadata(method), "elements": entries}


def _parse_elements(items) -> list[int]:
    zs = []
    for item in items:
        if "-" in item and not item.lstrip("-").isdigit():
            lo, hi = (gto.charge(s) for s in item.split("-"))
            zs.extend(range(lo, hi + 1))
        else:
            zs.append(int(item) if item.isdigit() else gto.charge(item))
    return sorted(set(zs))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--elements", nargs="+", default=None,
                        help="symbols, numbers or ranges like H-Kr (default H-Xe)")  # fmt: skip
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--fit", choices=("lsq", "nnls"), default="lsq")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    zs = _parse_elements(args.elements) if args.elements else DEFAULT_ELEMENTS
    for z in zs:
        if not 1 <= z <= 54:
            parser.error(f"Z = {z}: the QZP basis and the core table cover H-Xe only")
    t0 = time.perf_counter()
    table = build_table(zs, args.fit)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(_dump(table))
    worst = max(table["elements"].items(), key=lambda kv: kv[1]["fit_error"])
    LOG.info(
        "wrote %s: %d elements in %.0f s; worst L1 error %s %.2e",
        args.output, len(zs), time.perf_counter() - t0, worst[0], worst[1]["fit_error"],
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
