"""``rhoml render`` (EDG multi-view images) and ``rhoml points`` (density point clouds): thin
wrappers over :mod:`rhoml.represent.render` and :mod:`rhoml.represent.points`.

Both are resumable (a molecule whose array is already in the store is skipped) and parallel
(single-threaded worker processes through ``rhoml.store.batch.run_tasks``); workers compute, the
main process writes each result in its own transaction. A worker that dies fails only the
molecule it was rendering; SIGINT and SIGTERM stop the workers and exit 130 / 143.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rhoml.commands import options
from rhoml.commands.density import stopped
from rhoml.errors import RhomlError

IMAGE_CODEC = "image-up-zlib"  # lossless, ~8x smaller than raw (rhoml.store.codec)

RENDER_DESCRIPTION = """Render every molecule of STORE with a preset and store the uint8 image
stack as a derived array: edg-density -> 'edg_density_views' (6, 224, 224, 4) RGB + depth, the
ESP-coloured isosurface rho = 0.05 e/Bohr^3 over a ball-and-stick model (needs density records,
e.g. from 'rhoml density compute --method dft'); edg-structure -> 'edg_structure_views'
(4, 224, 224, 3), ball-and-stick without hydrogens (needs only the molecules). Depth channel:
distance from the near plane of the molecule's bounding sphere / its diameter, 255 = background.
Images are stored losslessly compressed (~150 KB per 6-view set instead of 1.2 MB). With
--grids fast (default) rho is evaluated exactly only near the isosurface and the ESP comes from
an analytic Coulomb fit of the density (~5e-4 Hartree/e from the exact ESP); --grids exact is
the exact, ~4x slower path (images within a few colour levels). Molecules already rendered are
skipped (rerun to resume); molecules without an ok density record are reported and skipped.
With --out, PNGs are also written as OUT/<molecule id>/<density or structure>/<axis>_<angle>.png
(RGBA, alpha = 255 - depth, so the background is transparent as in EDG's PNGs)."""

POINTS_DESCRIPTION = """Sample a point cloud per molecule of STORE where its density exceeds a
threshold (EDBench's point-cloud representation): N points (default 2048) drawn from the grid
cells above --threshold, jittered inside their cell, with the exact density at each point.
Stored as 'points_xyz' (N, 3) float32 in Angstrom and 'points_density' (N,) float32 in
e/Bohr^3. Resumable and parallel like 'rhoml render'. (Voxel grids of the same densities:
'rhoml voxelize'.)"""


def register(sub) -> None:
    r = sub.add_parser(
        "render",
        help="EDG multi-view RGB-D density images / structural images into the store",
        description=RENDER_DESCRIPTION,
    )
    r.add_argument("store", metavar="STORE")
    r.add_argument("--preset", required=True, choices=["edg-density", "edg-structure"])
    options.add_out(r, "also write PNGs under this folder")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset setting (JSON value), e.g. --set isovalue=0.02 "
                   "--set size=128 --set 'views=[[\"x\", 45]]'; repeatable")  # fmt: skip
    r.add_argument("--name", default=None,
                   help="variant: store the images as edg_density_views/NAME (or "
                   "edg_structure_views/NAME) instead of the preset's array; use one when "
                   "overriding settings")  # fmt: skip
    r.add_argument("--method", default=None,
                   help="density record key, or an engine name (xtb, dft, ...) when the "
                   "store has one record key of that engine; needed if it has several")  # fmt: skip
    r.add_argument("--grids", default="fast", choices=["fast", "exact"],
                   help="fast (default): rho exact near the isosurface only, ESP from an "
                   "analytic density fit (its memory grows as the square of the fit basis: "
                   "use exact for molecules of hundreds of atoms); exact: rho everywhere, exact "
                   "ESP integrals")  # fmt: skip
    r.add_argument("--esp-method", default=None,
                   help="take the ESP from this record instead, e.g. the density fit stored by "
                   "'rhoml density compute --fit def2-universal-jkfit' (with --grids exact: "
                   "about 20x cheaper per point, ~1e-3 Hartree/e from the exact ESP)")  # fmt: skip
    options.add_workers(r)
    options.add_device(r)  # with cuda, workers evaluate the grids, the main process renders
    r.add_argument("--batch", type=options.positive_int, default=64,
                   help="molecules per GPU batch (default 64)")  # fmt: skip
    options.add_limit(r)
    options.add_quiet(r)
    r.set_defaults(handler=cmd_render)

    p = sub.add_parser(
        "points",
        help="density point clouds (EDBench style) into the store",
        description=POINTS_DESCRIPTION,
    )
    p.add_argument("store", metavar="STORE")
    p.add_argument("--n", type=options.positive_int, default=2048,
                   help="points per molecule (default 2048)")  # fmt: skip
    p.add_argument("--threshold", type=options.positive_float, default=1e-3,
                   help="minimum density in e/Bohr^3 (default 1e-3)")  # fmt: skip
    p.add_argument("--weighting", default="uniform", choices=["uniform", "density"],
                   help="draw candidate cells uniformly or with probability ~ rho")  # fmt: skip
    p.add_argument("--spacing", type=options.positive_float, default=0.2,
                   help="grid step in Å (default 0.2)")  # fmt: skip
    options.add_seed(p)
    p.add_argument("--method", default=None,
                   help="density record key or engine name (if several)")  # fmt: skip
    options.add_workers(p)
    options.add_limit(p)
    options.add_quiet(p)
    p.set_defaults(handler=cmd_points)


