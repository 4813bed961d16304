"""Compare the per-run test metrics of two `rhoml bench voxel-study` folders (e.g. the same
command run with two versions of rhoml) and write JSON + markdown under benchmarks/results/.

Run: python benchmarks/compare_study_runs.py --a DIR_OLD --b DIR_NEW --name NAME --command "..."
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def runs(folder: Path) -> dict[tuple, dict]:
    out = {}
    for f in sorted(folder.glob("runs/*/n*/s*/result.json")):
        r = json.loads(f.read_text())
        out[(r["representation"], r["size"], r["seed"])] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--a", required=True, help="study folder of the reference version")
    ap.add_argument("--b", required=True, help="study folder of the version under test")
    ap.add_argument("--label-a", default="before")
    ap.add_argument("--label-b", default="after")
    ap.add_argument("--name", required=True, help="results/<name>.json and .md")
    ap.add_argument("--command", required=True, help="the study command both folders ran")
    args = ap.parse_args()
    a, b = runs(Path(args.a)), runs(Path(args.b))
    rows = []
    for key in sorted(set(a) & set(b)):
        for metric, va in a[key]["test"].items():
            vb = b[key]["test"].get(metric)
            rows.append({"representation": key[0], "size": key[1], "seed": key[2],
                         "metric": metric, args.label_a: va, args.label_b: vb,
                         "abs_diff": None if vb is None else abs(vb - va)})  # fmt: skip
    worst = max((r["abs_diff"] for r in rows if r["abs_diff"] is not None), default=None)
    machine = f"{platform.machine()}, python {platform.python_version()}"
    report = {"command": args.command, "compare_command": " ".join(sys.argv),
              "machine": machine, "runs_compared": len(set(a) & set(b)),
              "max_abs_diff": worst, "rows": rows}  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# {args.name}", "", f"Study command (both versions): `{args.command}`", "",
             f"| representation | n | seed | metric | {args.label_a} | {args.label_b} "
             "| abs diff |", "|---|---:|---:|---|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['representation']} | {r['size']} | {r['seed']} | {r['metric']} "
                     f"| {r[args.label_a]:.10g} | {r[args.label_b]:.10g} "
                     f"| {r['abs_diff']:.3g} |")  # fmt: skip
    n_runs = report["runs_compared"]
    lines += ["", f"Largest absolute difference: {worst!r} over {n_runs} runs.", "",
              f"Machine: {report['machine']}. Command: `{report['compare_command']}`"]  # fmt: skip
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
