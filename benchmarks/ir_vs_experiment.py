"""Issue 14 item 7: the molecules of ``rhoml bench ir-vs-experiment`` against gas-phase
experiment, committed. Runs (or resumes) the study in a scratch folder and copies its summary,
each molecule's overlay plot, band table and build report under
``benchmarks/results/ir_vs_experiment/``, with the machine and the command.

    OMP_NUM_THREADS=1 python benchmarks/ir_vs_experiment.py --out runs/ir_molecules \
        [methanol acetone 2-propanol] [--workers 2]

Molecules whose build is not finished are built first (one to a few hours each on 2 cores);
molecules already finished in an earlier session are kept from the committed summary when
their scratch folder is gone (the JSON keeps every band).

    python benchmarks/ir_vs_experiment.py --reassign

redoes the band assignment of every committed molecule from its stored bands and harmonic
lines (seconds, no simulation), e.g. after a change of the assignment rules.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine  # noqa: E402

FILES = ("ir/ir.png", "ir/bands.csv", "ir/peaks.csv", "ir/harmonic.csv", "ir/protocol.json",
         "report.md")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("molecules", nargs="*", default=["methanol", "acetone", "2-propanol"])
    ap.add_argument("--out", default="runs/ir_molecules", help="scratch study folder")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--experimental-dir", default="../shared/data/ir_gas_phase")
    ap.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the markdown and the plot from the committed JSON",
    )
    ap.add_argument("--reassign", action="store_true",
                    help="redo the committed band assignments, then the report")  # fmt: skip
    args = ap.parse_args()

    from rhoml.studies.ir_experiment import IRStudySettings, run_study

    dest = RESULTS / "ir_vs_experiment"
    dest.mkdir(parents=True, exist_ok=True)
    settings = IRStudySettings(
        molecules=tuple(args.molecules), experimental_dir=args.experimental_dir,
        workers=args.workers,
    )  # fmt: skip
    old = dest / "ir_vs_experiment.json"
    if args.report_only:
        write_report(dest, json.loads(old.read_text()))
        return
    if args.reassign:
        from rhoml.studies.ir_experiment import reassign

        data = json.loads(old.read_text())
        for name, r in data["molecules"].items():
            if "error" not in r:
                data["molecules"][name] = reassign(r, args.experimental_dir,
                                                   stem=dest / name / "bands")  # fmt: skip
        data["reassigned"] = {**machine(), "command": "python benchmarks/ir_vs_experiment.py "
                              + " ".join(sys.argv[1:])}  # fmt: skip
        old.write_text(json.dumps(data, indent=1, default=str) + "\n")
        write_report(dest, data)
        return
    command = "python benchmarks/ir_vs_experiment.py " + " ".join(sys.argv[1:])
    data = run_study(args.out, settings, command=command)
    if old.is_file():  # molecules finished in an earlier session stay
        before = json.loads(old.read_text())["molecules"]
        for name, r in before.items():
            if "error" not in r and "error" in data["molecules"].get(name, {"error": ""}):
                data["molecules"][name] = r
    data["machine"] = machine()
    for name, r in data["molecules"].items():
        if "error" in r:
            continue
        folder = Path(args.out) / name
        for f in FILES:
            src = folder / f
            if src.is_file():
                target = dest / name / f.replace("ir/", "")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)
    old.write_text(json.dumps(data, indent=1, default=str) + "\n")
    write_report(dest, data)


def write_report(dest: Path, data: dict) -> None:
    """``ir_vs_experiment.md`` and ``.png`` of every molecule in ``data`` (all sessions)."""
    import matplotlib.pyplot as plt

    from rhoml.studies.ir_experiment import figure, markdown

    done = {n: r for n, r in data["molecules"].items() if "error" not in r}
    if done:
        fig = figure(done)
        fig.savefig(dest / "ir_vs_experiment.png", dpi=110)
        plt.close(fig)
    md = markdown(data).replace("/ir/ir.png", "/ir.png")
    m = data["machine"]
    md += (f"\nMachine: {m['cpu']}, {m['cores']} cores, OMP_NUM_THREADS={m['omp_num_threads']}; "
           f"commit {m['commit']}, {m['date']}. Build and spectrum seconds per molecule are in "
           "the JSON.\n")  # fmt: skip
    if "reassigned" in data:
        r = data["reassigned"]
        md += (f"\nBand assignment redone from the stored bands with the rules of commit "
               f"{r['commit']} ({r['date']}): `{r['command']}`.\n")  # fmt: skip
    md += "\n![shifts](ir_vs_experiment.png)\n"
    (dest / "ir_vs_experiment.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
