"""Write ``tests/families/data/densnet_ethanol_shipped_reference.json``: what the shipped
``ethanol`` run predicts on rMD17 ethanol test frame 900 (fast float64, module float64, fast
float32; energy kcal/mol, forces kcal/mol/Å, dipole Debye) and its density's electron count.
Run after shipping a new ``ethanol`` run:

    python scripts/densnet_shipped_reference.py [--rmd17-dir ../shared/data/rmd17]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from rhoml import runs
from rhoml.io.rmd17 import load_rmd17

OUT = (
    Path(__file__).resolve().parents[1]
    / "tests/families/data/densnet_ethanol_shipped_reference.json"
)


def _plain(out: dict) -> dict:
    return {k: np.asarray(out[k], float).tolist() if np.ndim(out[k]) else float(out[k])
            for k in ("energy", "forces", "dipole")}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rmd17-dir", default=str(Path(__file__).resolve().parents[2] / "shared"
                                                / "data" / "rmd17"))  # fmt: skip
    args = ap.parse_args()
    (mol,) = load_rmd17("ethanol", "test", [900], data_dir=args.rmd17_dir)
    run = runs.load("ethanol")
    ref = {
        "frame": "rmd17_ethanol_test_01.npz#900",
        "numbers": mol.numbers.tolist(),
        "positions_angstrom": mol.positions.tolist(),
        "id": mol.id,
        "fast_float64": _plain(run.potential().compute(mol)),
        "module_float64": _plain(run.model.module.predict(mol, fast=False)),
        "fast_float32": _plain(run.model.astype("float32").compute(mol)),
        "electron_count": float(run.model.density(mol).electron_count()),
    }
    OUT.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
