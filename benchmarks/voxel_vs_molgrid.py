"""Voxelisation throughput: rhoml's voxeliser vs libmolgrid on the same inputs, one CPU core.

Cases, each as single grids and as batches:
  * complex: 2,000 atoms (a PDBbind-sample protein cut to the atoms nearest the ligand centroid,
    plus the ligand), 48³ grid at 0.5 Å, 28 atom-type channels (14 protein + 14 ligand element
    channels); single grids (``--complex-calls`` calls of one complex per round) and batches
    of ``--complex-batch`` different complexes (3 calls per round);
  * qm9: ``--n-qm9`` QM9 molecules without fluorine, 32³ grid at 0.5 Å, 4 atom-type channels
    (H, C, N, O); each molecule once per round, singly and in batches of ``--qm9-batch``.
Both tools get the same coordinates, type indices, box centres and grid. Kernels: rhoml puts a
normalised Gaussian of σ = 0.5 Å, cut at 3σ = 1.5 Å, on each atom. libmolgrid puts exp(−2d²/r²)
to d = r and a quadratic tail to 1.5 r; with r = 1.0 Å for every type ("matched") that is the
same σ = 0.5 Å Gaussian with the same 1.5 Å cutoff, so both touch the same voxels per atom (the
headline comparison); with libmolgrid-style per-type radii 1.0–1.9 Å ("typed radii") it touches
2–6× more voxels per atom (reported for reference and continuity with earlier runs).

Timing: the whole process (and the libmolgrid worker it starts) is pinned to one core
(``--core``), torch and numba use one thread, rounds of the two tools alternate so machine
load drifts hit both, warm-up calls are excluded, and the numba compile time is measured
separately in fresh processes (cold: empty cache; cached: second process). libmolgrid writes into
a reused grid (its API; it zeroes the grid on every call); rhoml is timed both allocating a new
zeroed output per call (its default; the output is dropped after each call; large fresh
blocks pay the operating system's page faults) and reusing one (``out=``, like libmolgrid),
and its torch reference path (``backend="torch"``, the implementation before the compiled
kernels) is timed in the same rounds for the before/after comparison. ``Voxelizer.__call__``
is timed whole (pose, checks, channel lookup and kernel, from ``Molecule`` objects); libmolgrid's
batch ``ExampleVec`` is built outside the timed region. rhoml density channels (ρ, |∇ρ|), which
libmolgrid cannot compute, are timed too (``--skip-density`` to leave them out). libmolgrid (PyPI
``molgrid`` 0.5.5) needs numpy<2, so it runs in its own virtual environment
(``--molgrid-python``, default /tmp/molgrid-venv/bin/python).

Run: python benchmarks/voxel_vs_molgrid.py --shared ../shared
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

for _var in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

COMPLEX_ELEMENTS = ("H", "C", "N", "O", "S", "P", "F", "Cl", "Br", "I", "Zn", "Mg", "Ca", "X")
QM9_ELEMENTS = ("H", "C", "N", "O")
RADII = {"H": 1.0, "C": 1.7, "N": 1.6, "O": 1.5, "S": 1.9, "P": 1.9, "F": 1.5, "Cl": 1.8,
         "Br": 1.9, "I": 1.9, "Zn": 1.2, "Mg": 1.2, "Ca": 1.2, "X": 1.5}  # fmt: skip
MATCHED_RADIUS = 1.0  # Å: libmolgrid exp(−2d²/r²) = Gaussian σ = r/2 = 0.5 Å, cut at 1.5 r
CASES = ("complex", "complex_batch", "qm9", "qm9_batch")
TORCH_TOOL = "rhoml torch path (before: backend='torch', new output)"


# -- libmolgrid side (runs in the molgrid venv) ---------------------------------------------------
def _molgrid_worker(npz: str) -> None:
    """Line protocol on stdin/stdout: 'CASE VARIANT' → one timed round as a JSON list of
    seconds per call; 'quit' ends. Prints 'ready' and per-case checksums (sum of the grid of
    the case's last molecule) first."""
    import molgrid

    molgrid.set_gpu_enabled(False)
    data = np.load(npz, allow_pickle=False)
    runners, sums, keep_alive = {}, {}, []
    for case in CASES:
        base = case.split("_")[0]
        res, dim = float(data[f"{base}_res"]), float(data[f"{base}_dim"])
        n_types = int(data[f"{base}_types"])
        n_half = n_types // 2 if base == "complex" else n_types  # types per coordinate set
        mols = [int(i) for i in data[f"{case}_members"]]
        batch = int(data[f"{case}_batch"])
        gm = molgrid.GridMaker(resolution=res, dimension=dim)
        for variant in ("matched", "typed"):
            inputs = []
            for i in mols:
                c = data[f"{base}_coords_{i}"].astype(np.float32)
                t = data[f"{base}_typeidx_{i}"].astype(np.float32)
                r = data[f"{base}_radii_{variant}_{i}"].astype(np.float32)
                lig = data[f"{base}_ligand_{i}"].astype(bool)
                centre = tuple(float(x) for x in data[f"{base}_centre_{i}"])
                inputs.append((centre, c, t, r, lig))
            if batch == 1:
                array = np.zeros(tuple(gm.grid_dimensions(n_types)), dtype=np.float32)
                grid = molgrid.Grid4f(array)
                keep_alive.append(array)

                def run(inputs=inputs, gm=gm, grid=grid):
                    times = []
                    for centre, c, t, r, _ in inputs:
                        t0 = time.perf_counter()
                        gm.forward(molgrid.float3(*centre), molgrid.Grid2f(c), molgrid.Grid1f(t),
                                   molgrid.Grid1f(r), grid)  # fmt: skip
                        times.append(time.perf_counter() - t0)
                    return times

                run()
                sums[f"{case} {variant}"] = float(array.sum())
            else:
                batches = []
                for k in range(0, len(inputs) - batch + 1, batch):
                    examples = []
                    for _, c, t, r, lig in inputs[k : k + batch]:
                        ex = molgrid.Example()
                        # the grid centre is the centre of the last coordinate set: the ligand
                        # (complex, with ligand types after the protein's) or the molecule
                        sets = [~lig, lig] if base == "complex" else [np.ones(len(c), bool)]
                        for sel in sets:
                            # the Grid views do not own memory: keep the arrays alive
                            arrays = (np.ascontiguousarray(c[sel]),
                                      np.ascontiguousarray(t[sel] % n_half),
                                      np.ascontiguousarray(r[sel]))  # fmt: skip
                            keep_alive.append(arrays)
                            ex.coord_sets.append(molgrid.CoordinateSet(
                                molgrid.Grid2f(arrays[0]), molgrid.Grid1f(arrays[1]),
                                molgrid.Grid1f(arrays[2]), n_half,
                            ))  # fmt: skip
                        examples.append(ex)
                    batches.append(molgrid.ExampleVec(examples))
                array = np.zeros((batch,) + tuple(gm.grid_dimensions(n_types)), dtype=np.float32)
                grid = molgrid.Grid5f(array)
                keep_alive.append(array)

                def run(batches=batches, gm=gm, grid=grid):
                    times = []
                    for ev in batches:
                        t0 = time.perf_counter()
                        gm.forward(ev, grid)
                        times.append(time.perf_counter() - t0)
                    return times

                run()
                sums[f"{case} {variant}"] = float(array[-1].sum())
            runners[f"{case} {variant}"] = run
    print(json.dumps({"ready": True, "checksums_last_grid": sums}), flush=True)
    for line in sys.stdin:
        key = line.strip()
        if key == "quit":
            break
        print(json.dumps(runners[key]()), flush=True)


# -- inputs ---------------------------------------------------------------------------------------
def _complexes(shared: Path, count: int, n_atoms: int = 2000):
    from rhoml.io.pdbbind import iter_pdbbind
    from rhoml.molecule import Molecule

    out = []
    for m in iter_pdbbind(shared / "data" / "pdbbind_sample", pocket=False, on_error="skip"):
        lig = m.groups == 1
        if (m.groups == 0).sum() < n_atoms or np.ptp(m.positions[lig], 0).max() >= 20:
            continue
        centre = m.positions[lig].mean(0)
        prot = np.nonzero(~lig)[0]
        keep = prot[np.argsort(np.linalg.norm(m.positions[prot] - centre, axis=1))]
        keep = keep[: n_atoms - int(lig.sum())]
        sel = np.concatenate([np.sort(keep), np.nonzero(lig)[0]])
        mult = 1 + int(m.numbers[sel].sum()) % 2
        out.append(Molecule(m.numbers[sel], m.positions[sel], id=m.id, groups=m.groups[sel],
                            multiplicity=mult))  # fmt: skip
        if len(out) == count:
            break
    return out


def _type_index(mol, elements, separate: bool):
    sym = mol.symbols
    idx = np.array([elements.index(s) if s in elements else elements.index("X") for s in sym])
    if separate:
        idx = idx + len(elements) * (mol.groups == 1)
    return idx, np.array([RADII.get(s, 1.5) for s in sym])


def _payload(bases: dict, members: dict) -> dict:
    payload = {}
    for base, c in bases.items():
        payload[f"{base}_res"] = c["res"]
        payload[f"{base}_dim"] = c["res"] * (c["n"] - 1)  # molgrid: points = dim/res + 1
        payload[f"{base}_types"] = len(c["elements"]) * (2 if c["separate"] else 1)
        for i, m in enumerate(c["mols"]):
            ti, r = _type_index(m, c["elements"], c["separate"])
            lig = m.groups == 1 if c["separate"] else np.zeros(m.n_atoms, bool)
            payload[f"{base}_coords_{i}"] = m.positions
            payload[f"{base}_typeidx_{i}"] = ti
            payload[f"{base}_radii_typed_{i}"] = r
            payload[f"{base}_radii_matched_{i}"] = np.full(m.n_atoms, MATCHED_RADIUS)
            payload[f"{base}_ligand_{i}"] = lig
            payload[f"{base}_centre_{i}"] = m.positions[lig].mean(0) if c["separate"] else (
                m.centroid()
            )  # fmt: skip
    for case, (idx, batch) in members.items():
        payload[f"{case}_members"] = np.asarray(idx)
        payload[f"{case}_batch"] = batch
    return payload


def _compile_seconds() -> dict:
    """Numba compile time of the voxel kernels in fresh processes: cold (empty cache) and
    cached (second process loading the on-disk cache)."""
    code = (
        "import time; t=time.perf_counter(); from rhoml.represent import voxel_kernels as vk; "
        "vk.warm_up(); print(time.perf_counter()-t)"
    )
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for key in ("cold_compile_seconds", "cached_load_seconds"):
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True, env=env)  # fmt: skip
            out[key] = float(proc.stdout.strip().splitlines()[-1])
    return out


