"""EDG density image sets end to end on one core: the fast grids against the exact ones, in one run.

For ``--n`` random QM9 molecules (seeded) with GFN2-xTB densities, each complete 6-view RGB-D
set (224 px) is made twice on one core (torch and BLAS single-threaded):

* fast (``grids='fast'``, the default): ρ exact only near the isosurface and the ESP from the
  analytic potential of a Coulomb fit, then rendered and compressed (``image-up-zlib``, as
  ``rhoml render`` stores it);
* exact (``grids='exact'``, the renderer before): ρ on the whole grid and ``Density.esp`` on
  the band, then rendered.

Reported: CPU seconds per set (sets/s/core = 1 / CPU s; wall time too, as the machine is shared),
the ESP error of the fit on the band (Hartree/e and colour levels: the ramp spends 255 levels of
G and B on 0.08 Hartree/e, 3.1e-4 Hartree/e per level, before shading), pixel differences fast
vs exact, bytes per compressed set, and how fast a torch DataLoader reads the stored sets back
(images/s, 6 images per set, through ``rhoml.families.edg_data.StoreImages`` and ImageED's
``prepare_images``). ``--dft K``: the same comparison on the K smallest molecules with
B3LYP/6-31G** densities (the same code renders DFT densities). ``rhoml render`` itself is timed
on a store of the xTB densities with one worker.

    OMP_NUM_THREADS=1 python benchmarks/render_fast.py --n 50 --dft 3
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

LEVEL_HA = 0.08 / 255.0  # Hartree/e per colour level of the ramp (G/B channels, unshaded)


def cpu() -> float:
    return time.process_time()


def one_set(density, cfg, grids: str, *, compress: bool):
    """(images, fields, stage CPU seconds) for one molecule."""
    from rhoml.represent.render import fields_for, render
    from rhoml.store.codec import IMAGE_UP_ZLIB, encode

    t0, w0 = cpu(), time.perf_counter()
    fields = fields_for(density, cfg, grids=grids)
    t1 = cpu()
    images = render([fields], cfg)[0]
    t2 = cpu()
    nbytes = len(encode(images, IMAGE_UP_ZLIB)) if compress else images.nbytes
    t3 = cpu()
    wall = time.perf_counter() - w0
    return images, fields, {"grids": t1 - t0, "render": t2 - t1, "encode": t3 - t2,
                            "total": t3 - t0, "wall": wall, "bytes": nbytes}  # fmt: skip


def fresh(density):
    """A copy without the cached PySCF molecule and density-matrix factor, as a density read
    from a store is."""
    out = pickle.loads(pickle.dumps(density))
    out.__dict__.pop("_dm_factor", None)
    return out


def compare(density, cfg, repeats: int) -> dict:
    """Fast and exact sets of one density: times, ESP error on the band, pixel differences."""
    fast = [one_set(fresh(density), cfg, "fast", compress=True) for _ in range(repeats)]
    exact = one_set(fresh(density), cfg, "exact", compress=False)
    im_f, f_f, _ = fast[0]
    im_e, f_e, t_e = exact
    best = min((s for _, _, s in fast), key=lambda s: s["total"])
    band = f_e.esp != 0
    err = np.abs(f_f.esp[band].astype(np.float64) - f_e.esp[band])
    diff = np.abs(im_f.astype(int) - im_e.astype(int))
    return {
        "id": density.molecule.id, "formula": density.molecule.formula,
        "atoms": density.molecule.n_atoms, "esp_points": int(band.sum()),
        "fast": best, "exact": t_e,
        "fast_stages": {"rho": f_f.seconds["density"], "esp_fit": f_f.seconds["esp_fit"],
                        "esp": f_f.seconds["esp"]},
        "esp_error": {"median": float(np.median(err)), "p95": float(np.percentile(err, 95)),
                      "max": float(err.max())},
        "pixels": {"max": int(diff.max()), "mean": float(diff.mean()),
                   "frac_gt2": float((diff > 2).mean())},
        "same_band": bool(np.array_equal(band, f_f.esp != 0)),
    }  # fmt: skip


def loader_rate(store: Path, indices, name: str, workers: int, batch: int, epochs: int):
    """Images/s (and sets/s) of a torch DataLoader over the stored sets, with ImageED's
    model-input transform (float, normalised, (V, C, H, W))."""
    import torch
    from torch.utils.data import DataLoader

    from rhoml.families.edg_data import StoreImages
    from rhoml.models.image.vit_mae import prepare_images

    def transform(a):
        return prepare_images(a)[0]

    ds = StoreImages(store, indices, name, transform)
    loader = DataLoader(ds, batch_size=batch, num_workers=workers, shuffle=True,
                        persistent_workers=workers > 0)  # fmt: skip
    for _ in loader:  # warm-up (worker start, page cache)
        break
    n, start, c0 = 0, time.perf_counter(), cpu()
    for _ in range(epochs):
        for b in loader:
            n += int(b["images"].shape[0])
    seconds, used = time.perf_counter() - start, cpu() - c0
    del loader
    torch.set_num_threads(1)
    out = {"sets_per_s": n / seconds, "images_per_s": 6 * n / seconds, "sets": n}
    if workers == 0:  # all the work is in this process: also per CPU second
        out["images_per_cpu_s"] = 6 * n / used
    return out


def read_rate(store: Path, indices, name: str) -> float:
    """CPU ms per set of ``Store.get_array`` (SQLite read, checksum, decoding)."""
    from rhoml.store.sqlite_store import Store

    with Store.open(store, readonly=True) as st:
        for i in indices:
            st.get_array(i, name)  # page cache
        t = cpu()
        for _ in range(3):
            for i in indices:
                st.get_array(i, name)
        return (cpu() - t) / (3 * len(indices)) * 1e3


def cli_rate(store: Path, n: int) -> dict:
    """``rhoml render`` with one worker on the store's xTB densities: CPU s (the main process and
    the worker together) for 1 molecule and for all ``n``; the marginal cost per set is their
    difference over n − 1 (the worker's start-up, imports included, cancels)."""
    from rhoml.cli import main

    def run(extra):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        code = main(["render", str(store), "--preset", "edg-density", "--method", "xtb",
                     "--workers", "1", "--quiet", *extra])  # fmt: skip
        wall = time.perf_counter() - start
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = sum(getattr(b, f) - getattr(a, f) for a, b in ((r0, r1), (c0, c1))
                   for f in ("ru_utime", "ru_stime"))  # fmt: skip
        assert code == 0
        return used, wall

    one, _ = run(["--name", "cli1", "--limit", "1"])
    used, wall = run(["--name", "cli"])
    marginal = (used - one) / (n - 1)
    return {"sets": n, "cpu_s_one": one, "cpu_s_all": used, "cpu_s_per_set": marginal,
            "wall_s": wall, "sets_per_s_per_core": 1.0 / marginal}  # fmt: skip


def summarise(rows, key):
    tot = [r[key]["total"] for r in rows]
    return {"cpu_s_median": statistics.median(tot), "cpu_s_min": min(tot), "cpu_s_max": max(tot),
            "sets_per_s_per_core": 1.0 / statistics.median(tot),
            "sets_per_s_per_core_overall": len(tot) / sum(tot),
            "wall_s_median": statistics.median(r[key]["wall"] for r in rows)}  # fmt: skip


def main() -> None:
    import torch

    from rhoml.density import compute
    from rhoml.io.qm9 import QM9_SIZE, load_qm9
    from rhoml.represent.render import preset
    from rhoml.store.codec import IMAGE_UP_ZLIB
    from rhoml.store.sqlite_store import Store

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=50, help="random QM9 molecules")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2, help="fast sets per molecule (min)")
    ap.add_argument("--dft", type=int, default=3, help="smallest molecules also with DFT")
    ap.add_argument("--batch", type=int, default=32, help="DataLoader batch (sets)")
    ap.add_argument("--workers", type=int, nargs="*", default=[0, 2], help="DataLoader workers")
    ap.add_argument("--name", default="render_fast")
    args = ap.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows_qm9 = sorted(np.random.default_rng(args.seed).choice(QM9_SIZE, args.n, replace=False))
    mols = load_qm9(indices=[int(r) for r in rows_qm9])
    cfg = preset("edg-density")
    densities, xtb_s = [], []
    for m in mols:
        t = cpu()
        densities.append(compute(m, "xtb"))
        xtb_s.append(cpu() - t)
    one_set(densities[0], cfg, "fast", compress=True)  # warm-up (imports, caches)
    rows = []
    for i, d in enumerate(densities):
        rows.append(compare(d, cfg, args.repeats))
        r = rows[-1]
        print(
            f"{i + 1}/{len(densities)} {r['id']} {r['atoms']} atoms: fast "
            f"{r['fast']['total']:.3f} s, exact {r['exact']['total']:.3f} s CPU; ESP err max "
            f"{r['esp_error']['max']:.1e}; pixels max {r['pixels']['max']}",
            flush=True,
        )
    fast, exact = summarise(rows, "fast"), summarise(rows, "exact")
    atoms = np.array([r["atoms"] for r in rows])
    small, large = atoms <= np.percentile(atoms, 25), atoms >= np.percentile(atoms, 75)

    def med(mask, key):
        return statistics.median(r[key]["total"] for r, k in zip(rows, mask, strict=True) if k)

    stages = {k: statistics.median(r["fast"][k] for r in rows)
              for k in ("grids", "render", "encode")}  # fmt: skip
    stage_wall = {k: statistics.median(r["fast_stages"][k] for r in rows)
                  for k in ("rho", "esp_fit", "esp")}  # fmt: skip
    esp_all = {k: statistics.median(r["esp_error"][k] for r in rows) for k in ("median", "p95")}
    esp_all["max"] = max(r["esp_error"]["max"] for r in rows)
    pix = {"max": max(r["pixels"]["max"] for r in rows),
           "mean": statistics.mean(r["pixels"]["mean"] for r in rows),
           "frac_gt2": statistics.mean(r["pixels"]["frac_gt2"] for r in rows)}  # fmt: skip
    nbytes = [r["fast"]["bytes"] for r in rows]

    # DFT densities of the smallest molecules: the same code, the same checks
    dft_rows = []
    for j in np.argsort(atoms, kind="stable")[: args.dft]:
        t = cpu()
        dd = compute(mols[int(j)], "dft")
        dft_s = cpu() - t
        dft_rows.append({**compare(dd, cfg, 1), "dft_cpu_s": dft_s,
                         "level": dd.level})  # fmt: skip
        print(
            f"DFT {dft_rows[-1]['id']}: fast {dft_rows[-1]['fast']['total']:.2f} s, exact "
            f"{dft_rows[-1]['exact']['total']:.2f} s",
            flush=True,
        )

    # storage, loader and the CLI
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "imgs.rhoml"
        with Store.create(store) as st:
            idx = st.add_molecules(mols)
            for i, d in zip(idx, densities, strict=True):
                st.put_density(i, "xtb", d)
            for i, d in zip(idx, densities, strict=True):
                images = one_set(d, cfg, "fast", compress=False)[0]
                st.put_array(i, "edg_density_views", images, codec=IMAGE_UP_ZLIB)
                st.put_array(i, "edg_density_views/raw", images)
        loader, read_ms = {}, {}
        for name in ("edg_density_views", "edg_density_views/raw"):
            read_ms["compressed" if name == "edg_density_views" else "raw"] = read_rate(
                store, idx, name
            )
            for w in args.workers:
                key = f"{'compressed' if name == 'edg_density_views' else 'raw'}, {w} workers"
                loader[key] = loader_rate(store, idx, name, w, args.batch, 3)
                print(key, loader[key], flush=True)
        cli = cli_rate(store, len(idx))
        print("rhoml render:", cli, flush=True)

    summary = {
        "molecules": len(rows), "atoms_median": float(np.median(atoms)),
        "fast": fast, "exact": exact, "speedup_median": exact["cpu_s_median"]
        / fast["cpu_s_median"], "fast_cpu_s_small": med(small, "fast"),
        "fast_cpu_s_large": med(large, "fast"), "exact_cpu_s_small": med(small, "exact"),
        "exact_cpu_s_large": med(large, "exact"), "small_atoms_max": int(atoms[small].max()),
        "large_atoms_min": int(atoms[large].min()), "fast_stage_cpu_s": stages,
        "fast_stage_wall_s": stage_wall, "xtb_cpu_s_median": statistics.median(xtb_s),
        "esp_error_hartree": esp_all, "esp_error_levels": {k: v / LEVEL_HA
                                                           for k, v in esp_all.items()},
        "pixel_difference": pix, "bytes_per_set_median": statistics.median(nbytes),
        "bytes_per_set_range": [min(nbytes), max(nbytes)], "raw_bytes_per_set": 6 * 224 * 224 * 4,
        "loader": loader, "read_cpu_ms_per_set": read_ms, "cli": cli,
        "load_average": os.getloadavg(),
    }  # fmt: skip
    lines = [
        "| path | CPU s/set median (min–max) | sets/s/core | small ≤ "
        f"{summary['small_atoms_max']} atoms | large ≥ {summary['large_atoms_min']} atoms | "
        "wall s/set |",
        "|---|---|---|---|---|---|",
    ]
    for label, s, key in (("fast (band ρ, fitted ESP) + compression", fast, "fast"),
                          ("exact (full ρ, exact ESP)", exact, "exact")):  # fmt: skip
        lines.append(
            f"| {label} | {s['cpu_s_median']:.3f} ({s['cpu_s_min']:.3f}–{s['cpu_s_max']:.3f}) | "
            f"{s['sets_per_s_per_core']:.2f} | {summary[key + '_cpu_s_small']:.3f} s | "
            f"{summary[key + '_cpu_s_large']:.3f} s | {s['wall_s_median']:.3f} |"
        )
    e, lv = esp_all, summary["esp_error_levels"]
    lines += [
        "",
        f"Speed-up (median CPU per set): **{summary['speedup_median']:.1f}×**. Fast path, median "
        f"CPU s per stage: grids {stages['grids']:.3f} (of which wall: ρ {stage_wall['rho']:.3f},"
        f" fit {stage_wall['esp_fit']:.3f}, ESP incl. fit {stage_wall['esp']:.3f}), render "
        f"{stages['render']:.3f}, compression {stages['encode']:.3f}. The xTB calculation itself "
        f"(not included): median {summary['xtb_cpu_s_median']:.3f} s.",
        "",
        f"ESP of the fit vs the exact ESP on the band ({len(rows)} molecules, median of "
        f"per-molecule medians / p95, overall max): {e['median']:.1e} / {e['p95']:.1e} / "
        f"{e['max']:.1e} Hartree/e = {lv['median']:.1f} / {lv['p95']:.1f} / {lv['max']:.1f} "
        "colour levels (0.08/255 Hartree/e per level, before shading). Images fast vs exact: "
        f"max {pix['max']} levels, mean {pix['mean']:.3f}, {100 * pix['frac_gt2']:.3f} % of "
        "values differ by more than 2.",
        "",
        f"Storage (image-up-zlib, lossless): median {summary['bytes_per_set_median'] / 1e3:.0f} "
        f"KB per 6-view set (range {min(nbytes) / 1e3:.0f}–{max(nbytes) / 1e3:.0f} KB; raw "
        f"{summary['raw_bytes_per_set'] / 1e6:.2f} MB).",
        "",
        f"Reading one set back (`Store.get_array`: SQLite, checksum, decoding), CPU: compressed "
        f"{read_ms['compressed']:.1f} ms, raw {read_ms['raw']:.1f} ms, i.e. "
        f"{6e3 / read_ms['compressed']:.0f} images per CPU second from compressed sets.",
        "",
        "| DataLoader (batch " + str(args.batch) + " sets, ImageED transform) | sets/s (wall) | "
        "images/s (wall) | images per CPU s |",
        "|---|---|---|---|",
    ]
    lines += [f"| {k} | {v['sets_per_s']:.0f} | {v['images_per_s']:.0f} | "
              + (f"{v['images_per_cpu_s']:.0f} |" if "images_per_cpu_s" in v else "— |")
              for k, v in loader.items()]  # fmt: skip
    lines += [
        "",
        f"`rhoml render` (1 worker, {cli['sets']} xTB densities read from the store, compressed "
        f"writes): {cli['cpu_s_per_set']:.3f} CPU s per additional set = "
        f"{cli['sets_per_s_per_core']:.2f} sets/s/core (main process and worker; the run of 1 "
        f"molecule took {cli['cpu_s_one']:.1f} CPU s, mostly the worker's start-up; all "
        f"{cli['sets']}: {cli['cpu_s_all']:.1f} CPU s, {cli['wall_s']:.1f} s wall).",
    ]
    if dft_rows:
        lines += ["", "| DFT density | atoms | fast CPU s | exact CPU s | ESP error median / max "
                  "(Hartree/e) | pixels max / mean |", "|---|---|---|---|---|---|"]  # fmt: skip
        for r in dft_rows:
            lines.append(
                f"| {r['id']} {r['formula']} ({r['level']}) | {r['atoms']} | "
                f"{r['fast']['total']:.2f} | {r['exact']['total']:.2f} | "
                f"{r['esp_error']['median']:.1e} / {r['esp_error']['max']:.1e} | "
                f"{r['pixels']['max']} / {r['pixels']['mean']:.3f} |"
            )
    la = summary["load_average"]
    lines += [
        "",
        f"{len(rows)} random QM9 molecules (seed {args.seed}), GFN2-xTB densities; "
        f"one process, torch and BLAS single-threaded; 1-minute load average at the end "
        f"{la[0]:.1f} (shared 2-core machine: CPU seconds are the per-core figure).",
    ]
    write_results(
        args.name,
        {"title": "EDG density image sets: fast grids vs exact, storage and loading (one core)",
         "machine": machine(), "summary": summary, "molecules": rows, "dft": dft_rows},
        "\n".join(lines),
    )  # fmt: skip


if __name__ == "__main__":
    main()
