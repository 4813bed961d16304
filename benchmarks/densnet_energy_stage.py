"""DenSNet energy-stage training step: forces through both networks (the coefficient network
run in every step) against frozen features and Jacobians computed once
(:mod:`rhoml.families.densnet_frozen`), in one run, on rMD17 frames of a small and a larger
molecule.

    OMP_NUM_THREADS=1 python benchmarks/densnet_energy_stage.py [--frames 48] [--repeats 3]

For each molecule a DenSNet with the networks of ``configs/densnet_ethanol_rmd17.toml``
(density net 24 channels, energy net 16; untrained weights: the cost does not depend on them) is
built on promolecule fits of four frames; ``--frames`` rMD17 training frames are cut into
batches of 8 and one training step (forward, force loss, backward) is timed per batch with each
path, alternating, median over ``--repeats`` passes. Also timed: the one-time features and
Jacobians per frame, and the largest force difference between the paths (float64 model, the
first 8 frames; forces in kcal/mol/Å).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RMD17 = ROOT.parent / "shared" / "data" / "rmd17"


def build(name: str, n: int, dtype: str):
    """(model with frozen coefficient network, energy-stage items) for ``n`` rMD17 frames."""
    import torch

    from rhoml.density.basis import basis_only_mol
    from rhoml.density.fit import fit_density
    from rhoml.density.promolecule import compute_promolecule
    from rhoml.families.densnet import read_config
    from rhoml.families.densnet_config import SECTIONS
    from rhoml.families.densnet_train import _items, build_model, make_basis
    from rhoml.io.rmd17 import load_rmd17
    from rhoml.represent.coefficients import Frame

    table = read_config(ROOT / "configs" / "densnet_ethanol_rmd17.toml")
    table["train"] = SECTIONS["train"](dtype=dtype)
    mols = load_rmd17(name, "train", range(n), data_dir=RMD17)
    elements = sorted(set(mols[0].symbols))
    basis = make_basis(table["basis"], elements)
    frames = []
    for m in mols:
        coeff = metric = None
        if len(frames) < 4:  # build_model's coefficient scales
            coeff = fit_density(compute_promolecule(m), basis.pyscf_basis()).data
            metric = basis_only_mol(m, basis.pyscf_basis()).intor("int2c2e")
        frames.append(Frame(m, m.labels["energy"], m.labels["forces"], coeff, metric, "train"))
    model = build_model(table, frames[:4], basis, frames)
    model.coeff_net.requires_grad_(False)
    dt = torch.float64 if dtype == "float64" else torch.float32
    return model, _items(frames, "coulomb", dt, density=False)


def step_seconds(stage, batch) -> float:
    t = time.perf_counter()
    out = stage(batch)
    (out**2).sum().backward()
    return time.perf_counter() - t


def measure(name: str, n: int, repeats: int) -> dict:
    from rhoml.families.densnet_frozen import add_frozen_features, collate_frozen
    from rhoml.families.densnet_train import _stage_modules, collate_items

    model, items = build(name, n, "float32")
    t = time.perf_counter()
    add_frozen_features(model.coeff_net, items, batch_size=8)
    jac_s = (time.perf_counter() - t) / n
    _, full, frozen = _stage_modules()
    stages = {"full": (full(model, 1.0, 1.0).train(), collate_items),
              "frozen": (frozen(model, 1.0, 1.0).train(), collate_frozen)}  # fmt: skip
    batches = [items[s : s + 8] for s in range(0, n, 8)]
    times: dict[str, list[float]] = {"full": [], "frozen": []}
    for stage, collate in stages.values():  # warm-up
        step_seconds(stage, collate(batches[0]))
    for _ in range(repeats):
        for b in batches:
            for key, (stage, collate) in stages.items():
                model.zero_grad()
                times[key].append(step_seconds(stage, collate(b)))
    # agreement in float64 on the first batch
    m64, it64 = build(name, 8, "float64")
    add_frozen_features(m64.coeff_net, it64, batch_size=8)
    o_full = full(m64, 1.0, 1.0).eval()(collate_items(it64)).detach()[len(it64) :]
    o_froz = frozen(m64, 1.0, 1.0).eval()(collate_frozen(it64)).detach()[len(it64) :]
    n_atoms = len(items[0]["z"])
    per = {k: statistics.median(v) for k, v in times.items()}
    per_frame = {k: v / 8 for k, v in per.items()}
    saved = per_frame["full"] - per_frame["frozen"]
    return {
        "molecule": name,
        "atoms": n_atoms,
        "frames": n,
        "step_s_full": per["full"],
        "step_s_frozen": per["frozen"],
        "speedup": per["full"] / per["frozen"],
        "jacobian_s_per_frame": jac_s,
        "break_even_epochs": jac_s / saved if saved > 0 else None,
        "epoch_950_s_full": per_frame["full"] * 950,
        "epoch_950_s_frozen": per_frame["frozen"] * 950,
        "jacobian_kb_per_frame": items[0]["jac"].numel() * 4 / 1e3,
        "max_abs_force_diff_float64": float((o_full - o_froz).abs().max()),
        "max_abs_force_float64": float(o_full.abs().max()),
    }


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--molecules", nargs="+", default=["ethanol", "toluene"])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="densnet_energy_stage")
    ap.add_argument(
        "--previous",
        nargs="*",
        default=[],
        metavar="JSON",
        help="earlier results files whose speed-ups are listed for comparison",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    load0 = os.getloadavg()[0]
    rows = []
    for name in args.molecules:
        rows.append(measure(name, args.frames, args.repeats))
        print(rows[-1], flush=True)
    load1 = os.getloadavg()[0]
    data = {
        "title": "DenSNet energy stage: frozen coefficient-network features vs forces through "
        "both networks",
        "machine": machine(),
        "rows": rows,
        "load_1min": [load0, load1],
        "frames": args.frames,
        "repeats": args.repeats,
    }
    lines = [
        "One training step (batch of 8 frames: forward, force and energy loss, backward; 1 "
        "thread, float32), median over batches and repeats; networks of "
        "`configs/densnet_ethanol_rmd17.toml` (untrained), rMD17 training frames. *frozen*: "
        "the coefficient network's features and Jacobians computed once (forward-mode AD), "
        "then only the energy network runs.",
        "",
        "| molecule | atoms | step, both nets (s) | step, frozen (s) | speed-up | features + "
        "Jacobian (s/frame, once) | break-even (epochs) | 950-frame epoch (s): both / frozen "
        "| Jacobian (kB/frame) | max \\|ΔF\\| float64 (max \\|F\\|), kcal/mol/Å |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        be = "—" if r["break_even_epochs"] is None else f"{r['break_even_epochs']:.2f}"
        lines.append(
            f"| {r['molecule']} | {r['atoms']} | {r['step_s_full']:.3f} | "
            f"{r['step_s_frozen']:.3f} | **{r['speedup']:.1f}×** | "
            f"{r['jacobian_s_per_frame']:.3f} | {be} | {r['epoch_950_s_full']:.0f} / "
            f"{r['epoch_950_s_frozen']:.0f} | {r['jacobian_kb_per_frame']:.0f} | "
            f"{r['max_abs_force_diff_float64']:.1e} ({r['max_abs_force_float64']:.2g}) |"
        )
    lines += ["", f"1-min load average at start and end: {load0:.1f}, {load1:.1f} (2 cores)."]
    for path in args.previous:  # the same measurement on other runs (re-runs of the claim)
        prev = json.loads(Path(path).read_text())
        ratios = ", ".join(f"{r['molecule']} {r['speedup']:.1f}×" for r in prev["rows"])
        m = prev["machine"]
        lines.append(f"Earlier run ({Path(path).name}, commit {m['commit']}, {m['date'][:16]}, "
                     f"load {prev['load_1min'][0]:.1f}): {ratios}.")  # fmt: skip
    write_results(args.name, data, "\n".join(lines))


if __name__ == "__main__":
    main()
