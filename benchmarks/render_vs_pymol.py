"""rhoml vs PyMOL on EDG 6-view density image sets: speed and similarity, in the same run.

Both start from the same data: the density on a 0.2 Å grid and the ESP on its isosurface band,
evaluated once per molecule by rhoml (timed separately). rhoml renders from those arrays; PyMOL
loads them as cube files (plus a MOL file with the same bonds) and runs EDG's recipe
(isosurface 0.05, ESP ramp −0.08/0/+0.08 red/white/blue, transparency 0.4, 6 × ``turn`` + ray-
traced ``png`` 224²), with the camera matched to rhoml's (orthoscopic, same centre and scale) and
rhoml's ball-and-stick sizes and CPK colours, so the images can be compared pixel by pixel.
Speed: both on 2 worker processes × 1 thread, each molecule ``--repeats`` times after a warm-up.

    OMP_NUM_THREADS=1 python benchmarks/render_vs_pymol.py --store STORE [--method KEY]

STORE holds DFT densities (``rhoml density compute ... --method dft``). Needs the optional
``pymol-open-source``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, pymol_reset, side_by_side, write_results  # noqa: E402

VIEWS_NAMES = ["x_0", "x_180", "x_90", "x_-90", "y_90", "y_-90"]


def write_mol(path: Path, mol) -> None:
    """MDL molfile (V2000) with rhoml's bonds, so PyMOL draws the same sticks."""
    from rhoml.represent.render_style import bonds

    pairs = bonds(mol.numbers, mol.positions)
    lines = [
        mol.id,
        "  rhoml",
        "",
        f"{mol.n_atoms:3d}{len(pairs):3d}  0  0  0  0  0  0  0  0999 V2000",
    ]
    for s, p in zip(mol.symbols, mol.positions, strict=True):
        lines.append(
            f"{p[0]:10.4f}{p[1]:10.4f}{p[2]:10.4f} {s:<3} 0  0  0  0  0  0  0  0  0  0  0  0"
        )
    for a, b in pairs:
        lines.append(f"{a + 1:3d}{b + 1:3d}  1  0")
    path.write_text("\n".join([*lines, "M  END", ""]))


def prepare(store: str, method: str | None, workdir: Path):
    """Evaluate the grids of every ok record once; write cube/MOL files; return job records."""
    from rhoml.io.cube import write_cube
    from rhoml.represent.render import bounding_radius, fields_for, preset
    from rhoml.store.sqlite_store import Store

    cfg = preset("edg-density")
    jobs = []
    with Store.open(store, readonly=True) as st:
        method = method or st.methods()[0]
        for idx in sorted(st.finished(method, include_failed=False)):
            density = st.density(idx, method)
            t = time.perf_counter()
            fields = fields_for(density, cfg, grids="exact")  # as the committed results
            total = time.perf_counter() - t
            mol = density.molecule
            folder = workdir / mol.id
            folder.mkdir(parents=True, exist_ok=True)
            write_cube(folder / "rho.cube", fields.grid, fields.rho, mol, "rho e/bohr^3")
            write_cube(folder / "esp.cube", fields.esp_grid, fields.esp, mol, "esp hartree/e")
            write_mol(folder / "mol.mol", mol)
            (folder / "fields.pkl").write_bytes(pickle.dumps(fields))
            centre, radius = bounding_radius(fields, cfg)
            jobs.append({
                "id": mol.id, "formula": mol.formula, "n_atoms": mol.n_atoms,
                "folder": str(folder), "centre": centre.tolist(), "radius": radius,
                "seconds_density_grid": fields.seconds["density"],
                "seconds_esp_band": fields.seconds["esp"],
                "esp_points": fields.seconds["esp_points"],
                "grid_points": int(fields.rho.size), "seconds_fields_total": total,
            })  # fmt: skip
    return jobs, method


