"""Write N QM9 molecules drawn at random (seeded) to an extended XYZ file with their ids: the
data set of the shipped small EDG runs (``imageed-small``, ``edg-teacher-small``).

    python scripts/edg_small_molecules.py OUT.xyz [--n 400] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from rhoml.io.qm9 import load_qm9, qm9_arrays
from rhoml.io.xyz import write_xyz


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    total = len(qm9_arrays()["index"])
    idx = np.sort(np.random.default_rng(args.seed).choice(total, args.n, replace=False))
    mols = load_qm9(indices=idx)
    write_xyz(args.out, mols)
    print(f"{len(mols)} QM9 molecules (of {total}, seed {args.seed}) -> {args.out}")


if __name__ == "__main__":
    main()
