"""Issue 13 item 2: summarise the xTB-image vs DFT-image ImageED ablation of
``benchmarks/edg_ablation_cpu.sh`` (nothing is trained here).

For the same 200 QM9 molecules: how different the two image sets are (silhouette IoU, colour and
depth differences), how well each ImageED learned (validation losses against the mean image),
what its frozen features know (nested-CV ridge R² for gap, μ and α from the features; linear
CKA between the two feature sets), how well each teacher learned its targets (validation L1
against predicting the mean), and what the distilled SchNet students reach on QM9 gap and μ
(test MAE, plain vs EDG at λ* chosen on validation, 3 seeds).

    python benchmarks/edg_ablation_results.py [--out runs/edg_abl]

Writes benchmarks/results/edg_ablation_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_results  # noqa: E402

ARMS = {"xtb": "edg_density_views", "dft": "edg_density_views/dft"}
PROBE_TARGETS = ("gap", "mu", "alpha")
BACKGROUND = 255  # depth value of background pixels
STUDENT_UNITS = {"gap": "meV", "mu": "D", "alpha": "Bohr³", "U0": "meV"}  # EDG's QM9 units


def image_differences(st, indices) -> dict:
    """Per-molecule silhouette IoU (surface pixels: depth < 255) and, on pixels inside both
    silhouettes, mean |Δ| of the RGB and depth channels (0–255 levels), xTB vs DFT images."""
    iou, rgb, depth = [], [], []
    for i in indices:
        a = st.get_array(i, ARMS["xtb"]).astype(np.int16)
        b = st.get_array(i, ARMS["dft"]).astype(np.int16)
        sa, sb = a[..., 3] < BACKGROUND, b[..., 3] < BACKGROUND
        both = sa & sb
        iou.append(both.sum() / max(1, (sa | sb).sum()))
        d = np.abs(a - b)[both]
        rgb.append(float(d[:, :3].mean()) if len(d) else 0.0)
        depth.append(float(d[:, 3].mean()) if len(d) else 0.0)
    return {k: {"median": float(np.median(v)), "min": float(np.min(v)), "max": float(np.max(v))}
            for k, v in (("silhouette_iou", iou), ("rgb_mean_abs_levels", rgb),
                         ("depth_mean_abs_levels", depth))}  # fmt: skip


def _ridge_fit(x, y, alpha):
    xm, ym = x.mean(0), y.mean()
    xs = x.std(0) + 1e-12
    z = (x - xm) / xs
    w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - ym))
    return lambda q: ((q - xm) / xs) @ w + ym


RIDGE_ALPHAS = np.logspace(-2, 4, 13)


def nested_ridge_r2(x, y, seed=0, folds=5, alphas=RIDGE_ALPHAS) -> float:
    """Out-of-fold R² of ridge regression, its α chosen by an inner 5-fold CV on each outer
    training part (no information from the held-out fold)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    outer = np.array_split(order, folds)
    pred = np.empty(len(y))
    for k in range(folds):
        test = outer[k]
        train = np.concatenate([outer[j] for j in range(folds) if j != k])
        inner = np.array_split(train, folds)
        err = []
        for a in alphas:
            e = 0.0
            for m in range(folds):
                tr = np.concatenate([inner[j] for j in range(folds) if j != m])
                e += ((_ridge_fit(x[tr], y[tr], a)(x[inner[m]]) - y[inner[m]]) ** 2).sum()
            err.append(e)
        pred[test] = _ridge_fit(x[train], y[train], alphas[int(np.argmin(err))])(x[test])
    return float(1.0 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def linear_cka(a, b) -> float:
    """Linear centred kernel alignment of two feature matrices (N, D1), (N, D2)."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    return float(np.linalg.norm(a.T @ b) ** 2
                 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)))  # fmt: skip


def manifest_metrics(run: Path, keys) -> dict:
    m = json.loads((run / "manifest.json").read_text())["metrics"]
    return {k: m.get(k) for k in keys}


def student_cells(study: Path) -> dict:
    """The QM9 SchNet cells of a study's results.json by target ({} before it exists)."""
    p = study / "results.json"
    if not p.is_file():
        return {}
    return {c["item"]: c for c in json.loads(p.read_text())["cells"] if c["dataset"] == "qm9"}


def fmt(s: dict | None, digits=1) -> str:
    if not s:
        return "—"
    if s.get("n", 0) >= 2:
        return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} (n={s['n']})"
    return f"{s['mean']:.{digits}f} (n={s.get('n', 1)})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/edg_abl", help="the ablation's folder")
    ap.add_argument("--note", default="", help="a paragraph printed under the table")
    args = ap.parse_args()
    from rhoml import runs
    from rhoml.store.sqlite_store import Store

    out = Path(args.out)
    with Store.open(out / "qm9-200.rhoml", readonly=True) as st:
        indices = [i for i in st.indices() if all(st.has_array(i, n) for n in ARMS.values())]
        dft_method = next(m for m in st.methods() if m.startswith("dft"))
        diffs = image_differences(st, indices)
        mols = [st.molecule(i) for i in indices]
        labels = {t: np.array([m.labels[t] for m in mols]) for t in PROBE_TARGETS}
        # baseline features: the element counts (H, C, N, O, F) of each molecule
        counts = np.array([[np.sum(m.numbers == z) for z in (1, 6, 7, 8, 9)] for m in mols], float)
        units = dict(st.molecule(indices[0]).label_units)
        feats = {}
        for arm in ARMS:
            model = runs.load(out / f"imageed-{arm}").model
            feats[arm] = model.features_from_store(st, indices).astype(np.float64)
    arms = {}
    for arm in ARMS:
        probe = {t: nested_ridge_r2(feats[arm], labels[t]) for t in PROBE_TARGETS}
        arms[arm] = {
            "imageed": manifest_metrics(out / f"imageed-{arm}", ("val_mask_loss",
                                        "val_recovery_loss", "val_patch_mse_of_the_mean_image",
                                        "best_epoch", "epochs_run", "train_seconds")),
            "probe_r2": probe,
            "teacher": manifest_metrics(out / f"teacher-{arm}", ("val_l1",
                                        "val_l1_predicting_the_mean", "val_cosine",
                                        "best_epoch", "epochs_run", "train_seconds")),
            "students": student_cells(out / f"study-{arm}"),
        }  # fmt: skip
    cka = linear_cka(feats["xtb"], feats["dft"])
    composition_r2 = {t: nested_ridge_r2(counts, labels[t]) for t in PROBE_TARGETS}
    data = {"title": "EDG ablation: ImageED on xTB vs DFT density images (CPU scale)",
            "machine": machine(), "molecules": len(indices), "dft_level": dft_method,
            "image_differences": diffs, "feature_cka_xtb_vs_dft": cka, "label_units": units,
            "probe_r2_element_counts": composition_r2,
            "arms": arms,
            "chain_command": "bash benchmarks/edg_ablation_cpu.sh"}  # fmt: skip

    rows = [
        "| | xTB images | DFT images |",
        "|---|---|---|",
    ]

    def row(name, f):
        rows.append(f"| {name} | {f(arms['xtb'])} | {f(arms['dft'])} |")

    row("ImageED val masked-patch loss (mean image)",
        lambda a: f"{a['imageed']['val_mask_loss']:.3f} "
                  f"({a['imageed']['val_patch_mse_of_the_mean_image']:.3f})")  # fmt: skip
    row("ImageED val visible-patch loss", lambda a: f"{a['imageed']['val_recovery_loss']:.3f}")
    for t in PROBE_TARGETS:
        row(
            f"ridge R² of {t} from ImageED features, nested 5-fold CV (from element counts "
            f"alone: {composition_r2[t]:.3f})",
            lambda a, t=t: f"{a['probe_r2'][t]:.3f}",
        )
    row(
        "teacher val L1 (predicting the mean)",
        lambda a: (
            f"{a['teacher']['val_l1']:.4f} ({a['teacher']['val_l1_predicting_the_mean']:.4f})"
        ),
    )  # noqa: E501

    def student(a, target, which):
        c = a["students"].get(target)
        if not c:
            return "—"
        m = c["metrics"][f"mae_{target}"]
        if which == "plain":
            return fmt(m["plain"], 3 if target == "mu" else 1)
        lam = f"λ*={c['lambda']:g}: " if c.get("lambda") is not None else ""
        gain = f", {m['gain_percent']:+.1f} %, {m['verdict']}" if m.get("edg") else ""
        return f"{lam}{fmt(m.get('edg'), 3 if target == 'mu' else 1)}{gain}"

    targets = sorted({t for a in arms.values() for t in a["students"]})
    for t in targets:
        unit = STUDENT_UNITS.get(t, "")
        row(f"SchNet QM9 {t} test MAE ({unit}), plain", lambda a, t=t: student(a, t, "plain"))
        row(f"SchNet QM9 {t} test MAE ({unit}), EDG", lambda a, t=t: student(a, t, "edg"))
    d = diffs
    table = (
        f"{len(indices)} random QM9 molecules (seed 0); densities GFN2-xTB and {dft_method}; "
        "edg-density images at 112 px. Image sets, xTB vs DFT (median [min, max] over molecules): "
        f"silhouette IoU {d['silhouette_iou']['median']:.3f} [{d['silhouette_iou']['min']:.3f}, "
        f"{d['silhouette_iou']['max']:.3f}], mean |Δ colour| inside both silhouettes "
        f"{d['rgb_mean_abs_levels']['median']:.1f} levels [{d['rgb_mean_abs_levels']['min']:.1f}"
        f", {d['rgb_mean_abs_levels']['max']:.1f}], mean |Δ depth| "
        f"{d['depth_mean_abs_levels']['median']:.1f} levels. Linear CKA between the two "
        f"ImageED feature sets of the same molecules: {cka:.3f}.\n\n" + "\n".join(rows)
    )
    table += "\n\nChain: `bash benchmarks/edg_ablation_cpu.sh` (configs/edg_ablation/, seeds 0–2)."
    if args.note:
        table += f"\n\n{args.note}"
    write_results("edg_ablation_cpu", data, table)


if __name__ == "__main__":
    main()