# -- shared ------------------------------------------------------------------------------------
def check_same_settings(st, indices, name: str, settings: dict) -> None:
    """Refuse (one line) when array ``name`` of a molecule in ``indices`` was made with other
    ``settings`` (compared with the metadata stored beside it): a rerun with new settings must
    neither keep the old arrays silently nor mix two settings in one store."""
    import json

    want = json.loads(json.dumps(settings))
    for i in indices:
        if not st.has_array(i, name):
            continue
        meta = st.array_meta(i, name)
        for key, value in want.items():
            if key in meta and meta[key] != value:
                raise RhomlError(
                    f"{st.path}: {name} of molecule {i} was made with other settings ({key}: "
                    f"stored {meta[key]!r}, now {value!r}); use another --name or another store"
                )


def _method(st, method: str | None) -> str:
    methods = st.methods()
    if not methods:
        raise RhomlError(
            f"{st.path}: no density records; compute them first (rhoml density compute ...)"
        )
    if method is None:
        if len(methods) != 1:
            raise RhomlError(
                f"{st.path}: choose a density record with --method "
                f"(the store has {', '.join(methods) or 'none'})"
            )
        return methods[0]
    return st.resolve_method(method)


def _run_jobs(jobs, worker, workers, desc, progress, on_result):
    """Run ``worker(*job)`` for every job in worker processes (``rhoml.store.batch.run_tasks``);
    ``on_result`` gets each result in completion order, and ``{"idx": ..., "error": ...}`` for a
    job whose worker process died (the job's second item is the molecule index). Returns the
    number of results."""
    from tqdm.auto import tqdm

    from rhoml.store.batch import run_tasks, single_threaded_children

    done = 0
    with single_threaded_children(1), tqdm(total=len(jobs), desc=desc, unit="mol",
                                           disable=not progress) as bar:  # fmt: skip

        def result(key, res):
            nonlocal done
            on_result(res)
            done += 1
            bar.update(1)

        def death(key, reason):
            result(key, {"idx": jobs[key][1], "error": f"molecule {jobs[key][1]}: {reason}"})

        run_tasks(worker, list(enumerate(jobs)), result, death, workers=workers)
    return done


