"""One GPU run, ready: CUDA smoke tests of every model family, a short full-size QM9 voxel run
and throughput figures, in one script that fits in under 8 minutes on one H100.

Steps (each timed; a failure is recorded and the rest go on; exit status 1 if any failed):

* smoke (``rhoml.runs.train`` on tiny self-made data with ``device`` set, then reload on the
  device and predict): ``voxel-cnn`` (QM9, xTB densities, all channel kinds), ``densnet``
  (distorted waters with promolecule densities and random energies/forces as labels; then
  energy + forces on the device), ``imageed`` and ``edg-teacher`` (six small molecules with xTB
  densities, density and structure images rendered on the device), ``student`` (PaiNN on QM9;
  skipped without torch_geometric);
* ``qm9_voxel_run`` (last; no step starts after 450 s): a voxel CNN at full size (16 Å box,
  0.5 Å voxels → 32³, resnet3d-small, ρ channel) on 1,000 QM9 training molecules, 3 epochs,
  with xTB densities computed on the host's cores (test MAE in meV);
* throughput on the device: voxel grids/s and voxels/s (atom channels, batch of 64; ρ + |∇ρ|
  from xTB densities one molecule at a time), rendered images/s (EDG density preset), MD
  steps/s of the shipped DenSNet ``ethanol`` run (NVE, energy + forces + dipole per step), and
  voxel-CNN training samples/s (resnet3d-small, 32³, forward + backward).

Results: ``OUT/run_all.json`` and ``OUT/run_all.md`` with the card's name
(``torch.cuda.get_device_name``), the machine and the command; OUT defaults to
``benchmarks/results/gpu``. ``--dry-run`` runs the same code on the CPU at tiny sizes (a few
steps each) into a temporary folder (or ``--out``); CI runs it so the script is never broken
when a GPU comes.

    python benchmarks/gpu/run_all.py                 # on the GPU machine
    python benchmarks/gpu/run_all.py --dry-run       # anywhere, about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from _common import RESULTS, machine  # noqa: E402

# sizes: the GPU run and the dry run (CPU, a few steps each)
SIZES = {
    "full": dict(
        smoke_train=64,
        smoke_val=16,
        smoke_test=32,
        smoke_epochs=2,
        smoke_batch=16,
        qm9_train=1000,
        qm9_val=100,
        qm9_test=200,
        qm9_epochs=3,
        qm9_batch=32,
        qm9_box=16.0,
        qm9_spacing=0.5,
        qm9_model="resnet3d-small",
        vox_molecules=256,
        vox_batch=64,
        vox_box=16.0,
        vox_spacing=0.5,
        vox_density_molecules=32,
        render_molecules=64,
        md_steps=200,
        train_steps=20,
        train_batch=32,
        train_n=32,
    ),  # fmt: skip
    "dry": dict(
        smoke_train=4,
        smoke_val=2,
        smoke_test=2,
        smoke_epochs=1,
        smoke_batch=2,
        qm9_train=6,
        qm9_val=2,
        qm9_test=2,
        qm9_epochs=1,
        qm9_batch=3,
        qm9_box=8.0,
        qm9_spacing=1.0,
        qm9_model="resnet3d-tiny",
        vox_molecules=4,
        vox_batch=2,
        vox_box=8.0,
        vox_spacing=1.0,
        vox_density_molecules=2,
        render_molecules=2,
        md_steps=3,
        train_steps=2,
        train_batch=2,
        train_n=8,
    ),  # fmt: skip
}

#: six small molecules from ASE's G2 collection (Å)
SMALL_NAMES = ("H2O", "HF", "CH4", "NH3", "CO", "H2CO")


def _small(i: int, **kw):
    """Molecule ``SMALL_NAMES[i]`` at ASE's G2 geometry."""
    from ase.build import molecule

    from rhoml import Molecule

    atoms = molecule(SMALL_NAMES[i])
    return Molecule(atoms.get_atomic_numbers(), atoms.get_positions(), **kw)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


