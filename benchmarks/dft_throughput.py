"""DFT (B3LYP/6-31G**, density fitting) on QM9 molecules: molecules per hour.

Runs the rhoml batch runner (process pool, one thread per worker) into a temporary store, on
random QM9 molecules; on a machine with GPU4PySCF and a CUDA GPU the DFT engine uses it
automatically (``--workers 1`` there).

    python benchmarks/dft_throughput.py --n 8 --workers 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, write_results

from rhoml.density.dft import gpu_available
from rhoml.io.qm9 import load_qm9
from rhoml.store.batch import MethodSpec, run_batch
from rhoml.store.sqlite_store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--name", default="dft_throughput_cpu")
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    idx = sorted(int(i) for i in rng.choice(130831, size=args.n, replace=False))
    molecules = load_qm9(indices=idx)
    spec = MethodSpec("dft", {"functional": "B3LYP", "basis": "6-31G**"})
    with tempfile.TemporaryDirectory() as tmp:
        report = run_batch(Path(tmp) / "s", molecules, spec, workers=args.workers)
        with Store.open(Path(tmp) / "s") as st:
            props = st.record_properties(spec.key)
    per_mol = [p["seconds"] for p in props.values()]
    rate = 3600 * report.throughput
    data = {
        "title": "DFT B3LYP/6-31G** on QM9 molecules: throughput",
        "machine": machine(),
        "gpu4pyscf": gpu_available(),
        "settings": {"n_molecules": args.n, "workers": args.workers, "threads_per_worker": 1,
                     "density_fit": True, "sample": "random QM9 molecules, seed 1"},
        "ok": report.ok, "failed": report.failed,
        "molecules_per_hour": rate,
        "median_seconds_per_molecule_per_worker": statistics.median(per_mol) if per_mol else None,
        "median_atoms": statistics.median(m.n_atoms for m in molecules),
    }  # fmt: skip
    table = (
        "| molecules | workers | GPU | molecules/hour | median s/molecule (one worker) |"
        " median atoms |\n|---|---|---|---|---|---|\n"
        f"| {args.n} | {args.workers} | {data['gpu4pyscf']} | {rate:.0f} | "
        f"{data['median_seconds_per_molecule_per_worker']:.1f} | {data['median_atoms']:.0f} |"
    )
    write_results(args.name, data, table)


if __name__ == "__main__":
    main()