# -- rhoml render --------------------------------------------------------------------------------
def _render_job(store: str, idx: int, method: str | None, preset_name: str, overrides: dict,
                grids_only: bool, esp_method: str | None = None, grids: str = "fast"):  # fmt: skip
    """Worker: evaluate the grids (and render on CPU unless ``grids_only``) for one molecule."""
    from rhoml.represent.render import fields_for, image_metadata, preset, render
    from rhoml.store.sqlite_store import Store

    cfg = preset(preset_name, **overrides)
    start = time.perf_counter()
    try:
        esp_density = None
        with Store.open(store, readonly=True) as st:
            item = st.density(idx, method) if cfg.kind == "density" else st.molecule(idx)
            if cfg.kind == "density" and esp_method:
                esp_density = st.density(idx, esp_method)
        if cfg.kind == "density":
            item = fields_for(item, cfg, esp_density=esp_density, grids=grids)
        t_grid = time.perf_counter() - start
        if grids_only:
            return {"idx": idx, "item": item, "seconds_grid": t_grid}
        images = render([item], cfg)[0]
        return {
            "idx": idx, "images": images, "meta": image_metadata(item, cfg),
            "seconds_grid": t_grid, "seconds_render": time.perf_counter() - start - t_grid,
        }  # fmt: skip
    except RhomlError as exc:
        return {"idx": idx, "error": str(exc)}


def write_pngs(out: Path, mol_id: str, images: np.ndarray, config) -> None:
    """PNG per view: OUT/<id>/<kind>/<axis>_<angle>.png; RGBA with alpha = 255 − depth."""
    from PIL import Image

    folder = Path(out) / mol_id / config.kind
    folder.mkdir(parents=True, exist_ok=True)
    for (axis, deg), img in zip(config.views, images, strict=True):
        name = f"{axis}_{deg:g}.png"
        if img.shape[-1] == 4:
            rgba = img.copy()
            rgba[..., 3] = 255 - img[..., 3]
            Image.fromarray(rgba, "RGBA").save(folder / name)
        else:
            Image.fromarray(img, "RGB").save(folder / name)


def _overrides(items: list[str]) -> dict:
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise RhomlError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value  # a bare string, e.g. background=black
    return out


def cmd_render(args) -> int:
    from rhoml.represent.render import ARRAY_NAMES, image_metadata, preset, render
    from rhoml.store.sqlite_store import Store

    overrides = _overrides(args.overrides)
    try:
        cfg = preset(args.preset, **overrides)
    except (ValueError, TypeError) as exc:
        raise RhomlError(f"--set: {exc}") from None
    name = ARRAY_NAMES[args.preset] + (f"/{args.name}" if args.name else "")
    args.device = options.resolve_device(args.device)
    with Store.open(args.store) as st:
        indices = st.indices()[: args.limit] if args.limit else st.indices()
        method = _method(st, args.method) if cfg.kind == "density" else None
        if method is not None:
            ok = st.finished(method, include_failed=False)
            if args.esp_method:
                args.esp_method = _method(st, args.esp_method)
                ok &= st.finished(args.esp_method, include_failed=False)
            missing = [i for i in indices if i not in ok]
            indices = [i for i in indices if i in ok]
            if missing:
                print(f"{len(missing)} molecule(s) without the needed ok record(s) are skipped")
        grids = args.grids if cfg.kind == "density" else None
        check_same_settings(st, indices, name, {"config": cfg.to_dict(), "method": method,
                                                "esp_method": args.esp_method,
                                                "grids": grids})  # fmt: skip
        todo = [i for i in indices if not st.has_array(i, name)]
        skipped = len(indices) - len(todo)
        ids = {i: st.molecule(i).id for i in todo} if args.out else {}
        gpu = str(args.device).startswith("cuda")
        failures: list[str] = []
        pending: list = []
        start = time.perf_counter()
        timing = {"grid": 0.0, "render": 0.0}

        def store_images(idx, images, meta):
            st.put_array(idx, name, images, unit="dimensionless", codec=IMAGE_CODEC,
                         preset=args.preset, overrides=overrides, method=method,
                         esp_method=args.esp_method, grids=grids, **meta)  # fmt: skip
            if args.out:
                write_pngs(Path(args.out), ids[idx], images, cfg)

        def flush():
            if not pending:
                return
            t0 = time.perf_counter()
            images = render([p["item"] for p in pending], cfg, device=args.device,
                            batch=args.batch)  # fmt: skip
            timing["render"] += time.perf_counter() - t0
            for p, img in zip(pending, images, strict=True):
                store_images(p["idx"], img, image_metadata(p["item"], cfg))
            pending.clear()

        def on_result(res):
            if "error" in res:
                failures.append(res["error"])
                return
            timing["grid"] += res["seconds_grid"]
            if gpu:
                pending.append(res)
                if len(pending) >= args.batch:
                    flush()
            else:
                timing["render"] += res["seconds_render"]
                store_images(res["idx"], res["images"], res["meta"])

        jobs = [(str(args.store), i, method, args.preset, overrides, gpu, args.esp_method,
                 args.grids) for i in todo]  # fmt: skip
        try:
            done = _run_jobs(jobs, _render_job, args.workers, args.preset, not args.quiet,
                             on_result)  # fmt: skip
        except KeyboardInterrupt as exc:
            return stopped(exc, args.store)
        finally:
            flush()
    seconds = time.perf_counter() - start
    for f in failures[:20]:
        print(f"failed: {f}")
    print(
        f"{args.preset}: {done - len(failures)} rendered, {len(failures)} failed, {skipped} "
        f"already done; grids {timing['grid']:.1f} s, rendering {timing['render']:.1f} s "
        f"(summed over workers), {seconds:.1f} s wall -> {args.store} [{name}]"
    )
    return 1 if failures and done == len(failures) else 0


