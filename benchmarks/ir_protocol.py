"""The default `rhoml ir` protocol on the shipped ethanol run: wall time on this machine, band
positions across seeds (reproducibility vs the bootstrap uncertainty), NVE energy drift per ps,
and MD steps/s vs one PySCF gradient.

    OMP_NUM_THREADS=1 python benchmarks/ir_protocol.py            # 3 seeds, 2 workers
    OMP_NUM_THREADS=1 python benchmarks/ir_protocol.py --seeds 0 --no-speed

Each seed runs :func:`rhoml.md.protocol.run_protocol` with the default
:class:`~rhoml.md.protocol.ProtocolSettings` (what `rhoml ir RUN` runs) on ``--workers``
processes. Bands of every seed are matched to seed 0's (one-to-one, ≤ 50 cm⁻¹); the spread is
max − min over seeds. Speed: MD steps/s of one process (fast evaluator, dipole every step,
densnet_md_speed.md_steps_per_s) and one PySCF PBE/def2-SVP energy+gradient, same run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", nargs="?", default="ethanol")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-speed", action="store_true", help="skip MD steps/s vs PySCF")
    ap.add_argument("--out", default="ir_protocol")
    ap.add_argument("--quick", action="store_true", help="tiny settings (checks the script)")
    ap.add_argument("--equilibration", type=int, default=None,
                    help="Langevin steps per chain (default: the protocol's)")  # fmt: skip
    ap.add_argument("--sampling", default=None, choices=["langevin", "normal-modes"],
                    help="trajectory starts (default: the protocol's)")  # fmt: skip
    ap.add_argument("--conformers", action="store_true",
                    help="conformer search, trajectories given by Boltzmann weight")  # fmt: skip
    ap.add_argument("--cache", default=None,
                    help="folder of per-seed results: seeds found there are not rerun, new ones "
                    "are added (lets seeds run as separate processes)")  # fmt: skip
    ap.add_argument("--speed-only", action="store_true", help="only MD vs PySCF (into --cache)")
    ap.add_argument("--note", default="", help="a sentence added after the wall times")
    ap.add_argument(
        "--float64",
        action="store_true",
        help="evaluate the model in float64 (default: its training precision)",
    )
    ap.add_argument("--previous", default=None, metavar="JSON",
                    help="an earlier ir_protocol.json to compare band spreads with")  # fmt: skip
    ap.add_argument("--report-only", action="store_true",
                    help="write the results from the seeds and speed in --cache")  # fmt: skip
    ap.add_argument("--pool", type=int, default=0, metavar="K",
                    help="also report window centroids of ensembles pooling K consecutive "
                    "seeds (K x trajectories each)")  # fmt: skip
    ap.add_argument("--from-results", default=None, metavar="JSON",
                    help="rewrite the report from the per-seed spectra of an earlier "
                    "ir_protocol.json (band centroids added); runs nothing")  # fmt: skip
    args = ap.parse_args()

    from rhoml import runs
    from rhoml.md.bands import match
    from rhoml.md.protocol import ProtocolSettings, run_protocol

    pot = runs.load(args.run).potential()
    mol = pot.start_molecule()
    settings = ProtocolSettings()
    if args.quick:
        settings = ProtocolSettings(equilibration_steps=100, trajectories=2,
                                    nve_steps=200, max_lag_fs=50)  # fmt: skip
    if args.equilibration:
        settings = ProtocolSettings(**{**settings.__dict__,
                                       "equilibration_steps": args.equilibration})  # fmt: skip
    if args.sampling or args.conformers:
        settings = ProtocolSettings(**{**settings.__dict__,
                                       "sampling": args.sampling or settings.sampling,
                                       "conformers": args.conformers})  # fmt: skip
    cache = Path(args.cache) if args.cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    per_seed = []
    earlier = None
    if args.from_results:
        earlier = json.loads(Path(args.from_results).read_text())
        wn = earlier["wavenumber_cm-1"]
        per_seed = [{**p, "wavenumber": wn} for p in earlier["per_seed"]]
        settings = ProtocolSettings(**earlier["settings"])
        args.report_only = True
    for seed in [] if (args.speed_only or args.report_only) else args.seeds:
        if cache is not None and (cache / f"seed_{seed}.json").exists():
            continue
        s = ProtocolSettings(**{**settings.__dict__, "seed": seed})
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        res = run_protocol(args.run, mol, s, workers=args.workers, progress=False, log=print,
                           dtype=None if args.float64 else "auto")  # fmt: skip
        wall = time.perf_counter() - t
        bands = res.bands()
        first = s.equilibration_steps if s.sampling == "langevin" else s.settle_steps
        steps = s.trajectories * (first + s.nve_steps)
        per_seed.append({
            "seed": seed,
            "wall_s": wall,
            "wall_parts_s": res.wall_s,
            "load_1min_start": load0,
            "load_1min_end": os.getloadavg()[0],
            "md_steps": steps,
            "precision": res.precision,
            "settings": s.__dict__,
            "drift": res.drift_summary(),
            "nve": res.nve,
            "conformers": [{k: v for k, v in c.items() if k != "positions_angstrom"}
                           for c in res.conformers],
            "bands": [b.row() for b in bands],
            "spectrum": np.round(res.spectrum.mean().intensity[res.spectrum.wavenumber <= 4500],
                                 4).tolist(),
            "wavenumber": res.spectrum.wavenumber[res.spectrum.wavenumber <= 4500].tolist(),
        })  # fmt: skip
        print(f"seed {seed}: {wall:.0f} s, {len(bands)} bands, drift {res.drift_summary()}")
        print(json.dumps(per_seed[-1]["bands"]), flush=True)
        if cache is not None:
            per_seed[-1]["workers"] = args.workers
            (cache / f"seed_{seed}.json").write_text(json.dumps(per_seed[-1]))
    if args.speed_only or args.report_only or cache is not None:
        if not args.speed_only and not args.report_only:
            return
        if cache is not None:
            per_seed = [json.loads(p.read_text()) for p in sorted(cache.glob("seed_*.json"))]

    speed = earlier["speed"] if earlier else None
    if cache is not None and (cache / "speed.json").exists():
        speed = json.loads((cache / "speed.json").read_text())
    if args.speed_only or (speed is None and not args.no_speed and not args.report_only):
        import densnet_md_speed
        import torch

        from rhoml.ase import RhomlCalculator

        torch.set_num_threads(1)
        sp = densnet_md_speed.md_steps_per_s(RhomlCalculator(args.run), mol, 400, 3)
        dft = densnet_md_speed.dft_gradient_s(mol, 1)
        speed = {"md_steps_per_s_1thread": sp["steps_per_s"], "all": sp["all"],
                 "dft_gradient_s_1thread": dft["seconds"],
                 "ratio": sp["steps_per_s"] * dft["seconds"],
                 "load_1min": os.getloadavg()[0]}  # fmt: skip
        if cache is not None:
            (cache / "speed.json").write_text(json.dumps(speed))
        if args.speed_only:
            print(speed)
            return

    # bands matched across seeds against seed 0
    ref = [b["position_cm-1"] for b in per_seed[0]["bands"]] if per_seed else []
    table = []
    for i, r in enumerate(ref):
        row = {"seed0_cm-1": r, "region": per_seed[0]["bands"][i]["region"],
               "rel_intensity": per_seed[0]["bands"][i]["rel_intensity"],
               "bootstrap_se_cm-1": [per_seed[0]["bands"][i]["uncertainty_cm-1"]],
               "rel_intensities": [per_seed[0]["bands"][i]["rel_intensity"]],
               "positions": [r]}  # fmt: skip
        for other in per_seed[1:]:
            pos = [b["position_cm-1"] for b in other["bands"]]
            j = match([r], pos, 50.0)[0]
            row["positions"].append(None if j is None else pos[j])
            row["bootstrap_se_cm-1"].append(
                None if j is None else other["bands"][j]["uncertainty_cm-1"]
            )
            row["rel_intensities"].append(None if j is None else other["bands"][j]["rel_intensity"])
        found = [p for p in row["positions"] if p is not None]
        row["spread_cm-1"] = round(max(found) - min(found), 1) if len(found) > 1 else None
        row["found_in"] = len(found)
        table.append(row)
    _add_centroids(table, per_seed)
    regions = _region_centroids(per_seed)

    runs_drift = [p["drift"] for p in per_seed]
    if cache is not None and (cache / "default_wall.json").exists():
        runs_drift.append(json.loads((cache / "default_wall.json").read_text())["drift"])
    drifts = [d["median_abs_drift_eV_per_ps"] for d in runs_drift]
    maxdrift = [d["max_abs_drift_eV_per_ps"] for d in runs_drift]
    n_atoms = len(mol.numbers)
    data = {
        "title": f"rhoml ir protocol ({args.run}): wall time, band reproducibility across "
        "seeds, NVE drift, MD vs DFT speed",
        "machine": machine(),
        "run": args.run,
        "workers": args.workers,
        "settings": settings.__dict__,
        "per_seed": [{k: v for k, v in p.items() if k != "wavenumber"} for p in per_seed],
        "wavenumber_cm-1": [round(w, 2) for w in per_seed[0]["wavenumber"]] if per_seed else [],
        "bands_across_seeds": table,
        "region_centroids": regions,
        "speed": speed,
    }
    RESULTS.mkdir(exist_ok=True)
    if per_seed:
        _plot(per_seed, RESULTS / f"{args.out}.png")
    rows = "\n".join(
        f"| {r['region']} | {r['seed0_cm-1']:.1f} | "
        + " / ".join("—" if i is None else f"{i:.2f}" for i in r["rel_intensities"])
        + " | "
        + " / ".join("—" if p is None else f"{p:.1f}" for p in r["positions"])
        + f" | {'—' if r['spread_cm-1'] is None else r['spread_cm-1']} | "
        + " / ".join("—" if u is None else f"{u:.1f}" for u in r["bootstrap_se_cm-1"])
        + " | "
        + " / ".join("—" if c is None else f"{c:.1f}" for c in r.get("centroids", []))
        + f" | {'—' if r.get('centroid_spread_cm-1') is None else r['centroid_spread_cm-1']} |"
        for r in table
    )
    strong = [
        r["spread_cm-1"]
        for r in table
        if r["spread_cm-1"] is not None and r["rel_intensity"] >= 0.1
    ]
    strong_c = [
        r["centroid_spread_cm-1"]
        for r in table
        if r.get("centroid_spread_cm-1") is not None and r["rel_intensity"] >= 0.1
    ]
    s = settings
    if s.sampling == "normal-modes":
        start = (f"fixed-energy normal-mode starts (k_B T per mode, random phases) at "
                 f"{s.temperature:g} K for {s.trajectories} trajectories, each {s.settle_steps} "
                 "NVE steps not used and then")  # fmt: skip
        flags = " --sampling normal-modes"
    else:
        start = (f"{s.equilibration_steps} steps Langevin at {s.temperature:g} K (friction "
                 f"{s.friction:g}/fs) in each of {s.trajectories} independent chains, each "
                 "followed by")  # fmt: skip
        flags = ""
    if s.conformers:
        start = ("conformer search (trajectories given to the conformers by Boltzmann weight, "
                 "each starting at its conformer's minimum), " + start)  # fmt: skip
        flags += " --conformers"
    md = (
        f"Protocol (`rhoml ir {args.run}{flags}`): BFGS minimum, {start} an NVE trajectory of "
        f"{s.nve_steps} steps of {s.dt_fs:g} fs ({s.nve_ps:g} ps in all), "
        f"{s.max_lag_fs:g} fs Hann window, harmonic quantum correction; 1 torch thread per "
        "process.\n\n"
        "**Wall time** (whole protocol, model loading included): "
        + "; ".join(
            f"seed {p['seed']}: {p['wall_s']:.0f} s on {p.get('workers', args.workers)} worker "
            f"process(es), 1-min load {p['load_1min_start']:.1f} → {p['load_1min_end']:.1f}"
            for p in per_seed
        )
        + " (1-min load of the 2-core machine at start and end). MD throughput: "
        + ", ".join(f"{p['md_steps'] / p['wall_s']:.0f}" for p in per_seed)
        + f" steps/s. {args.note}\n\n"
        + _default_wall(cache, settings)
        + f"**NVE energy drift** (least-squares slope of the total energy over each "
        f"{s.nve_steps * s.dt_fs / 1000:g} ps trajectory): median |drift| "
        f"{np.median(drifts):.2g} eV/ps ({np.median(drifts) / n_atoms * 1e3:.2g} meV/ps/atom), "
        f"largest {max(maxdrift):.2g} eV/ps.\n\n"
        f"**Band positions across seeds** (seed-0 bands; the same band in the other seeds, "
        f"matched ≤ 50 cm⁻¹; spread = max − min; ± = bootstrap standard error over the "
        f"trajectories of each run). "
        + (
            f"Median spread of bands with relative intensity ≥ 0.1: {np.median(strong):.1f} "
            f"cm⁻¹, largest {max(strong):.1f} cm⁻¹. Band centroids (intensity-weighted mean "
            f"over each band's half-prominence extent, what `rhoml ir` compares with "
            f"experiment): median spread {np.median(strong_c):.1f} cm⁻¹, largest "
            f"{max(strong_c):.1f} cm⁻¹.\n\n"
            if strong and strong_c and len(per_seed) > 1
            else "One seed: no spread across seeds.\n\n"
        )
        + "| region | seed 0 max. (cm⁻¹) | rel. int. per seed | maximum per seed | spread | "
        "± per seed | centroid per seed | centroid spread |\n"
        f"|---|---|---|---|---|---|---|---|\n{rows}\n\n" + _region_text(regions, args.previous)
    )
    if args.pool > 1 and len(per_seed) >= 2 * args.pool:
        data["pooled"] = _pooled_regions(per_seed, args.pool)
        md += _pooled_text(data["pooled"], args.pool, settings.trajectories)
    if earlier:
        md += (
            f"Report rewritten from the per-seed spectra of {args.from_results} (commit "
            f"{earlier['machine']['commit']}, {earlier['machine']['date'][:10]}, command "
            f"`{earlier['machine']['command']}`); band and window centroids computed from the "
            "stored spectra, no MD rerun.\n\n"
        )
    if args.previous:
        md += _previous(args.previous, table)
    if speed:
        md += (
            f"**MD vs DFT** (1 process, 1 thread, dipole every step): "
            f"{speed['md_steps_per_s_1thread']:.1f} MD steps/s; one PySCF PBE/def2-SVP "
            f"energy+gradient {speed['dft_gradient_s_1thread']:.1f} s → "
            f"**{speed['ratio']:.0f}×** per step (goal ≥ 1000×), 1-min load "
            f"{speed['load_1min']:.1f} (under load both sides slow down, the ratio less so); "
            "densnet_md_speed.md (previous model, quiet machine): 128 steps/s, 1184×.\n\n"
        )
    if per_seed:
        md += f"![spectra across seeds]({args.out}.png)"
    write_results(args.out, data, md)


#: fixed spectral windows (cm⁻¹) whose intensity-weighted mean position is compared across
#: seeds: independent of band picking, so overlapping bands that merge or split in one seed do
#: not move it by their spacing (ethanol: C–O/C–C stretches, bends, C–H and O–H stretches)
REGION_WINDOWS = ((950.0, 1150.0), (1200.0, 1500.0), (2800.0, 3150.0), (3500.0, 3800.0))


def _region_centroids(per_seed) -> list[dict]:
    """Per window of :data:`REGION_WINDOWS`: the centroid of each seed's mean spectrum and their
    spread (max − min), cm⁻¹."""
    out = []
    for lo, hi in REGION_WINDOWS:
        cents = []
        for p in per_seed:
            wn, y = np.asarray(p["wavenumber"]), np.asarray(p["spectrum"])
            m = (wn >= lo) & (wn <= hi)
            cents.append(round(float((wn[m] * y[m]).sum() / y[m].sum()), 1))
        spread = round(max(cents) - min(cents), 1) if cents else None
        out.append({"window_cm-1": [lo, hi], "centroids": cents, "spread_cm-1": spread})
    return out


def _pooled_regions(per_seed, k: int) -> dict:
    """Window centroids of single seeds and of ensembles pooling ``k`` consecutive seeds (their
    mean spectra averaged: the spectrum of k times the trajectories, each seed normalised on its
    strongest band); spread (max − min) and standard deviation across each set, cm⁻¹."""
    pools = []
    for i in range(0, len(per_seed) - k + 1, k):
        group = per_seed[i : i + k]
        pools.append({"wavenumber": group[0]["wavenumber"],
                      "spectrum": np.mean([g["spectrum"] for g in group], axis=0).tolist(),
                      "seeds": [g["seed"] for g in group]})  # fmt: skip
    single, pooled = _region_centroids(per_seed), _region_centroids(pools)
    for r in single + pooled:
        r["std_cm-1"] = round(float(np.std(r["centroids"], ddof=1)), 1)
    first = _region_centroids(per_seed[: len(pools)])
    return {"seeds": [p["seed"] for p in per_seed], "pools": [p["seeds"] for p in pools],
            "single": single, "pooled": pooled, "first_n_single": first}  # fmt: skip


def _pooled_text(pooled: dict, k: int, trajectories: int) -> str:
    """Markdown: window-centroid spread and std for single seeds and pooled ensembles."""
    n = len(pooled["pools"])
    lines = [f"**Pooled ensembles** ({k} seeds = {k * trajectories} trajectories each: "
             f"{', '.join('+'.join(map(str, p)) for p in pooled['pools'])}; spectra averaged). "
             f"Spread (max − min) over the first {n} single seeds and over the {n} pooled "
             f"ensembles, and the standard deviation over all {len(pooled['seeds'])} single "
             f"seeds vs the {n} pooled ones (cm⁻¹):\n",
             f"| window (cm⁻¹) | spread, {n} × {trajectories} traj | spread, {n} × "
             f"{k * trajectories} traj | std, {len(pooled['seeds'])} × {trajectories} traj | "
             f"std, {n} × {k * trajectories} traj |", "|---|---|---|---|---|"]  # fmt: skip
    for a, b, c in zip(pooled["first_n_single"], pooled["pooled"], pooled["single"], strict=True):
        lo, hi = a["window_cm-1"]
        lines.append(f"| {lo:.0f}–{hi:.0f} | {a['spread_cm-1']} | {b['spread_cm-1']} | "
                     f"{c['std_cm-1']} | {b['std_cm-1']} |")  # fmt: skip
    return "\n".join(lines) + "\n\n"


def _region_text(regions, previous) -> str:
    """Markdown table of the window centroids (and those of an earlier results file)."""
    before = {}
    if previous:
        old = json.loads(Path(previous).read_text())
        wn = old["wavenumber_cm-1"]
        for r in _region_centroids([{**p, "wavenumber": wn} for p in old["per_seed"]]):
            before[tuple(r["window_cm-1"])] = r
    head = ("**Window centroids across seeds** (intensity-weighted mean wavenumber of each "
            "seed's spectrum over a fixed window; no band picking)")  # fmt: skip
    cols = "| window (cm⁻¹) | centroid per seed | spread |"
    sep = "|---|---|---|"
    if before:
        head += f"; earlier: {previous}"
        cols += " earlier per seed | earlier spread |"
        sep += "---|---|"
    lines = [head + ".\n", cols, sep]
    for r in regions:
        lo, hi = r["window_cm-1"]
        row = (f"| {lo:.0f}–{hi:.0f} | " + " / ".join(f"{c:.1f}" for c in r["centroids"])
               + f" | {r['spread_cm-1']} |")  # fmt: skip
        if before:
            b = before.get((lo, hi))
            row += (" — | — |" if b is None else
                    " " + " / ".join(f"{c:.1f}" for c in b["centroids"])
                    + f" | {b['spread_cm-1']} |")  # fmt: skip
        lines.append(row)
    return "\n".join(lines) + "\n\n"


def _add_centroids(table, per_seed) -> None:
    """Band centroids per seed (:func:`rhoml.md.bands.find_bands` on each seed's mean
    spectrum, own half-prominence window), matched to seed 0's centroid ≤ 50 cm⁻¹, and their
    spread, added to the rows of ``table`` in place."""
    from rhoml.md.bands import find_bands, match

    if not per_seed:
        return
    bands = [find_bands(np.asarray(p["wavenumber"], float), np.asarray(p["spectrum"], float))
             for p in per_seed]  # fmt: skip
    centroids = [[b.centroid for b in bs] for bs in bands]
    maxima0 = [b.position for b in bands[0]]
    for row in table:
        k = match([row["seed0_cm-1"]], maxima0, 5.0)[0]
        if k is None:
            row["centroids"], row["centroid_spread_cm-1"] = [None] * len(bands), None
            continue
        c0 = centroids[0][k]
        row["centroids"] = [round(c0, 1)] + [
            None if (j := match([c0], c, 50.0)[0]) is None else round(c[j], 1)
            for c in centroids[1:]
        ]
        found = [c for c in row["centroids"] if c is not None]
        row["centroid_spread_cm-1"] = round(max(found) - min(found), 1) if len(found) > 1 else None


def _previous(path, table) -> str:
    """The same bands in an earlier results file (another protocol version): positions,
    spread and relative intensities across its seeds."""
    from rhoml.md.bands import match

    prev = json.loads(Path(path).read_text())
    rows = prev["bands_across_seeds"]
    ref = [r["seed0_cm-1"] for r in rows]
    lines = []
    for r in table:
        j = match([r["seed0_cm-1"]], ref, 50.0)[0]
        if j is None:
            lines.append(f"| {r['seed0_cm-1']:.1f} | — | — | — |")
            continue
        p = rows[j]
        ints = p.get("rel_intensities") or [
            b["rel_intensity"] for s in prev["per_seed"] for b in s["bands"]
            if abs(b["position_cm-1"] - p["seed0_cm-1"]) <= 50.0
        ]  # fmt: skip
        lines.append(
            f"| {r['seed0_cm-1']:.1f} | "
            + " / ".join("—" if x is None else f"{x:.1f}" for x in p["positions"])
            + f" | {'—' if p['spread_cm-1'] is None else p['spread_cm-1']} | "
            + " / ".join("—" if x is None else f"{x:.2f}" for x in ints)
            + " |"
        )
    s = prev.get("settings", {})
    steps = s.get("equilibration_steps", "?")
    how = f"independent chains of {steps} Langevin steps"
    if s.get("sampling") == "normal-modes":
        how = (f"normal-mode starts, {s.get('settle_steps', '?')} settling steps, conformers "
               f"{'on' if s.get('conformers') else 'off'}, model {prev.get('run', '?')} of "
               f"{prev['machine']['date'][:10]}")  # fmt: skip
    if "spacing_steps" in s:
        how = f"one Langevin chain, conformers {s['spacing_steps']} steps apart"
    return (
        f"**Previous protocol** ({Path(path).name}, commit {prev['machine']['commit']}: {how}), "
        "the same bands across its seeds:\n\n| band now (cm⁻¹) | previous positions per seed | "
        "previous spread | previous rel. int. |\n|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
    )


def _default_wall(cache, s) -> str:
    """The wall time of the default command (2 worker processes), when measured separately
    (``default_wall.json`` in the cache), and the estimate for a quiet machine."""
    out = ""
    if cache is not None and (cache / "default_wall.json").exists():
        d = json.loads((cache / "default_wall.json").read_text())
        out += (f"**Default command wall time** ({d['workers']} worker processes, seed "
                f"{d['seed']}): **{d['wall_s'] / 60:.0f} min** with the 1-min load "
                f"{d['load_1min']} on the 2 cores ({d['command']}). ")  # fmt: skip
    return out + "\n\n" if out else ""


def _plot(per_seed, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    for p in per_seed:
        ax.plot(p["wavenumber"], p["spectrum"], lw=1, label=f"seed {p['seed']}")
    ax.set_xlim(4000, 400)
    ax.set_ylim(0, 1.1)
    ax.set_xlabel("wavenumber (cm⁻¹)")
    ax.set_ylabel("intensity (1 = strongest 500–4000 cm⁻¹)")
    ax.set_title("ethanol, default rhoml ir protocol: MD dipole-derivative ACF, three seeds")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
