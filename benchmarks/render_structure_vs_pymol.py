"""rhoml vs PyMOL on EDG teacher (structural) image sets: 4 views, ball-and-stick, no hydrogens.

PyMOL draws the VideoMol/EDG style (``hide (hydro); set stick_ball, on; set stick_ball_ratio,
3.5; set stick_radius, 0.15``, white background) from a MOL file with rhoml's bonds, rhoml's
CPK colours and rhoml's camera (orthoscopic, same centre and scale), with ``turn`` + ray-traced
``png`` 224² per view; rhoml renders the ``edg-structure`` preset. Speed on 2 worker processes ×
1 thread, similarity (SSIM, silhouette IoU) per view.

    OMP_NUM_THREADS=1 python benchmarks/render_structure_vs_pymol.py [--n 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, pymol_reset, side_by_side, write_results  # noqa: E402
from render_vs_pymol import _run_pool, similarity, write_mol  # noqa: E402

NAMES = ["x_0", "x_180", "y_180", "z_180"]


def _rhoml_worker(mols, repeats):
    import torch

    from rhoml.represent.render import preset, render

    torch.set_num_threads(1)
    cfg = preset("edg-structure")
    render([mols[0]], cfg)  # warm-up
    times, images = [], {}
    start = time.perf_counter()
    for _ in range(repeats):
        for m in mols:
            t = time.perf_counter()
            images[m.id] = render([m], cfg)[0]
            times.append(time.perf_counter() - t)
    return {"wall": time.perf_counter() - start, "times": times, "images": images}


def _pymol_set(m, folder: Path, cmd):
    from rhoml.elements import symbol
    from rhoml.represent.render import bounding_radius, preset
    from rhoml.represent.render_camera import EDG_STRUCTURE_VIEWS
    from rhoml.represent.render_style import CPK, DEFAULT_COLOUR

    cfg = preset("edg-structure")
    centre, r = bounding_radius(m, cfg)
    pymol_reset(cmd)
    cmd.load(str(folder / f"{m.id}.mol"), "mol")
    cmd.hide("everything")
    cmd.show("sticks")
    cmd.hide("(hydro)")
    cmd.set("stick_ball", 1)
    cmd.set("stick_ball_ratio", cfg.ball_radius / cfg.stick_radius)  # 3.5
    cmd.set("stick_radius", cfg.stick_radius)
    cmd.set("valence", 0)
    for z in sorted(set(int(a) for a in m.numbers)):
        name = f"rh_{symbol(z)}"
        cmd.set_color(name, list(CPK.get(z, DEFAULT_COLOUR)))
        cmd.color(name, f"elem {symbol(z)}")
    d = r / np.tan(np.radians(cmd.get_setting_float("field_of_view") / 2))
    view = list(cmd.get_view())
    view[0:9] = [1, 0, 0, 0, 1, 0, 0, 0, 1]
    view[9:12] = [0.0, 0.0, -d]
    view[12:15] = centre.tolist()
    view[15], view[16] = d - r - 1.0, d + r + 1.0
    for (axis, deg), name in zip(EDG_STRUCTURE_VIEWS, NAMES, strict=True):
        cmd.set_view(view)
        cmd.turn(axis, deg)
        cmd.png(str(folder / f"{m.id}_{name}.png"), width=224, height=224, ray=1)


def _pymol_worker(mols, repeats, folder):
    import pymol
    from pymol import cmd

    pymol.finish_launching(["pymol", "-qc"])
    folder = Path(folder)
    _pymol_set(mols[0], folder, cmd)
    times = []
    start = time.perf_counter()
    for _ in range(repeats):
        for m in mols:
            t = time.perf_counter()
            _pymol_set(m, folder, cmd)
            times.append(time.perf_counter() - t)
    return {"wall": time.perf_counter() - start, "times": times}


def contact_sheet(mols, images, folder: Path, path: Path) -> None:
    from PIL import Image

    def cells(m):
        out = []
        for v, name in enumerate(NAMES):
            pm = np.asarray(Image.open(folder / f"{m.id}_{name}.png").convert("RGB"))
            title = name.replace("_", ", ")
            out += [(images[m.id][v], f"rhoml {title}°"), (pm, f"PyMOL {title}°")]
        return out

    side_by_side([(f"{m.id}\n{m.formula}", cells(m)) for m in mols], path, dpi=100)


def main() -> None:
    from rhoml.io.qm9 import load_qm9

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="QM9 molecules (random, seed 0)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    idx = sorted(np.random.default_rng(0).choice(130000, args.n, replace=False).tolist())
    mols = load_qm9(idx)
    folder = Path(tempfile.mkdtemp(prefix="render_structure_"))
    for m in mols:
        write_mol(folder / f"{m.id}.mol", m)
    rh = _run_pool(_rhoml_worker, mols, args.workers, args.repeats)
    pm = _run_pool(_pymol_worker, mols, args.workers, args.repeats, str(folder))
    n_sets = len(mols) * args.repeats
    rh_rate = n_sets / max(r["wall"] for r in rh)
    pm_rate = n_sets / max(r["wall"] for r in pm)
    images = {k: v for r in rh for k, v in r["images"].items()}
    sims = [
        similarity(images[m.id][v], folder / f"{m.id}_{name}.png")
        for m in mols
        for v, name in enumerate(NAMES)
    ]
    med = statistics.median
    summary = {
        "molecules": len(mols), "repeats": args.repeats, "workers": args.workers,
        "rhoml_sets_per_s": rh_rate, "pymol_sets_per_s": pm_rate, "speedup": rh_rate / pm_rate,
        "rhoml_seconds_per_set_median": med(t for r in rh for t in r["times"]),
        "pymol_seconds_per_set_median": med(t for r in pm for t in r["times"]),
        "ssim_median": med(s["ssim"] for s in sims),
        "ssim_p10": float(np.percentile([s["ssim"] for s in sims], 10)),
        "silhouette_iou_median": med(s["silhouette_iou"] for s in sims),
        "mean_abs_rgb_diff_median": med(s["mean_abs_rgb_diff"] for s in sims),
    }  # fmt: skip
    contact_sheet(mols[:4], images, folder, RESULTS / "render_structure_vs_pymol_contact.png")
    s = summary
    table = (
        "| | rhoml | PyMOL |\n|---|---|---|\n"
        f"| 4-view sets/s (2 processes × 1 thread) | {s['rhoml_sets_per_s']:.1f} | "
        f"{s['pymol_sets_per_s']:.2f} |\n"
        f"| median s per set | {s['rhoml_seconds_per_set_median']:.4f} | "
        f"{s['pymol_seconds_per_set_median']:.3f} |\n\n"
        f"{len(mols)} random QM9 molecules × {args.repeats}: rhoml is **{s['speedup']:.0f}×** "
        f"faster. Similarity per view: SSIM median {s['ssim_median']:.3f} (10th percentile "
        f"{s['ssim_p10']:.3f}), silhouette IoU median {s['silhouette_iou_median']:.3f}, mean "
        f"|ΔRGB| on shared pixels {s['mean_abs_rgb_diff_median']:.1f}/255. Contact sheet: "
        "render_structure_vs_pymol_contact.png (rhoml | PyMOL)."
    )
    write_results(
        "render_structure_vs_pymol",
        {"title": "EDG structural (teacher) image sets: rhoml vs PyMOL", "machine": machine(),
         "summary": summary},
        table,
    )  # fmt: skip


if __name__ == "__main__":
    main()
