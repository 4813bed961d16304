"""Publish a `rhoml bench energy-terms` folder under benchmarks/results/.

Re-summarises the study's finished runs (nothing is trained), adds what made the data (the DFT
level, molecules, failures and DFT seconds from the store's records), and writes
``energy_terms_<name>.json`` (the summary, the data description, the machine and the study
command), ``energy_terms_<name>.md`` (the tables) and ``energy_terms_<name>.png`` (the bar plot).

Run: python benchmarks/energy_terms_results.py --config CONFIG --study DIR --name NAME
     --command "rhoml bench energy-terms CONFIG --out DIR" [--note TEXT | --note-file FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def data_description(store, method: str) -> dict:
    """DFT level, molecule counts and DFT time of the store's records of ``method``."""
    import numpy as np

    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        ok = sorted(st.finished(method, include_failed=False))
        failed = st.failures(method)
        level = st.density(ok[0], method).level if ok else None
        seconds = [r.get("seconds") for r in st.records(method) if r.get("status") == "ok"]
        atoms = [len(st.molecule(i).numbers) for i in ok]
    sec = np.array([s for s in seconds if s], float)
    return {"method": method, "level": level, "molecules_ok": len(ok),
            "molecules_failed": len(failed), "failures": [f[2] for f in failed][:10],
            "dft_seconds_total": float(sec.sum()), "dft_seconds_median": float(np.median(sec))
            if len(sec) else None, "atoms_median": float(np.median(atoms)) if atoms else None,
            "atoms_max": max(atoms) if atoms else None}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the study config")
    ap.add_argument("--study", required=True, help="the study's --out folder")
    ap.add_argument("--name", required=True, help="results/energy_terms_<name>.*")
    ap.add_argument("--command", required=True, help="the command that ran the study")
    ap.add_argument("--data-command", default="", help="the commands that made the data")
    ap.add_argument("--note", default="", help="a paragraph printed under the tables")
    ap.add_argument("--note-file", default="", help="the same paragraph read from a file")
    ap.add_argument("--set", action="append", default=[], dest="overrides",
                    help="the study's --set overrides (repeatable)")  # fmt: skip
    args = ap.parse_args()
    if args.note_file:
        args.note = Path(args.note_file).read_text().strip()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import RESULTS, machine, write_results

    from rhoml.studies.energy_terms import load_study, markdown, run_study

    cfg = load_study(args.config, args.overrides)
    summary = run_study(cfg, args.study, progress=False, summary_only=True)
    data = data_description(summary["store"], summary["method"])
    import os

    summary["store"] = os.path.relpath(summary["store"])  # not this machine's absolute path
    name = f"energy_terms_{args.name}"
    out = {**summary, "title": f"{summary['title']}: {args.name}", "machine": machine(),
           "study_command": args.command, "data_command": args.data_command,
           "data": data}  # fmt: skip
    table = markdown(summary).split("\n", 1)[1].strip()  # the title goes into out["title"]
    dft = (f"DFT data: {data['molecules_ok']} molecules ({data['molecules_failed']} failed), "
           f"{data['level']} (record {data['method']}), median {data['atoms_median']:.0f} atoms "
           f"(max {data['atoms_max']}), {data['dft_seconds_total'] / 60:.1f} core-minutes of "
           f"DFT (median {data['dft_seconds_median']:.1f} s per molecule).")  # fmt: skip
    table = f"{table}\n\n{dft}"
    if args.data_command:
        table += f"\n\nData commands: `{args.data_command}`"
    table += f"\n\nStudy command: `{args.command}`"
    if args.note:
        table += f"\n\n{args.note}"
    table += f"\n\n![test RMSE relative to the mean predictor]({name}.png)"
    write_results(name, out, table)
    shutil.copy(Path(args.study) / "rmse.png", RESULTS / f"{name}.png")


if __name__ == "__main__":
    main()
