"""Publish a `rhoml bench edg-study` folder under benchmarks/results/.

Re-summarises the study's finished runs with the current tables (nothing is trained), then
writes ``edg_study_<name>.json`` (the summary with the machine description and the study
command), ``edg_study_<name>.md`` (its tables, labelled with the study's scale) and
``edg_study_<name>.png`` (learning curves).

Run: python benchmarks/edg_study_results.py --config CONFIG --study DIR --name NAME
     --command "rhoml bench edg-study CONFIG --out DIR"
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the study config")
    ap.add_argument("--study", required=True, help="the study's --out folder")
    ap.add_argument("--name", required=True, help="results/edg_study_<name>.*")
    ap.add_argument("--command", required=True, help="the command that ran the study")
    ap.add_argument("--note", default="", help="a paragraph printed under the tables")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import RESULTS, machine, write_results

    from rhoml.studies.edg import load_study, markdown, run_study

    summary = run_study(load_study(args.config), args.study, progress=False, summary_only=True)
    name = f"edg_study_{args.name}"
    data = {"title": f"EDG study ({args.name})", "machine": machine(),
            "study_command": args.command, **summary}  # fmt: skip
    table = markdown(summary).split("\n", 1)[1].strip()  # the title goes into data["title"]
    table = f"Scale: {summary['scale']}\n\n{table}\n\nStudy command: `{args.command}`"
    if args.note:
        table += f"\n\n{args.note}"
    table += f"\n\n![learning curves]({name}.png)"
    write_results(name, data, table)
    shutil.copy(Path(args.study) / "learning_curves.png", RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
