"""DenSNet MD speed vs one PySCF DFT gradient of the same molecule, same machine, 1 thread.

MD: NVE velocity Verlet through the ASE calculator with energy, forces and the dipole at every
step (what `rhoml ir` needs); steps/s is the median over repeats. Reference: one PySCF energy +
analytic gradient with the project's own label function and settings (LabelSettings defaults:
PBE/def2-SVP, RI-J, grid level 4), timed in the same run. Variants: the module path (e3nn
modules + autograd, the implementation before the fast evaluator), the fast evaluator in
float64 (default), float32, and torch.compile'd (``--compile``). ``--scaling`` also times
untrained models of the same architecture in larger auxiliary bases.

    OMP_NUM_THREADS=1 python benchmarks/densnet_md_speed.py RUN --compile --scaling
    OMP_NUM_THREADS=1 python benchmarks/densnet_md_speed.py RUN --geometry FILE.xyz

(RUN: a DenSNet run folder; default the shipped run ``ethanol`` at the PBE/def2-SVP ethanol
minimum; ``--geometry``: another molecule of the run, e.g. a model built by ``rhoml densnet
build``, timed at that geometry.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, write_results  # noqa: E402

from rhoml import runs  # noqa: E402
from rhoml.ase import FunctionPotential, RhomlCalculator  # noqa: E402
from rhoml.families.densnet import model_for  # noqa: E402
from rhoml.md.driver import MDSettings, run_md  # noqa: E402
from rhoml.md.reference import dft_potential  # noqa: E402
from rhoml.molecule import Molecule  # noqa: E402


def _load() -> float:
    return os.getloadavg()[0]


def md_steps_per_s(calc, mol: Molecule, steps: int, repeats: int) -> dict:
    """Median MD steps/s over ``repeats`` runs of ``steps`` NVE steps (after one warm-up)."""
    settings = MDSettings(steps=steps, dt_fs=0.5, ensemble="nve", temperature=300.0)
    run_md(calc, mol, MDSettings(steps=5, dt_fs=0.5), progress=False)  # warm-up / build
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        run_md(calc, mol, settings, progress=False)
        rates.append(steps / (time.perf_counter() - t))
    return {"steps_per_s": statistics.median(rates), "all": rates, "steps": steps}


def call_ms(fn, positions, n: int = 50) -> float:
    """Median wall time (ms) of one energy + forces + dipole evaluation (blocks of ``n``)."""
    fn(positions)
    blocks = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn(positions)
        blocks.append((time.perf_counter() - t) / n * 1e3)
    return statistics.median(blocks)


def dft_gradient_s(mol: Molecule, repeats: int) -> dict:
    fn = dft_potential().compute  # the label function: LabelSettings() defaults
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(mol)
        times.append(time.perf_counter() - t)
    return {"seconds": statistics.median(times), "all": times}


def _naux(model, numbers) -> int:
    return int(model.coeff_net.nfun[list(numbers)].sum())


def scaling_models(model):
    """Untrained models with the shipped architecture in larger aux bases: (label, model)."""
    import torch

    from rhoml.density.flexible_basis import FlexibleBasis
    from rhoml.density.prior import prior_table
    from rhoml.models.densnet.nets import NetConfig
    from rhoml.models.densnet.potential import DenSNet

    hp = model.hparams
    els = model.basis.elements
    for name, lmax in [
        ("def2-universal-jfit", 4),
        ("def2-universal-jkfit", 3),
        ("def2-universal-jkfit", 4),
    ]:
        basis = FlexibleBasis.from_pyscf(name, els, lmax=lmax)
        scales = {el: np.full(basis.n_functions(el), 0.05) for el in basis.elements}
        torch.manual_seed(0)
        m = DenSNet(
            basis,
            prior_table(basis),
            scales,
            NetConfig(**hp["density_cfg"]),
            NetConfig(**hp["energy_cfg"]),
            hp["e_shift"],
            hp["e_scale"],
            hp["mode"],
        )
        yield f"{name} l≤{lmax} (untrained)", m.double().eval()


def add_arguments(ap: argparse.ArgumentParser, steps_flag: str = "--steps") -> None:
    ap.add_argument(steps_flag, dest="speed_steps", type=int, default=400, help="MD steps/repeat")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dft-repeats", type=int, default=2)
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile'd path")
    ap.add_argument("--scaling", action="store_true", help="also time larger aux bases")
    ap.add_argument("--out", default="densnet_md_speed", help="results name")
    ap.add_argument("--geometry", default=None, help="xyz file of the molecule (default ethanol)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?", default="ethanol")
    add_arguments(ap)
    run(ap.parse_args())


def run(args) -> dict:
    """The speed benchmark; ``args`` as parsed by :func:`main`. Writes results/OUT.*."""
    import torch

    torch.set_num_threads(1)
    if getattr(args, "geometry", None):
        from rhoml.io import read_molecules

        mol = next(iter(read_molecules(args.geometry)))
        name = Path(args.geometry).parent.name or Path(args.geometry).stem
    else:
        ref = json.loads((RESULTS / "densnet_harmonic_dft.json").read_text())
        mol = Molecule(ref["numbers"], ref["positions_angstrom"], id="ethanol-dft-min")
        name = "ethanol"
    run = runs.load(args.model)
    model = run.model.module
    load = {"start": _load()}
    rows = {}

    # the module path: e3nn modules + autograd per step (the implementation before this change)
    calc = RhomlCalculator(FunctionPotential(lambda m: model.predict(m, fast=False)))
    rows["module path (before)"] = md_steps_per_s(calc, mol, max(50, args.speed_steps // 4), 3)
    rows["module path (before)"]["call_ms"] = call_ms(
        lambda p: model.predict(Molecule(mol.numbers, p), fast=False), mol.positions, 10
    )
    rows["fast float64"] = md_steps_per_s(
        RhomlCalculator(run.potential()), mol, args.speed_steps, args.repeats
    )
    rows["fast float64"]["call_ms"] = call_ms(model.evaluator(mol.numbers), mol.positions)
    p32 = run.potential().astype("float32")
    rows["fast float32"] = md_steps_per_s(RhomlCalculator(p32), mol, args.speed_steps, args.repeats)
    rows["fast float32"]["call_ms"] = call_ms(p32.evaluator(mol.numbers), mol.positions)
    if args.compile:
        t = time.perf_counter()
        ev = model.evaluator(mol.numbers, compile=True)
        ev(mol.positions)
        compile_s = time.perf_counter() - t
        calc = RhomlCalculator(run.potential(), compile=True)
        rows["fast float64 compiled"] = md_steps_per_s(calc, mol, args.speed_steps, args.repeats)
        rows["fast float64 compiled"]["call_ms"] = call_ms(ev, mol.positions)
        rows["fast float64 compiled"]["compile_s"] = compile_s
    load["after_md"] = _load()
    dft = dft_gradient_s(mol, args.dft_repeats)
    load["after_dft"] = _load()
    for r in rows.values():
        r["speedup_vs_dft_gradient"] = r["steps_per_s"] * dft["seconds"]
    naux = _naux(model, mol.numbers)
    scaling = []
    if args.scaling:
        scaling.append(
            {"basis": model.basis.name + " (shipped)", "naux": naux, **rows["fast float64"]}
        )
        for label, m in scaling_models(model):
            pot = model_for(m, {**m.build_args(), "stages": ["density", "energy"]})
            r = md_steps_per_s(RhomlCalculator(pot), mol, max(100, args.speed_steps // 2), 3)
            r["call_ms"] = call_ms(m.evaluator(mol.numbers), mol.positions, 20)
            r["call_ms_module_path"] = call_ms(
                lambda p, m=m: m.predict(Molecule(mol.numbers, p), fast=False), mol.positions, 5
            )
            scaling.append({"basis": label, "naux": _naux(m, mol.numbers), **r})
        load["after_scaling"] = _load()
    data = {
        "title": f"DenSNet {name}: MD steps/s vs one PySCF DFT gradient (1 thread)",
        "machine": machine(),
        "model": args.model,
        "molecule": (
            f"{name} ({args.geometry}), {len(mol.numbers)} atoms"
            if name != "ethanol"
            else "ethanol (PBE/def2-SVP minimum), 9 atoms"
        ),
        "naux": naux,
        "md": "NVE velocity Verlet, dt 0.5 fs, energy + forces + dipole every step (ASE)",
        "dft_reference": "rhoml.store.labels.dft_energy_forces, LabelSettings() = "
        "PBE/def2-SVP, RI-J, grid level 4, conv_tol 1e-10 (SCF + analytic gradient + dipole)",
        "dft_gradient_s": dft,
        "variants": rows,
        "scaling": scaling,
        "loadavg_1min": load,
    }
    busy = "loaded" if max(load.values()) > 2.5 else "quiet"
    out_rows = "\n".join(
        f"| {k} | {v['steps_per_s']:.1f} | {v['call_ms']:.2f} | "
        f"**{v['speedup_vs_dft_gradient']:.0f}×** |"
        + (f" first call (compile) {v['compile_s']:.0f} s |" if "compile_s" in v else " |")
        for k, v in rows.items()
    )
    table = (
        f"One PySCF PBE/def2-SVP (RI-J, grid 4) energy + gradient of {name} "
        f"({len(mol.numbers)} atoms): "
        f"**{dft['seconds']:.1f} s** (median of {len(dft['all'])}). MD: NVE, 0.5 fs, energy + "
        f"forces + dipole every step; steps/s = median of repeats; call = one evaluation "
        f"(energy, forces, dipole) without ASE. Goal: ≥ 1000× (≥ "
        f"{1000 / dft['seconds']:.0f} steps/s at this reference).\n\n"
        "| variant | MD steps/s | call (ms) | steps per DFT gradient time | note |\n"
        "|---|---|---|---|---|\n" + out_rows + "\n\n"
        f"1-min load average: start {load['start']:.1f}, after MD {load['after_md']:.1f}, "
        f"after DFT {load['after_dft']:.1f} (2 cores shared with other jobs: {busy})."
    )
    if scaling:
        srows = "\n".join(
            f"| {s['basis']} | {s['naux']} | {s['steps_per_s']:.1f} | {s['call_ms']:.2f} | "
            + (f"{s['call_ms_module_path']:.1f} |" if "call_ms_module_path" in s else "– |")
            for s in scaling
        )
        table += (
            "\n\nScaling with the auxiliary basis (same networks, fast float64; untrained "
            "models for the larger bases):\n\n"
            "| basis | n_aux (ethanol) | MD steps/s | call (ms) | module path call (ms) |\n"
            "|---|---|---|---|---|\n" + srows
        )
    write_results(args.out, data, table)
    return data


if __name__ == "__main__":
    main()
