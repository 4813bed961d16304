"""Keep the finished runs of a long resumable study in the repository, and bring them back.

A study (``rhoml bench voxel-study``, ``rhoml bench edg-study``) writes one ``result.json`` per
finished run under ``STUDY/runs/...`` and skips every run that has one. Sessions are shorter
than these studies and the study folder may not survive between them, so the result files are
committed (``save``) and copied back into a fresh study folder before it continues
(``restore``: only files the study does not have yet).

    python benchmarks/study_results_sync.py save STUDY SAVED
    python benchmarks/study_results_sync.py restore SAVED STUDY
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def copy_results(src: Path, dst: Path, *, overwrite: bool) -> int:
    """Copy every ``result.json`` under ``src`` to the same relative path under ``dst``;
    returns how many were copied."""
    n = 0
    for f in sorted(src.rglob("result.json")):
        target = dst / f.relative_to(src)
        if target.exists() and not overwrite:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["save", "restore"])
    ap.add_argument("src", help="save: the study folder; restore: the saved folder")
    ap.add_argument("dst", help="save: the saved folder; restore: the study folder")
    args = ap.parse_args()
    src, dst = Path(args.src), Path(args.dst)
    if args.mode == "save":
        n = copy_results(src / "runs", dst, overwrite=True)
    else:
        n = copy_results(src, dst / "runs", overwrite=False) if src.is_dir() else 0
    print(f"{args.mode}: {n} result file(s) {src} -> {dst}")


if __name__ == "__main__":
    main()
