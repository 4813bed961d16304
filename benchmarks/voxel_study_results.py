"""Publish a finished `rhoml bench voxel-study` folder under benchmarks/results/.

Copies the study's summary (results.json → voxel_study_<name>.json with the machine description
and the command that produced the study), its table (→ .md) and its learning curve (→ .png).
The study itself is run with the `rhoml bench voxel-study` command recorded in the JSON.

Run: python benchmarks/voxel_study_results.py --study DIR --name qm9_cpu --command "rhoml ..."
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, help="the study's --out folder")
    ap.add_argument("--name", required=True, help="results/voxel_study_<name>.*")
    ap.add_argument("--command", action="append", required=True,
                    help="command(s) that produced the study (repeatable)")  # fmt: skip
    ap.add_argument("--note", default="", help="a sentence printed under the table")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import RESULTS, machine, write_results

    from rhoml.bench.voxel_study import markdown

    study = Path(args.study)
    summary = json.loads((study / "results.json").read_text())
    name = f"voxel_study_{args.name}"
    data = {"title": f"Voxel representation study: {summary['dataset']} ({args.name})",
            "machine": machine(), "study_commands": args.command, **summary}  # fmt: skip
    table = markdown(summary) + "\n\n" + "\n".join(f"Study command: `{c}`" for c in args.command)
    if args.note:
        table += f"\n\n{args.note}"
    table += f"\n\n![learning curve]({name}.png)"
    write_results(name, data, table)
    shutil.copy(study / "learning_curve.png", RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