# -- smoke tests ----------------------------------------------------------------------------------
def smoke_voxel_cnn(ctx) -> dict:
    from rhoml import runs
    from rhoml.io.qm9 import load_qm9

    s = ctx["sizes"]
    cfg = {
        "family": "voxel-cnn",
        "data": {"dataset": "qm9", "targets": ["gap", "mu"], "representation": "density",
                 "n_train": s["smoke_train"], "n_val": s["smoke_val"], "n_test": s["smoke_test"],
                 "workers": ctx["workers"], "store": str(ctx["tmp"] / "qm9.rhoml")},
        "voxel": {"size": 8.0, "spacing": 1.0,
                  "channels": ["atoms", "density", "gradient", "shape"], "overflow": "crop"},
        "model": {"name": "resnet3d-tiny"},
        "train": {"epochs": s["smoke_epochs"], "batch_size": s["smoke_batch"],
                  "threads": ctx["threads"], "device": ctx["device"]},
    }  # fmt: skip
    run = runs.train(cfg, ctx["tmp"] / "voxel-cnn", progress=False)
    loaded = runs.load(run.path, device=ctx["device"])
    rows = loaded.predict(load_qm9(limit=2))
    return {"test": run.manifest["metrics"]["test"], "predicted": len(rows)}


def _water_label_store(path: Path, n: int) -> None:
    """Distorted waters with promolecule densities and random energies/forces as labels, in the
    record ``rhoml densnet labels`` writes (a smoke-test stand-in for DFT labels)."""
    from rhoml import Molecule
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.store import schema
    from rhoml.store.labels import LabelSettings
    from rhoml.store.sqlite_store import Store
    from rhoml.units import convert

    rng = np.random.default_rng(0)
    water = _small(0)
    mols = []
    for i in range(n):
        split = "test" if i >= n - 2 else "train"
        mols.append(Molecule(water.numbers, water.positions + 0.08 * rng.normal(size=(3, 3)),
                             id=f"w_{split}#{i}"))  # fmt: skip
    with Store.create(path) as st:
        for idx, m in zip(st.add_molecules(mols), mols, strict=True):
            dens = compute_promolecule(m)
            energy = float(convert(-47000 + rng.normal(), "kcal/mol", "hartree"))
            forces = convert(rng.normal(size=(3, 3)), "kcal/mol/angstrom", "hartree/bohr")
            dens.properties = {schema.ENERGY: energy, schema.FORCES: np.asarray(forces)}
            dens.property_units = {schema.ENERGY: "hartree", schema.FORCES: "hartree/bohr"}
            st.put_density(idx, LabelSettings().method, dens, seconds=0.0)


def smoke_densnet(ctx) -> dict:
    from rhoml import runs

    s = ctx["sizes"]
    store = ctx["tmp"] / "water.rhoml"
    _water_label_store(store, 6 if ctx["dry"] else 24)
    tiny = {"channels": 4, "vectors": 2, "layers": 1}
    cfg = {
        "family": "densnet",
        "data": {"store": str(store)},
        "density_net": tiny,
        "energy_net": {**tiny, "lmax": 1, "lmax_sh": 1},
        "train": {"density_epochs": s["smoke_epochs"], "energy_epochs": s["smoke_epochs"],
                  "batch_size": 2, "lr": 1e-2, "device": ctx["device"]},
    }  # fmt: skip
    run = runs.train(cfg, ctx["tmp"] / "densnet", progress=False)
    pot = runs.load(run.path, device=ctx["device"]).potential()
    out = pot.compute(_small(0))
    assert np.all(np.isfinite(out["forces"]))
    return {"energy_unit": "see manifest", "forces_shape": list(np.shape(out["forces"]))}


def _edg_store(ctx) -> Path:
    """Six small molecules with xTB densities and 32-px density / structure images rendered on
    the device (as ``rhoml render`` stores them)."""
    from rhoml.density import compute
    from rhoml.represent.render import fields_for, image_metadata, preset, render
    from rhoml.store.sqlite_store import Store

    path = ctx["tmp"] / "edg.rhoml"
    if path.exists():
        return path
    mols = [_small(i, id=f"m{i}") for i in range(len(SMALL_NAMES))]
    with Store.create(path) as st:
        for idx, m in zip(st.add_molecules(mols), mols, strict=True):
            st.put_density(idx, "xtb", compute(m, "xtb"))
        for name, kind in (("edg_density_views", "edg-density"),
                           ("edg_structure_views", "edg-structure")):  # fmt: skip
            cfg = preset(kind, size=32)
            for idx in st.indices():
                item = st.molecule(idx)
                if cfg.kind == "density":
                    item = fields_for(st.density(idx, "xtb"), cfg)
                img = render([item], cfg, device=ctx["device"])[0]
                st.put_array(idx, name, img, unit="dimensionless", preset=kind, overrides={},
                             method="xtb" if cfg.kind == "density" else None, esp_method=None,
                             **image_metadata(item, cfg))  # fmt: skip
    return path