# -- main -----------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--molgrid-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--molgrid-python", default="/tmp/molgrid-venv/bin/python")
    ap.add_argument(
        "--shared",
        default=str(Path(__file__).resolve().parents[1].parent / "shared"),
        help="the shared data folder (default: ../shared beside the repository)",
    )
    ap.add_argument("--repeats", type=int, default=5, help="alternating timing rounds")
    ap.add_argument("--n-qm9", type=int, default=48)
    ap.add_argument("--qm9-batch", type=int, default=16)
    ap.add_argument("--complex-batch", type=int, default=4)
    ap.add_argument("--complex-calls", type=int, default=10, help="single-complex calls per round")
    ap.add_argument("--core", type=int, default=1, help="CPU core to pin everything to")
    ap.add_argument("--skip-density", action="store_true")
    args = ap.parse_args()
    if args.molgrid_worker:
        _molgrid_worker(args.molgrid_worker)
        return
    os.sched_setaffinity(0, {args.core})  # inherited by the libmolgrid worker
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import machine, write_results

    from rhoml.io.qm9 import load_qm9
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    torch.set_num_threads(1)
    load_start = os.getloadavg()
    compile_times = _compile_seconds()
    cplx = _complexes(Path(args.shared), max(1, args.complex_batch))
    qm9 = [m for m in load_qm9(limit=4 * args.n_qm9) if 9 not in m.numbers][: args.n_qm9]
    bases = {
        "complex": dict(mols=cplx, res=0.5, n=48, elements=COMPLEX_ELEMENTS, separate=True),
        "qm9": dict(mols=qm9, res=0.5, n=32, elements=QM9_ELEMENTS, separate=False),
    }
    # (members, batch size) per case; the single-complex case repeats one complex
    members = {
        "complex": ([0] * args.complex_calls, 1),
        "complex_batch": (list(range(len(cplx))) * 3, len(cplx)),
        "qm9": (list(range(len(qm9))), 1),
        "qm9_batch": (list(range(len(qm9) // args.qm9_batch * args.qm9_batch)), args.qm9_batch),
    }
    # -- libmolgrid worker
    molgrid, molgrid_error, molgrid_sums = None, None, None
    tmp = tempfile.TemporaryDirectory()
    npz = Path(tmp.name) / "inputs.npz"
    np.savez(npz, **_payload(bases, members))
    try:
        molgrid = subprocess.Popen(
            [args.molgrid_python, __file__, "--molgrid-worker", str(npz)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = molgrid.stdout.readline()
        while line and not line.startswith("{"):  # molgrid prints notes (no torch) on import
            line = molgrid.stdout.readline()
        molgrid_sums = json.loads(line)["checksums_last_grid"]
    except (OSError, json.JSONDecodeError) as exc:
        err = molgrid.stderr.read() if molgrid and molgrid.poll() is not None else ""
        molgrid_error = f"{type(exc).__name__}: {exc} {err}"[:500]
        molgrid = None

    def molgrid_round(key: str) -> list[float]:
        molgrid.stdin.write(key + "\n")
        molgrid.stdin.flush()
        line = molgrid.stdout.readline()
        if not line:
            raise RuntimeError(f"libmolgrid worker died: {molgrid.stderr.read()[-2000:]}")
        return json.loads(line)

    # -- rhoml voxelisers, warmed up (kernels compiled or loaded from the cache)
    vox, ref_vox, rhoml_sums = {}, {}, {}
    for base, c in bases.items():
        spec = VoxelSpec(size=c["res"] * c["n"], spacing=c["res"], channels=("atoms",),
                         elements=c["elements"], separate_groups=c["separate"],
                         center_group=1 if c["separate"] else None, overflow="crop")  # fmt: skip
        vox[base] = Voxelizer(spec)
        ref_vox[base] = Voxelizer(spec, backend="torch")  # the implementation before the kernels
        assert vox[base].shape == (len(c["elements"]) * (1 + c["separate"]),) + (c["n"],) * 3
        last = members[base][0][-1]
        rhoml_sums[base] = float(vox[base](c["mols"][last : last + 1]).sum())

    buffers = {}  # reused outputs, one per case (as libmolgrid's grids)

    def rhoml_round(case: str, reuse: bool, torch_path: bool = False) -> list[float]:
        base = case.split("_")[0]
        idx, batch = members[case]
        mols = bases[base]["mols"]
        v = (ref_vox if torch_path else vox)[base]
        buf = buffers.setdefault(case, torch.zeros((batch,) + v.shape)) if reuse else None
        times = []
        for k in range(0, len(idx), batch):
            group = [mols[i] for i in idx[k : k + batch]]
            t0 = time.perf_counter()
            v(group, out=buf)
            times.append(time.perf_counter() - t0)
        return times

    samples: dict[tuple[str, str], list[float]] = {}
    tools = ["rhoml (new output)", "rhoml (out= reused)", TORCH_TOOL]
    if molgrid:
        tools += ["libmolgrid matched σ", "libmolgrid typed radii"]
    for case in CASES:  # warm-up round, not timed
        rhoml_round(case, False)
        rhoml_round(case, True)
        rhoml_round(case, False, torch_path=True)
    for _ in range(args.repeats):
        for case in CASES:
            for tool in tools:
                if tool.startswith("libmolgrid"):
                    t = molgrid_round(f"{case} {'matched' if 'matched' in tool else 'typed'}")
                else:
                    t = rhoml_round(case, "reused" in tool, torch_path=tool == TORCH_TOOL)
                samples.setdefault((case, tool), []).extend(t)
    if molgrid:
        molgrid.stdin.write("quit\n")
        molgrid.stdin.flush()
        molgrid.wait(timeout=60)
    tmp.cleanup()
    # -- rhoml density channels (precomputed densities; engine time not included)
    density_rows = {}
    if not args.skip_density:
        from rhoml.density import compute

        # plain densities: the voxeliser picks its evaluator (regular-grid / compiled kernel)
        spec = VoxelSpec(size=16.0, spacing=0.5, channels=("density", "gradient"), overflow="crop")
        v = Voxelizer(spec)
        dens = [compute(m, "xtb") for m in qm9]
        v(qm9[:1], [[dens[0]]])
        t = []
        for _ in range(max(1, args.repeats // 2)):
            for m, d in zip(qm9, dens, strict=True):
                t0 = time.process_time()
                v([m], [[d]])
                t.append(time.process_time() - t0)
        density_rows["qm9: rhoml xTB ρ + |∇ρ| (2 ch, 32³)"] = t
        spec = VoxelSpec(size=24.0, spacing=0.5, channels=("density", "gradient"),
                         separate_groups=True, center_group=1, overflow="crop")  # fmt: skip
        v = Voxelizer(spec, engine="promolecule")
        cd = v.densities_for(cplx[0])
        v([cplx[0]], [cd])  # warm-up: kernels loaded, per-element tables built
        t = []
        for _ in range(3):
            t0 = time.process_time()
            v([cplx[0]], [cd])
            t.append(time.process_time() - t0)
        density_rows["complex: rhoml promolecule ρ + |∇ρ| (4 ch, 48³)"] = t
    load_end = os.getloadavg()
    # -- results
    label = {
        "complex": "complex 2,000 atoms, 48³ × 28 ch, single grid",
        "complex_batch": f"complex 2,000 atoms, 48³ × 28 ch, batch of {len(cplx)}",
        "qm9": "QM9, 32³ × 4 ch, single grid",
        "qm9_batch": f"QM9, 32³ × 4 ch, batch of {args.qm9_batch}",
    }
    results, ratios = {}, {}
    table = [
        "| case | tool | median ms / grid | grids/s (1 core) | rhoml new / libmolgrid matched "
        "| rhoml reused / libmolgrid matched |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case in CASES:
        batch = members[case][1]
        per = {}
        for tool in tools:
            s = np.asarray(samples[(case, tool)]) / batch  # seconds per grid
            med = float(np.median(s))
            per[tool] = med
            results[f"{case}: {tool}"] = {
                "median_seconds_per_grid": med, "grids_per_second": 1.0 / med,
                "batch": batch, "calls": len(s),
            }  # fmt: skip
        ref = per.get("libmolgrid matched σ")
        if ref:
            ratios[case] = {
                "rhoml_new_output": ref / per["rhoml (new output)"],
                "rhoml_out_reused": ref / per["rhoml (out= reused)"],
                "rhoml_new_vs_libmolgrid_typed": per["libmolgrid typed radii"]
                / per["rhoml (new output)"],
            }
        for i, tool in enumerate(tools):
            med = per[tool]
            extra = "| | |"
            if ref and i == 0:
                r = ratios[case]
                extra = f"| {r['rhoml_new_output']:.2f}× | {r['rhoml_out_reused']:.2f}× |"
            table.append(f"| {label[case] if i == 0 else ''} | {tool} | {1e3 * med:.3f} | "
                         f"{1.0 / med:,.0f} {extra}")  # fmt: skip
    for k, v in density_rows.items():
        med = float(np.median(v))
        results[k] = {"median_seconds_per_grid": med, "grids_per_second": 1.0 / med,
                      "calls": len(v)}  # fmt: skip
        table.append(
            f"| {k} | rhoml (new output), CPU time | {1e3 * med:.2f} | {1.0 / med:.1f} | | |"
        )
    notes = [
        "",
        f"numba kernels: cold compile {compile_times['cold_compile_seconds']:.1f} s (empty "
        f"cache), {compile_times['cached_load_seconds']:.2f} s to load from the on-disk cache "
        "(fresh processes, import included); not in the timings above.",
        f"Pinned to core {args.core}; 1 thread (torch, numba, OpenMP); {args.repeats} alternating "
        f"rounds; load average (1/5/15 min) {load_start[0]:.2f}/{load_start[1]:.2f}/"
        f"{load_start[2]:.2f} at start, {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} at "
        "end (2-core machine shared with other jobs: timings are noisy, ratios are from the "
        "same rounds).",
        "Density rows: process CPU time per grid (engine time not included; the machine's load "
        "varies between these rows, so CPU time, not wall time).",
        "libmolgrid matched σ: every type radius 1.0 Å, i.e. the same σ = 0.5 Å Gaussian and "
        "1.5 Å cutoff as rhoml; typed radii: 1.0–1.9 Å per element (larger footprints, as in "
        "the earlier run of this benchmark).",
    ]
    if molgrid_error:
        notes.append(f"libmolgrid not measured: {molgrid_error}")
    write_results(
        "voxel_vs_molgrid",
        {"title": "Voxelisation throughput: rhoml vs libmolgrid (one CPU core)",
         "machine": machine(), "results": results, "ratios_libmolgrid_time_over_rhoml": ratios,
         "numba": compile_times, "molgrid_error": molgrid_error,
         "checksums_last_grid": {"rhoml": rhoml_sums, "libmolgrid": molgrid_sums},
         "complex_ids": [m.id for m in cplx], "complex_atoms": [m.n_atoms for m in cplx],
         "qm9_molecules": len(qm9), "qm9_batch": args.qm9_batch, "complex_batch": len(cplx),
         "core": args.core, "threads": 1, "loadavg_start": load_start, "loadavg_end": load_end},
        "\n".join(table + notes),
    )  # fmt: skip


if __name__ == "__main__":
    main()
