"""DFT harmonic IR reference for ethanol at the DenSNet label level (PBE/def2-SVP, RI-J, grid 4).

Geometry: rMD17 ethanol test frame 0, relaxed with ASE BFGS on PySCF forces (fmax 0.01 eV/Å);
Hessian and dipole derivatives by central differences (0.005 Å) of analytic PySCF gradients and
SCF dipoles. Also times one PySCF energy+gradient (the denominator of the MD speed-up).
Writes benchmarks/results/densnet_harmonic_dft.{json,md}.

    OMP_NUM_THREADS=1 python benchmarks/densnet_harmonic_dft.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

from rhoml.io.rmd17 import load_rmd17  # noqa: E402
from rhoml.md.ir import harmonic_ir, optimise  # noqa: E402
from rhoml.md.reference import dft_potential  # noqa: E402


def main() -> None:
    data_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "rmd17"
    mol = load_rmd17("ethanol", "test", [0], data_dir=data_dir)[0]
    fn = dft_potential().compute
    t = time.perf_counter()
    fn(mol)
    grad_seconds = time.perf_counter() - t
    t = time.perf_counter()
    opt = optimise(fn, mol, fmax=0.01, log="-")
    opt_seconds = time.perf_counter() - t
    t = time.perf_counter()
    h = harmonic_ir(fn, opt, progress=True)
    h_seconds = time.perf_counter() - t
    rows = "\n".join(f"| {f:.1f} | {i:.2f} |" for f, i in h.table())
    table = (
        f"One PySCF PBE/def2-SVP energy+gradient (ethanol, 1 thread): {grad_seconds:.1f} s\n\n"
        f"| harmonic frequency (cm⁻¹) | IR intensity (km/mol) |\n|---|---|\n{rows}"
    )
    write_results(
        "densnet_harmonic_dft",
        {
            "title": "DFT harmonic IR of ethanol (PBE/def2-SVP, PySCF, finite differences)",
            "machine": machine(),
            "level": "PBE/def2-SVP RI-J grid 4",
            "gradient_seconds": grad_seconds,
            "optimise_seconds": opt_seconds,
            "harmonic_seconds": h_seconds,
            "frequencies_cm-1": h.frequencies.tolist(),
            "intensities_km_mol": h.intensities.tolist(),
            "positions_angstrom": h.positions.tolist(),
            "numbers": mol.numbers.tolist(),
        },
        table,
    )
    np.save(
        Path(__file__).resolve().parent / "results" / "densnet_ethanol_dft_minimum.npy", h.positions
    )


if __name__ == "__main__":
    main()