def smoke_imageed(ctx) -> dict:
    from rhoml import runs

    s = ctx["sizes"]
    cfg = {"family": "imageed",
           "data": {"store": str(_edg_store(ctx)), "val_fraction": 0.34},
           "model": {"name": "vit-t-64"},
           "train": {"epochs": s["smoke_epochs"], "batch_size": 2, "threads": ctx["threads"],
                     "device": ctx["device"]}}  # fmt: skip
    run = runs.train(cfg, ctx["tmp"] / "imageed", progress=False)
    ctx["imageed_run"] = run.path
    runs.load(run.path, device=ctx["device"])
    return {"metrics": run.manifest.get("metrics", {})}


def smoke_edg_teacher(ctx) -> dict:
    from rhoml import runs

    if "imageed_run" not in ctx:
        raise RuntimeError("needs the imageed smoke run")
    s = ctx["sizes"]
    cfg = {"family": "edg-teacher",
           "data": {"store": str(_edg_store(ctx)), "imageed_run": str(ctx["imageed_run"]),
                    "val_fraction": 0.34},
           "model": {},
           "train": {"epochs": s["smoke_epochs"], "batch_size": 2, "threads": ctx["threads"],
                     "device": ctx["device"], "bn_recalibration": 2}}  # fmt: skip
    run = runs.train(cfg, ctx["tmp"] / "edg-teacher", progress=False)
    runs.load(run.path, device=ctx["device"])
    return {"metrics": run.manifest.get("metrics", {})}


def smoke_student(ctx) -> dict | str:
    import importlib.util

    if importlib.util.find_spec("torch_geometric") is None:
        return "skipped: torch_geometric is not installed"
    from rhoml import runs

    s = ctx["sizes"]
    cfg = {"family": "student",
           "data": {"dataset": "qm9", "targets": ["U0"], "n_train": s["smoke_train"],
                    "n_val": s["smoke_val"], "n_test": s["smoke_test"]},
           "model": {"name": "painn", "hidden_channels": 16, "num_interactions": 2},
           "train": {"epochs": s["smoke_epochs"], "batch_size": 4, "threads": ctx["threads"],
                     "device": ctx["device"]}}  # fmt: skip
    run = runs.train(cfg, ctx["tmp"] / "student", progress=False)
    runs.load(run.path, device=ctx["device"])
    return {"test": run.manifest["metrics"].get("test")}


# -- the short full-size QM9 voxel run ------------------------------------------------------------
def qm9_voxel_run(ctx) -> dict:
    from rhoml import runs

    s = ctx["sizes"]
    cfg = {
        "family": "voxel-cnn",
        "data": {"dataset": "qm9", "targets": ["gap", "U0", "mu"], "representation": "density",
                 "n_train": s["qm9_train"], "n_val": s["qm9_val"], "n_test": s["qm9_test"],
                 "workers": ctx["workers"], "store": str(ctx["tmp"] / "qm9.rhoml")},
        "voxel": {"size": s["qm9_box"], "spacing": s["qm9_spacing"],
                  "channels": ["atoms", "density", "gradient", "shape"], "overflow": "crop"},
        "model": {"name": s["qm9_model"]},
        "train": {"epochs": s["qm9_epochs"], "batch_size": s["qm9_batch"],
                  "threads": ctx["threads"], "device": ctx["device"]},
    }  # fmt: skip
    t0 = time.perf_counter()
    run = runs.train(cfg, ctx["tmp"] / "qm9-voxel", progress=False)
    return {"wall_s": time.perf_counter() - t0, "test": run.manifest["metrics"]["test"],
            "grid": f"{int(round(s['qm9_box'] / s['qm9_spacing']))}^3",
            "n_train": s["qm9_train"], "epochs": s["qm9_epochs"]}  # fmt: skip


# -- throughput -----------------------------------------------------------------------------------
def _rate(fn, count: int, device: str, repeats: int = 3) -> float:
    """Median items/s of ``fn()`` producing ``count`` items (one warm-up call first)."""
    fn()
    _sync(device)
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        rates.append(count / (time.perf_counter() - t))
    return statistics.median(rates)


