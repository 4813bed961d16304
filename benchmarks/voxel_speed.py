"""Voxelisation speed before/after, one run: the voxeliser of an earlier commit (``--before``,
default the merge base with ``main``) against the working tree, same inputs, same core.

Cases (whole ``Voxelizer`` calls from ``Molecule`` objects, one molecule per call):

* complex: the usable complexes of the PDBbind sample (``<shared>/data/pdbbind_sample``,
  PDBbind's pocket files), 24 Å box at 0.5 Å → 48³, pocket and ligand channels, all 28
  channels (11 element channels, ρ, |∇ρ|, shape per group), promolecule densities computed
  inside the call (as ``rhoml voxelize`` / training do for complexes);
* complex atoms: the same grid with the atom-type channels only (22 channels; what an
  ``atoms`` run now computes: no density);
* qm9: QM9 molecules, 16 Å box at 0.5 Å → 32³, 8 channels (H C N O F, ρ, |∇ρ|, shape), xTB
  densities computed beforehand (xTB time not included).

Each side runs in its own worker process (``PYTHONPATH`` = that side's ``src``), both pinned to
one core (``--core``) with one thread; rounds alternate between the sides, so load drifts hit
both; the first round is a warm-up (numba kernels loaded, per-element tables built). Per call
the wall time and the process CPU time are recorded: complexes/s per core = 1 / median CPU
seconds per complex (CPU time is what one core spends; wall time also counts waiting on a
shared machine). After timing, both sides voxelise a few inputs (also in a random pose) and the
largest differences are reported.

    python benchmarks/voxel_speed.py --shared ../shared
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

ROOT = Path(__file__).resolve().parents[1]
CASES = ("complex", "complex atoms", "qm9")


# -- worker (runs with either side's src on PYTHONPATH) -------------------------------------------
def _worker(args) -> None:
    """Line protocol: 'CASE' → one timed round as JSON [[wall, cpu], ...]; 'dump PATH' → save
    voxels of a few inputs to PATH (.npz); 'quit'."""
    import torch

    torch.set_num_threads(1)
    from rhoml.datasets.pdbbind import default_spec, prepare_complexes, read_complexes
    from rhoml.density import compute
    from rhoml.io.qm9 import load_qm9
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    spec = default_spec(0.5, 24.0)
    root = Path(args.shared) / "data" / "pdbbind_sample"
    cplx = prepare_complexes(read_complexes(root, labels=False), spec)[: args.n_complexes]
    atoms_spec = VoxelSpec(**{**spec.to_dict(), "channels": ("atoms",)})
    qm9 = load_qm9(limit=args.n_qm9)
    qspec = VoxelSpec(size=16.0, spacing=0.5, channels=("atoms", "density", "gradient", "shape"),
                      overflow="crop")  # fmt: skip
    qdens = [[compute(m, "xtb")] for m in qm9]
    vox = {"complex": Voxelizer(spec, engine="promolecule"),
           "complex atoms": Voxelizer(atoms_spec, engine="promolecule"),
           "qm9": Voxelizer(qspec, engine="xtb")}  # fmt: skip

    def one(case, i, **pose):
        if case == "qm9":
            return vox[case]([qm9[i]], [qdens[i]], **pose)[0]
        return vox[case]([cplx[i]], **pose)[0]

    sizes = {"complex": len(cplx), "complex atoms": len(cplx), "qm9": len(qm9)}
    print(json.dumps({"ready": True, "complexes": [m.id for m in cplx],
                      "complex_atoms": [int(m.n_atoms) for m in cplx],
                      "qm9": [m.id for m in qm9]}), flush=True)  # fmt: skip
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "quit":
            break
        if cmd.startswith("dump "):
            rng = np.random.default_rng(0)
            q, r = np.linalg.qr(rng.normal(size=(3, 3)))
            rot = q * np.sign(np.linalg.det(q))
            pose = {"rotations": [rot], "translations": [[0.1, -0.2, 0.15]]}
            out = {}
            for case in CASES:
                for i in range(min(2, sizes[case])):
                    out[f"{case}|{i}|pose0"] = one(case, i).numpy()
                    out[f"{case}|{i}|posed"] = one(case, i, **pose).numpy()
            np.savez(cmd.split(" ", 1)[1], **out)
            print(json.dumps({"dumped": True}), flush=True)
            continue
        times = []
        for i in range(sizes[cmd]):
            w, c = time.perf_counter(), time.process_time()
            one(cmd, i)
            times.append([time.perf_counter() - w, time.process_time() - c])
        print(json.dumps(times), flush=True)


# -- main -----------------------------------------------------------------------------------------
def _before_src(rev: str, dest: Path) -> str:
    """Extract ``src`` of commit ``rev`` into ``dest``; returns the full commit hash."""
    full = subprocess.run(["git", "-C", str(ROOT), "rev-parse", rev], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    archive = dest / "src.tar"
    with open(archive, "wb") as fh:
        subprocess.run(["git", "-C", str(ROOT), "archive", full, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return full


def _start(src: Path, args) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--worker", "--shared", args.shared,
           "--n-complexes", str(args.n_complexes), "--n-qm9", str(args.n_qm9)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=env, cwd=str(ROOT))  # fmt: skip
    line = proc.stdout.readline()
    while line and not line.startswith("{"):
        line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker with {src} died before it was ready")
    return proc, json.loads(line)


def _ask(proc: subprocess.Popen, cmd: str):
    proc.stdin.write(cmd + "\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker died on {cmd!r}")
    return json.loads(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--shared", default=str(ROOT.parent / "shared"))
    ap.add_argument("--before", default=None, help="commit of the 'before' side (default: the "
                    "merge base of HEAD and main)")  # fmt: skip
    ap.add_argument("--n-complexes", type=int, default=12)
    ap.add_argument("--n-qm9", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per side and case")
    ap.add_argument("--core", type=int, default=1)
    args = ap.parse_args()
    if args.worker:
        _worker(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    os.sched_setaffinity(0, {args.core})  # inherited by both workers
    rev = args.before or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    tmp = tempfile.TemporaryDirectory()
    before_rev = _before_src(rev, Path(tmp.name))
    load_start = os.getloadavg()
    sides = {}
    for name, src in (("before", Path(tmp.name) / "src"), ("after", ROOT / "src")):
        sides[name] = _start(src, args)
    info = sides["after"][1]
    samples: dict = {}
    for rnd in range(args.repeats + 1):  # round 0: warm-up
        for case in CASES:
            for name, (proc, _) in sides.items():
                t = _ask(proc, case)
                if rnd:
                    samples.setdefault((case, name), []).extend(t)
        print(f"round {rnd} done", flush=True)
    diffs = {}
    dumps = {name: Path(tmp.name) / f"{name}.npz" for name in sides}
    for name, (proc, _) in sides.items():
        _ask(proc, f"dump {dumps[name]}")
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(timeout=60)
    a, b = np.load(dumps["before"]), np.load(dumps["after"])
    for key in a.files:
        d = np.abs(a[key].astype(np.float64) - b[key].astype(np.float64))
        diffs[key] = {"max_abs": float(d.max()), "max_value": float(np.abs(a[key]).max()),
                      "bit_equal": bool(np.array_equal(a[key], b[key]))}  # fmt: skip
    load_end = os.getloadavg()
    tmp.cleanup()
    label = {"complex": "PDBbind complex, 48³ × 28 ch (promolecule ρ, |∇ρ| in the call)",
             "complex atoms": "PDBbind complex, 48³ × 22 atom-type ch",
             "qm9": "QM9 molecule, 32³ × 8 ch (xTB ρ, |∇ρ|; xTB not timed)"}  # fmt: skip
    results, table = (
        {},
        [
            "| case | side | median CPU s / molecule | range (min–max) | per core /s (CPU) | "
            "median wall s | speed-up (CPU) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ],
    )
    for case in CASES:
        med = {}
        for name in sides:
            s = np.asarray(samples[(case, name)])
            wall, cpu = s[:, 0], s[:, 1]
            med[name] = float(np.median(cpu))
            results[f"{case}: {name}"] = {
                "median_cpu_s": med[name], "median_wall_s": float(np.median(wall)),
                "min_cpu_s": float(cpu.min()), "max_cpu_s": float(cpu.max()),
                "per_core_per_s": 1.0 / med[name], "per_s_wall": 1.0 / float(np.median(wall)),
                "calls": len(s),
            }  # fmt: skip
        for name in sides:
            r = results[f"{case}: {name}"]
            up = f"{med['before'] / med['after']:.1f}×" if name == "after" else ""
            table.append(
                f"| {label[case] if name == 'before' else ''} | {name} | {r['median_cpu_s']:.3f} "
                f"| {r['min_cpu_s']:.3f}–{r['max_cpu_s']:.3f} | {r['per_core_per_s']:.1f} | "
                f"{r['median_wall_s']:.3f} | {up} |"
            )
    worst = {case: max(v["max_abs"] for k, v in diffs.items() if k.startswith(case + "|"))
             for case in CASES}  # fmt: skip
    notes = [
        "",
        f"Before: commit {before_rev[:7]}; after: the working tree. {len(info['complexes'])} "
        f"complexes ({min(info['complex_atoms'])}–{max(info['complex_atoms'])} atoms), "
        f"{len(info['qm9'])} QM9 molecules; {args.repeats} alternating rounds after a warm-up; "
        f"pinned to core {args.core}, 1 thread; load average {load_start[0]:.1f} at start, "
        f"{load_end[0]:.1f} at end (2-core machine shared with other jobs: wall times include "
        "waiting, CPU times do not).",
        "Largest |after − before| of the voxel values (float32, 2 inputs per case, as read and "
        "in a random pose): "
        + ", ".join(f"{c} {w:.1e}" for c, w in worst.items())
        + " (transformed channels reach ≈ 12; float32 spacing at 4–8 is 4.8e-7).",
    ]
    write_results(
        "voxel_speed",
        {"title": "Voxelisation speed before/after (one CPU core)", "machine": machine(),
         "before_commit": before_rev, "results": results, "differences": diffs,
         "max_abs_difference": worst, "inputs": info, "core": args.core,
         "loadavg_start": load_start, "loadavg_end": load_end},
        "\n".join(table + notes),
    )  # fmt: skip


if __name__ == "__main__":
    main()