# -- rhoml points --------------------------------------------------------------------------------
def _points_job(store, idx, method, n, threshold, weighting, spacing, seed):
    from rhoml.represent.points import sample_points
    from rhoml.store.sqlite_store import Store

    try:
        with Store.open(store, readonly=True) as st:
            density = st.density(idx, method)
        pc = sample_points(density, n, threshold=threshold, weighting=weighting,
                           spacing=spacing, seed=seed)  # fmt: skip
        return {"idx": idx, "cloud": pc}
    except RhomlError as exc:
        return {"idx": idx, "error": str(exc)}


def cmd_points(args) -> int:
    from rhoml.represent.points import POINTS_DENSITY, POINTS_XYZ
    from rhoml.store.sqlite_store import Store

    if args.n < 1 or args.threshold < 0 or args.spacing <= 0:
        raise RhomlError("--n must be >= 1, --threshold >= 0 and --spacing > 0")
    with Store.open(args.store) as st:
        method = _method(st, args.method)
        ok = st.finished(method, include_failed=False)
        indices = st.indices()[: args.limit] if args.limit else st.indices()
        indices = [i for i in indices if i in ok]
        failures: list[str] = []
        meta = {
            "method": method,
            "n": args.n,
            "threshold_e_per_bohr3": args.threshold,
            "weighting": args.weighting,
            "spacing_angstrom": args.spacing,
            "seed": args.seed,
        }
        check_same_settings(st, indices, POINTS_DENSITY, meta)
        todo = [i for i in indices if not st.has_array(i, POINTS_DENSITY)]

        def on_result(res):
            if "error" in res:
                failures.append(res["error"])
                return
            pc = res["cloud"]
            st.put_array(res["idx"], POINTS_XYZ, pc.positions, unit="angstrom",
                         candidates=pc.candidates, **meta)  # fmt: skip
            st.put_array(res["idx"], POINTS_DENSITY, pc.density, unit="e/bohr^3", **meta)

        jobs = [(str(args.store), i, method, args.n, args.threshold, args.weighting,
                 args.spacing, args.seed) for i in todo]  # fmt: skip
        try:
            done = _run_jobs(jobs, _points_job, args.workers, "points", not args.quiet, on_result)
        except KeyboardInterrupt as exc:
            return stopped(exc, args.store)
    for f in failures[:20]:
        print(f"failed: {f}")
    print(f"points: {done - len(failures)} sampled, {len(failures)} failed, "
          f"{len(indices) - len(todo)} already done -> {args.store}")  # fmt: skip
    return 1 if failures and done == len(failures) else 0