def throughput_voxels(ctx) -> dict:
    import torch

    from rhoml.density import compute
    from rhoml.io.qm9 import load_qm9
    from rhoml.represent.torch_density import TorchDensity
    from rhoml.represent.voxel import Voxelizer, VoxelSpec

    s, dev = ctx["sizes"], ctx["device"]
    mols = [m for m in load_qm9(limit=s["vox_molecules"])]
    atoms = VoxelSpec(size=s["vox_box"], spacing=s["vox_spacing"], channels=("atoms",),
                      overflow="crop")  # fmt: skip
    vox = Voxelizer(atoms, device=dev)
    b = s["vox_batch"]
    out = torch.empty((b,) + vox.shape, device=dev)

    def atoms_pass():
        for k in range(0, len(mols) - b + 1, b):
            vox(mols[k : k + b], out=out)

    n_grids = (len(mols) // b) * b
    grids = _rate(atoms_pass, n_grids, dev)
    dspec = VoxelSpec(size=s["vox_box"], spacing=s["vox_spacing"],
                      channels=("density", "gradient"), overflow="crop")  # fmt: skip
    dvox = Voxelizer(dspec, device=dev)
    dm = mols[: s["vox_density_molecules"]]
    dens = [[TorchDensity(compute(m, "xtb"), device=dev)] for m in dm]

    def density_pass():
        for m, d in zip(dm, dens, strict=True):
            dvox([m], [d])

    dgrids = _rate(density_pass, len(dm), dev)
    return {
        "atoms_grids_per_s": grids, "atoms_voxels_per_s": grids * int(np.prod(vox.shape)),
        "atoms_channels": vox.shape[0], "grid": f"{vox.shape[1]}^3", "batch": b,
        "density_grids_per_s": dgrids,
        "density_voxels_per_s": dgrids * int(np.prod(dvox.shape)),
    }  # fmt: skip


def throughput_render(ctx) -> dict:
    from rhoml.density import compute
    from rhoml.io.qm9 import load_qm9
    from rhoml.represent.render import fields_for, preset, render

    s, dev = ctx["sizes"], ctx["device"]
    cfg = preset("edg-density", size=64 if ctx["dry"] else 224)
    mols = load_qm9(limit=min(8, s["render_molecules"]))
    fields = [fields_for(compute(m, "xtb"), cfg) for m in mols]
    items = (fields * (s["render_molecules"] // len(fields) + 1))[: s["render_molecules"]]
    rate = _rate(lambda: render(items, cfg, device=dev), len(items) * len(cfg.views), dev)
    return {"images_per_s": rate, "size": cfg.size, "views": len(cfg.views),
            "molecules_per_call": len(items)}  # fmt: skip


def throughput_md(ctx) -> dict:
    from rhoml import Molecule, runs
    from rhoml.ase import RhomlCalculator
    from rhoml.md.driver import MDSettings, run_md

    s, dev = ctx["sizes"], ctx["device"]
    run = runs.load("ethanol", device=dev)
    pos = [
        [-0.0487, -0.5626, 0.0],
        [1.2008, 0.3118, 0.0],
        [-1.1565, 0.3295, 0.0],
        [-0.0927, -1.1969, 0.8894],
        [-0.0927, -1.1969, -0.8894],
        [2.1073, -0.3047, 0.0],
        [1.2002, 0.9559, 0.8855],
        [1.2002, 0.9559, -0.8855],
        [-1.9751, -0.1880, 0.0],
    ]
    mol = Molecule.from_symbols(["C", "C", "O", "H", "H", "H", "H", "H", "H"], pos, id="ethanol")
    calc = RhomlCalculator(run.potential())
    steps = s["md_steps"]

    def md():
        run_md(calc, mol, MDSettings(steps=steps, dt_fs=0.5), progress=False)

    return {"md_steps_per_s": _rate(md, steps, dev, repeats=2), "steps": steps,
            "model": "shipped DenSNet 'ethanol' (energy, forces, dipole per step)"}  # fmt: skip


def throughput_train(ctx) -> dict:
    import torch

    from rhoml.models.registry import build_model

    s, dev = ctx["sizes"], ctx["device"]
    n = s["train_n"]
    model = build_model("resnet3d-small", {}, in_channels=8, targets=["gap"]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(s["train_batch"], 8, n, n, n, device=dev)
    y = torch.randn(s["train_batch"], 1, device=dev)

    def steps():
        for _ in range(s["train_steps"]):
            opt.zero_grad()
            loss = ((model({"voxels": x}) - y) ** 2).mean()
            loss.backward()
            opt.step()

    rate = _rate(steps, s["train_steps"] * s["train_batch"], dev, repeats=2)
    return {"samples_per_s": rate, "grid": f"{n}^3 x 8 ch", "model": "resnet3d-small",
            "batch": s["train_batch"]}  # fmt: skip


STEPS = [
    ("smoke voxel-cnn", smoke_voxel_cnn),
    ("smoke densnet", smoke_densnet),
    ("smoke imageed (render on device)", smoke_imageed),
    ("smoke edg-teacher", smoke_edg_teacher),
    ("smoke student", smoke_student),
    ("throughput voxels", throughput_voxels),
    ("throughput render", throughput_render),
    ("throughput md", throughput_md),
    ("throughput train", throughput_train),
    ("qm9 voxel run (full size)", qm9_voxel_run),  # last: the longest (about 3 min on a GPU host)
]
BUDGET_S = 450.0  # no step starts after this many seconds (the whole run stays under 8 min)


def _markdown(report: dict) -> str:
    lines = [f"# GPU run: {report['device_name']}", "",
             f"Mode: {report['mode']}; device `{report['device']}`; total "
             f"{report['total_s']:.0f} s.", "", "| step | status | seconds | result |",
             "|---|---|---:|---|"]  # fmt: skip
    for name, r in report["steps"].items():
        res = r.get("result")
        short = json.dumps(res, default=str)[:160] if res is not None else r.get("error", "")
        lines.append(f"| {name} | {r['status']} | {r['seconds']:.1f} | {short} |")
    lines += ["", "Throughput:", ""]
    for key in ("atoms_grids_per_s", "atoms_voxels_per_s", "density_grids_per_s",
                "density_voxels_per_s", "images_per_s", "md_steps_per_s",
                "samples_per_s"):  # fmt: skip
        if key in report["throughput"]:
            lines.append(f"- {key}: {report['throughput'][key]:,.1f}")
    m = report["machine"]
    lines += ["", f"Machine: {m['cpu']}, {m['cores']} cores; torch {report['torch']}; "
              f"commit {m['commit']}, {m['date']}.", "", f"Command: `{m['command']}`"]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="the same code on the CPU at tiny sizes, into a temporary folder",
    )
    ap.add_argument(
        "--out",
        default=None,
        help="results folder (default benchmarks/results/gpu; dry run: a temp folder)",
    )
    ap.add_argument("--device", default=None, help="torch device (default cuda; dry run: cpu)")
    ap.add_argument("--only", default=None, help="comma-separated step name prefixes to run")
    args = ap.parse_args(argv)
    import torch

    device = args.device or ("cpu" if args.dry_run else "cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        print("run_all: no CUDA device here; use --dry-run on a CPU machine", file=sys.stderr)
        return 2
    keep = tempfile.TemporaryDirectory(prefix="rhoml-gpu-")
    tmp = Path(keep.name)
    if args.out:
        out = Path(args.out)
    else:
        out = Path(tempfile.mkdtemp(prefix="rhoml-gpu-dry-")) if args.dry_run else RESULTS / "gpu"
    out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    ctx = {"device": device, "dry": args.dry_run, "tmp": tmp,
           "sizes": SIZES["dry" if args.dry_run else "full"],
           "workers": 1 if args.dry_run else max(1, cores - 1),
           "threads": 1 if args.dry_run else min(8, cores)}  # fmt: skip
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu (dry run)"
    report = {"title": "GPU run: smoke tests, QM9 voxel run, throughput", "device": device,
              "device_name": name, "mode": "dry run (CPU, tiny)" if args.dry_run else "full",
              "torch": torch.__version__, "machine": machine(), "steps": {},
              "throughput": {}}  # fmt: skip
    wanted = [p.strip() for p in args.only.split(",")] if args.only else None
    start = time.perf_counter()
    for step, fn in STEPS:
        if wanted and not any(step.startswith(w) for w in wanted):
            continue
        t0 = time.perf_counter()
        if t0 - start > BUDGET_S:
            report["steps"][step] = {"status": "skipped", "seconds": 0.0,
                                     "error": f"time budget of {BUDGET_S:.0f} s spent"}  # fmt: skip
            continue
        try:
            res = fn(ctx)
            status = res if isinstance(res, str) else "ok"
            entry = {"status": status.split(":")[0], "seconds": time.perf_counter() - t0,
                     "result": None if isinstance(res, str) else res}  # fmt: skip
            if isinstance(res, str):
                entry["error"] = res
            if step.startswith("throughput") and isinstance(res, dict):
                report["throughput"].update(res)
        except Exception as exc:  # noqa: BLE001 - record and go on with the other steps
            entry = {"status": "failed", "seconds": time.perf_counter() - t0,
                     "error": f"{type(exc).__name__}: {exc}"[:500],
                     "traceback": traceback.format_exc()[-3000:]}  # fmt: skip
        report["steps"][step] = entry
        print(f"{step}: {entry['status']} ({entry['seconds']:.1f} s)", flush=True)
        (out / "run_all.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    report["total_s"] = time.perf_counter() - start
    (out / "run_all.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "run_all.md").write_text(_markdown(report))
    print(_markdown(report))
    print(f"-> {out}/run_all.json, run_all.md")
    keep.cleanup()
    return 1 if any(r["status"] == "failed" for r in report["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
