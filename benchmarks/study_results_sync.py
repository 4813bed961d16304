"""Keep the finished runs of a long resumable study in the repository, and bring them back.

A study (``rhoml bench voxel-study``, ``rhoml bench edg-study``) writes one ``result.json`` per
finished run under ``STUDY/runs/...`` and skips every run that has one. Sessions are shorter
than these studies and the study folder may not survive between them, so the result files are
committed (``save``) and copied back into a fresh study folder before it continues
(``restore``: only files the study does not have yet).

Runs longer than a session (QM9 voxel runs at 16k-32k molecules take hours) would restart from
epoch 0 in every fresh checkout. With ``--partial`` a run folder that has a training checkpoint
(``checkpoints/last.pt``) but no ``result.json`` is saved whole (config, checkpoints, metrics)
under ``SAVED/partial/``; ``restore`` puts it back when the study has no newer state for that
run, and the training loop resumes from its last epoch. A saved partial run is dropped as soon
as the run has finished (its ``result.json`` is saved instead).

    python benchmarks/study_results_sync.py save [--partial] STUDY SAVED
    python benchmarks/study_results_sync.py restore SAVED STUDY
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

PARTIAL = "partial"
LAST = Path("checkpoints") / "last.pt"


KEPT = ("manifest.json",)  # kept beside each result: what a study's summary reads of a run


def copy_results(src: Path, dst: Path, *, overwrite: bool) -> int:
    """Copy every ``result.json`` under ``src`` (outside ``src/partial``), with the run's
    :data:`KEPT` files where it has them, to the same relative path under ``dst``; returns how
    many results were copied."""
    n = 0
    for f in sorted(src.rglob("result.json")):
        rel = f.relative_to(src)
        if rel.parts[0] == PARTIAL:
            continue
        target = dst / rel
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        for name in KEPT:
            if (f.parent / name).is_file():
                shutil.copyfile(f.parent / name, target.parent / name)
        n += 1
    return n


def epochs_done(run: Path) -> int:
    """Epoch rows in a run folder's ``metrics.csv`` files (0 when there are none)."""
    n = 0
    for f in run.rglob("metrics.csv"):
        with f.open(newline="") as fh:
            n += max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    return n


def unfinished_runs(runs: Path) -> list[Path]:
    """Run folders under ``runs`` with a checkpoint and no ``result.json``."""
    out = []
    for last in sorted(runs.rglob(str(LAST))):
        run = last.parent.parent
        if not (run / "result.json").is_file():
            out.append(run)
    return out


def save_partial(runs: Path, saved: Path) -> tuple[int, int]:
    """Save every unfinished run of ``runs`` whole under ``saved/partial`` and drop saved partial
    runs that have finished since; returns (saved, dropped)."""
    part = saved / PARTIAL
    n_saved = n_dropped = 0
    if part.is_dir():
        for last in sorted(part.rglob(str(LAST))):
            run = last.parent.parent
            rel = run.relative_to(part)
            if (runs / rel / "result.json").is_file() or (saved / rel / "result.json").is_file():
                shutil.rmtree(run)
                n_dropped += 1
    for run in unfinished_runs(runs):
        target = part / run.relative_to(runs)
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(run, target)
        n_saved += 1
    return n_saved, n_dropped


def restore_partial(saved: Path, runs: Path) -> int:
    """Copy saved partial runs into ``runs`` where the study has no result and fewer finished
    epochs for that run; returns how many were restored."""
    part = saved / PARTIAL
    n = 0
    if not part.is_dir():
        return 0
    for last in sorted(part.rglob(str(LAST))):
        run = last.parent.parent
        target = runs / run.relative_to(part)
        if (target / "result.json").is_file():
            continue
        if target.exists():
            if epochs_done(target) >= epochs_done(run):
                continue
            shutil.rmtree(target)
        shutil.copytree(run, target)
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["save", "restore"])
    ap.add_argument("src", help="save: the study folder; restore: the saved folder")
    ap.add_argument("dst", help="save: the saved folder; restore: the study folder")
    ap.add_argument("--partial", action="store_true",
                    help="save: also save unfinished runs whole (checkpoints)")  # fmt: skip
    args = ap.parse_args()
    src, dst = Path(args.src), Path(args.dst)
    if args.mode == "save":
        n = copy_results(src / "runs", dst, overwrite=True)
        msg = f"save: {n} result file(s) {src} -> {dst}"
        if args.partial:
            k, d = save_partial(src / "runs", dst)
            msg += f"; {k} unfinished run(s) saved, {d} finished dropped ({dst / PARTIAL})"
        print(msg)
    else:
        n = copy_results(src, dst / "runs", overwrite=False) if src.is_dir() else 0
        k = restore_partial(src, dst / "runs") if src.is_dir() else 0
        print(f"restore: {n} result file(s), {k} unfinished run(s) {src} -> {dst}")


if __name__ == "__main__":
    main()