# -- workers -------------------------------------------------------------------------------------
def _rhoml_worker(jobs, repeats):
    import torch

    from rhoml.represent.render import preset, render

    torch.set_num_threads(1)
    cfg = preset("edg-density")
    fields = {j["id"]: pickle.loads(Path(j["folder"], "fields.pkl").read_bytes()) for j in jobs}
    render([fields[jobs[0]["id"]]], cfg)  # warm-up
    times, images = [], {}
    start = time.perf_counter()
    for _ in range(repeats):
        for j in jobs:
            t, c = time.perf_counter(), time.process_time()
            img = render([fields[j["id"]]], cfg)[0]
            times.append((j["id"], time.perf_counter() - t, time.process_time() - c))
            images[j["id"]] = img
    return {"wall": time.perf_counter() - start, "times": times, "images": images}


def _pymol_setup(job, cmd, size=224):
    from rhoml.represent.render import preset
    from rhoml.represent.render_style import CPK, DEFAULT_COLOUR

    cfg = preset("edg-density")
    folder = Path(job["folder"])
    pymol_reset(cmd)
    cmd.load(str(folder / "mol.mol"), "mol")
    cmd.load(str(folder / "rho.cube"), "ED")
    cmd.load(str(folder / "esp.cube"), "ESP")
    cmd.hide("everything", "mol")
    cmd.show("sticks", "mol")
    cmd.show("spheres", "mol")
    cmd.set("stick_radius", cfg.stick_radius)
    cmd.alter("mol", f"vdw={cfg.ball_radius}")
    cmd.set("sphere_scale", 1.0)
    cmd.set("valence", 0)
    from rhoml.elements import symbol

    for z in {int(a) for a in np.unique(_numbers(folder / "mol.mol"))}:
        name = f"rh_{symbol(z)}"
        cmd.set_color(name, list(CPK.get(z, DEFAULT_COLOUR)))
        cmd.color(name, f"mol and elem {symbol(z)}")
    cmd.rebuild()
    cmd.ramp_new("legend", "ESP", list(cfg.esp_stops), list(cfg.esp_colours))
    cmd.disable("legend")
    cmd.isosurface("surface", "ED", cfg.isovalue)
    cmd.set("surface_color", "legend", "surface")
    cmd.set("transparency", cfg.transparency)
    r = job["radius"]
    d = r / np.tan(np.radians(cmd.get_setting_float("field_of_view") / 2))
    view = list(cmd.get_view())
    view[0:9] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    view[9:12] = [0.0, 0.0, -d]
    view[12:15] = job["centre"]
    view[15], view[16] = d - r - 1.0, d + r + 1.0
    return view


def _numbers(molfile: Path):
    from rhoml.elements import atomic_number

    lines = molfile.read_text().splitlines()
    n = int(lines[3][:3])
    return [atomic_number(line[31:34].strip()) for line in lines[4 : 4 + n]]


def _pymol_set(job, cmd, out: Path):
    from rhoml.represent.render_camera import EDG_DENSITY_VIEWS

    view = _pymol_setup(job, cmd)
    paths = []
    for (axis, deg), name in zip(EDG_DENSITY_VIEWS, VIEWS_NAMES, strict=True):
        cmd.set_view(view)
        cmd.turn(axis, deg)
        path = out / f"{job['id']}_{name}.png"
        cmd.png(str(path), width=224, height=224, ray=1)
        paths.append(path)
    return paths


def _pymol_worker(jobs, repeats, outdir):
    import pymol
    from pymol import cmd

    pymol.finish_launching(["pymol", "-qc"])
    out = Path(outdir)
    _pymol_set(jobs[0], cmd, out)  # warm-up
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        for j in jobs:
            t, c = time.perf_counter(), time.process_time()
            _pymol_set(j, cmd, out)
            times.append((j["id"], time.perf_counter() - t, time.process_time() - c))
    return {"wall": time.perf_counter() - start, "times": times}


