"""Copy the small EDG runs into the package (``src/rhoml/data/runs/<name>``) without their
checkpoints, adding to each manifest the commands that made it and the data set it saw.

    python scripts/ship_edg_runs.py runs/edg/imageed-small runs/edg/edg-teacher-small
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "src" / "rhoml" / "data" / "runs"
FILES = ("config.toml", "manifest.json", "model.pt", "metrics.csv", "learning_curve.png")

DATA_COMMANDS = [
    "python scripts/edg_small_molecules.py runs/edg/qm9_400.xyz --n 400 --seed 0",
    "rhoml density compute runs/edg/qm9_400.xyz --method xtb --fit def2-universal-jkfit "
    "--out runs/edg/qm9-xtb.rhoml --workers 2",
    "rhoml render runs/edg/qm9-xtb.rhoml --preset edg-structure --set size=112 --workers 2",
    "rhoml render runs/edg/qm9-xtb.rhoml --preset edg-density --set size=112 --method xtb "
    "--esp-method xtb+fit:def2-universal-jkfit --workers 2",
]
TRAIN_COMMANDS = {
    "imageed-small": ["rhoml train configs/imageed_small.toml --out runs/edg/imageed-small"],
    "edg-teacher-small": [
        "rhoml train configs/imageed_small.toml --out runs/edg/imageed-small",
        "rhoml train configs/edg_teacher_small.toml --out runs/edg/edg-teacher-small",
    ],
}
DATA_SET = (
    "400 QM9 molecules drawn at random (seed 0) from the 130,831 of qm9pack; GFN2-xTB "
    "(valence) densities; EDG density images (isovalue 0.05 e/Bohr^3, ESP from the "
    "def2-universal-jkfit density fit) and structural images, 112 x 112 px; 95/5 split (seed 0)"
)


def main() -> None:
    for src in map(Path, sys.argv[1:]):
        name = src.name
        out = TARGET / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for f in FILES:
            shutil.copy2(src / f, out / f)
        manifest = json.loads((out / "manifest.json").read_text())
        manifest["commands"] = DATA_COMMANDS + TRAIN_COMMANDS[name]
        manifest["data_set"] = DATA_SET
        manifest["trained_in"] = str(src.resolve())
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        size = sum(p.stat().st_size for p in out.iterdir())
        print(f"{src} -> {out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
