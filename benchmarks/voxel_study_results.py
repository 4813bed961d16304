"""Publish finished `rhoml bench voxel-study` folders under benchmarks/results/.

Copies a study's summary (results.json → voxel_study_<name>.json with the machine description
and the command that produced the study), its table (→ .md) and its learning curve (→ .png).
Several studies of the same data and split (e.g. one per density engine) are merged: give
``--study DIR:LABEL`` for each; representations whose channels depend on the engine (density,
gradient) are then named ``<rep> [<label>]``, and the per-study ``info`` is kept under
``studies``. The studies themselves are run with the commands recorded in the JSON.

Run: python benchmarks/voxel_study_results.py --study DIR --name qm9_cpu --command "rhoml ..."
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ENGINE_FREE = ("atoms", "shape", "atoms+shape")  # channels that do not depend on the engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, action="append",
                    help="a study's --out folder, optionally DIR:LABEL (repeatable)")  # fmt: skip
    ap.add_argument("--name", required=True, help="results/voxel_study_<name>.*")
    ap.add_argument("--command", action="append", required=True,
                    help="command(s) that produced the study (repeatable)")  # fmt: skip
    ap.add_argument("--note", default="", help="a sentence printed under the table")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import RESULTS, machine, write_results

    from rhoml.studies.voxel import markdown, plot

    studies = [s.rsplit(":", 1) if ":" in s else (s, "") for s in args.study]
    summaries = [(json.loads((Path(d) / "results.json").read_text()), label)
                 for d, label in studies]  # fmt: skip
    summary = summaries[0][0] if len(summaries) == 1 else _merge(summaries)
    name = f"voxel_study_{args.name}"
    data = {"title": f"Voxel representation study: {summary['dataset']} ({args.name})",
            "machine": machine(), "study_commands": args.command, **summary}  # fmt: skip
    table = markdown(summary) + "\n\n" + "\n".join(f"Study command: `{c}`" for c in args.command)
    if args.note:
        table += f"\n\n{args.note}"
    table += f"\n\n![learning curve]({name}.png)"
    write_results(name, data, table)
    if len(summaries) == 1:
        shutil.copy(Path(studies[0][0]) / "learning_curve.png", RESULTS / f"{name}.png")
    else:
        plot(summary, RESULTS / f"{name}.png")


def _merge(summaries: list[tuple[dict, str]]) -> dict:
    """One summary from several studies with the same targets and metrics."""
    first = summaries[0][0]
    out = {k: first[k] for k in ("dataset", "targets", "units", "metrics")}
    out["settings"] = first["settings"]
    out["info"] = first["info"]
    out["studies"] = [{"label": label, "info": s["info"], "settings": s["settings"]}
                      for s, label in summaries]  # fmt: skip
    out["table"], out["runs"] = [], []
    seen: set[str] = set()
    for s, label in summaries:
        if s["metrics"] != first["metrics"] or s["targets"] != first["targets"]:
            raise SystemExit(f"study {label}: different targets or metrics, cannot merge")
        for key in ("table", "runs"):
            for row in s[key]:
                rep = row["representation"]
                if rep in ENGINE_FREE and rep in seen:
                    continue  # the same channels in an earlier study: keep those
                named = rep if rep in ENGINE_FREE or not label else f"{rep} [{label}]"
                out[key].append({**row, "representation": named})
        seen |= {row["representation"] for row in s["table"]}
    return out


if __name__ == "__main__":
    main()