def _run_pool(fn, jobs, workers, *args):
    """Split jobs over ``workers`` spawned processes; throughput = sets / slowest worker."""
    parts = [jobs[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
        results = list(ex.map(fn, parts, *[[a] * workers for a in args]))
    return results


# -- comparison ----------------------------------------------------------------------------------
def similarity(rhoml_img: np.ndarray, pymol_png: Path) -> dict:
    from PIL import Image
    from skimage.metrics import structural_similarity

    pm = np.asarray(Image.open(pymol_png).convert("RGB"))
    rh = rhoml_img[..., :3]
    ssim = structural_similarity(rh, pm, channel_axis=2, data_range=255)
    m_rh = np.abs(rh.astype(int) - 255).sum(-1) > 30
    m_pm = np.abs(pm.astype(int) - 255).sum(-1) > 30
    iou = (m_rh & m_pm).sum() / max((m_rh | m_pm).sum(), 1)
    both = m_rh & m_pm
    mad = float(np.abs(rh[both].astype(int) - pm[both].astype(int)).mean()) if both.any() else 0.0
    return {"ssim": float(ssim), "silhouette_iou": float(iou), "mean_abs_rgb_diff": mad}


def contact_sheet(jobs, images, pngdir: Path, path: Path, views=("x_0", "x_90", "y_90")):
    from PIL import Image

    def cells(job):
        out = []
        for name in views:
            v = VIEWS_NAMES.index(name)
            pm = np.asarray(Image.open(pngdir / f"{job['id']}_{name}.png").convert("RGB"))
            title = name.replace("_", ", ")
            out += [(images[job["id"]][v][..., :3], f"rhoml {title}°"), (pm, f"PyMOL {title}°")]
        return out

    side_by_side([(f"{j['id']}\n{j['formula']}", cells(j)) for j in jobs], path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--method", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--contact", type=int, default=4, help="molecules in the contact sheet")
    ap.add_argument("--min-atoms", type=int, default=10, help="'QM9-sized' subset threshold")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    work = Path(tempfile.mkdtemp(prefix="render_vs_pymol_"))
    jobs, method = prepare(args.store, args.method, work)
    pngdir = work / "pymol"
    pngdir.mkdir()
    t = time.perf_counter()
    rh = _run_pool(_rhoml_worker, jobs, args.workers, args.repeats)
    rh_wall = time.perf_counter() - t
    t = time.perf_counter()
    pm = _run_pool(_pymol_worker, jobs, args.workers, args.repeats, str(pngdir))
    pm_wall = time.perf_counter() - t
    n_sets = len(jobs) * args.repeats
    rh_rate = n_sets / max(r["wall"] for r in rh)
    pm_rate = n_sets / max(r["wall"] for r in pm)
    rh_t = {j: [] for j in (x["id"] for x in jobs)}
    pm_t = {j: [] for j in (x["id"] for x in jobs)}
    rh_c = {j: [] for j in (x["id"] for x in jobs)}
    pm_c = {j: [] for j in (x["id"] for x in jobs)}
    for r in rh:
        for i, s, c in r["times"]:
            rh_t[i].append(s)
            rh_c[i].append(c)
    for r in pm:
        for i, s, c in r["times"]:
            pm_t[i].append(s)
            pm_c[i].append(c)
    images = {k: v for r in rh for k, v in r["images"].items()}
    rows = []
    for j in jobs:
        sims = [similarity(images[j["id"]][v], pngdir / f"{j['id']}_{n}.png")
                for v, n in enumerate(VIEWS_NAMES)]  # fmt: skip
        j.update({
            "rhoml_seconds_per_set_median": statistics.median(rh_t[j["id"]]),
            "pymol_seconds_per_set_median": statistics.median(pm_t[j["id"]]),
            "rhoml_cpu_seconds_per_set_median": statistics.median(rh_c[j["id"]]),
            "pymol_cpu_seconds_per_set_median": statistics.median(pm_c[j["id"]]),
            "ssim_median": statistics.median(s["ssim"] for s in sims),
            "silhouette_iou_median": statistics.median(s["silhouette_iou"] for s in sims),
            "mean_abs_rgb_diff_median": statistics.median(s["mean_abs_rgb_diff"] for s in sims),
            "per_view": dict(zip(VIEWS_NAMES, sims, strict=True)),
        })  # fmt: skip
        rows.append(j)
    big = sorted(jobs, key=lambda j: -j["n_atoms"])[: args.contact]
    contact_sheet(big, images, pngdir, RESULTS / "render_vs_pymol_contact.png")
    med = statistics.median
    qm9 = [j for j in rows if j["n_atoms"] >= args.min_atoms]  # QM9-sized (most have 9 heavy atoms)
    summary = {
        "molecules": len(jobs), "repeats": args.repeats, "workers": args.workers,
        "rhoml_sets_per_s": rh_rate, "pymol_sets_per_s": pm_rate, "speedup": rh_rate / pm_rate,
        "rhoml_wall_s": rh_wall, "pymol_wall_s": pm_wall,
        "median_ratio_per_molecule": med(
            j["pymol_seconds_per_set_median"] / j["rhoml_seconds_per_set_median"] for j in rows),
        "median_ratio_per_molecule_qm9_sized": med(
            j["pymol_seconds_per_set_median"] / j["rhoml_seconds_per_set_median"] for j in qm9),
        "median_cpu_ratio_per_molecule": med(
            j["pymol_cpu_seconds_per_set_median"] / j["rhoml_cpu_seconds_per_set_median"]
            for j in rows),
        "median_cpu_ratio_qm9_sized": med(
            j["pymol_cpu_seconds_per_set_median"] / j["rhoml_cpu_seconds_per_set_median"]
            for j in qm9),
        "qm9_sized_min_atoms": args.min_atoms,
        "ssim_median": med(j["ssim_median"] for j in rows),
        "silhouette_iou_median": med(j["silhouette_iou_median"] for j in rows),
        "density_grid_s_median": med(j["seconds_density_grid"] for j in rows),
        "esp_band_s_median": med(j["seconds_esp_band"] for j in rows),
    }  # fmt: skip
    table = [
        "| molecule | atoms | ρ grid (s) | ESP band (s, points) | rhoml s/set (CPU s) "
        "| PyMOL s/set (CPU s) | ratio | SSIM | silhouette IoU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for j in rows:
        table.append(
            f"| {j['id']} {j['formula']} | {j['n_atoms']} | {j['seconds_density_grid']:.2f} | "
            f"{j['seconds_esp_band']:.2f} ({j['esp_points']}) | "
            f"{j['rhoml_seconds_per_set_median']:.3f} "
            f"({j['rhoml_cpu_seconds_per_set_median']:.3f}) | "
            f"{j['pymol_seconds_per_set_median']:.3f} "
            f"({j['pymol_cpu_seconds_per_set_median']:.3f}) | "
            f"{j['pymol_seconds_per_set_median'] / j['rhoml_seconds_per_set_median']:.1f}× | "
            f"{j['ssim_median']:.3f} | {j['silhouette_iou_median']:.3f} |"
        )
    s = summary
    table.append(
        f"\nThroughput on {args.workers} processes × 1 thread ({len(jobs)} molecules × "
        f"{args.repeats}): rhoml {s['rhoml_sets_per_s']:.2f} sets/s, PyMOL "
        f"{s['pymol_sets_per_s']:.2f} sets/s, **{s['speedup']:.1f}×** (median per-molecule "
        f"ratio {s['median_ratio_per_molecule']:.1f}× wall, "
        f"{s['median_cpu_ratio_per_molecule']:.1f}× CPU time; QM9-sized molecules with "
        f"≥ {args.min_atoms} atoms: {s['median_ratio_per_molecule_qm9_sized']:.1f}× wall, "
        f"{s['median_cpu_ratio_qm9_sized']:.1f}× CPU). Median SSIM rhoml vs PyMOL "
        f"{s['ssim_median']:.3f}, silhouette IoU {s['silhouette_iou_median']:.3f}. "
        f"Grid evaluation (once per molecule, not in the rates): ρ median "
        f"{s['density_grid_s_median']:.2f} s, ESP band median {s['esp_band_s_median']:.2f} s. "
        f"Contact sheet: render_vs_pymol_contact.png (rhoml | PyMOL)."
    )
    write_results(
        "render_vs_pymol",
        {"title": "EDG density image sets: rhoml vs PyMOL (same grids, same camera)",
         "machine": machine(), "method": method, "summary": summary, "molecules": rows},
        "\n".join(table),
    )  # fmt: skip


if __name__ == "__main__":
    main()
