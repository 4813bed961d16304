"""Regression metrics on arrays (N,) or (N, T) in the targets' units."""

from __future__ import annotations

import numpy as np


def mae(pred, true) -> np.ndarray:
    """Mean absolute error per target (T,) (or a scalar for 1-D input)."""
    return np.abs(np.asarray(pred) - np.asarray(true)).mean(axis=0)


def rmse(pred, true) -> np.ndarray:
    return np.sqrt(((np.asarray(pred) - np.asarray(true)) ** 2).mean(axis=0))


def pearson(pred, true) -> float:
    p, t = np.asarray(pred, float).ravel(), np.asarray(true, float).ravel()
    if len(p) < 2 or p.std() == 0 or t.std() == 0:
        return float("nan")
    return float(np.corrcoef(p, t)[0, 1])


def spearman(pred, true) -> float:
    from scipy.stats import spearmanr

    p, t = np.asarray(pred, float).ravel(), np.asarray(true, float).ravel()
    if len(p) < 2 or p.std() == 0 or t.std() == 0:
        return float("nan")
    return float(spearmanr(p, t).statistic)


def regression_report(pred, true, names: list[str]) -> dict[str, float]:
    """``mae_<name>``, ``rmse_<name>`` per target, and for one target ``pearson``/``spearman``."""
    pred = np.asarray(pred, float).reshape(len(pred), -1)
    true = np.asarray(true, float).reshape(len(true), -1)
    out: dict[str, float] = {}
    m, r = mae(pred, true), rmse(pred, true)
    for i, name in enumerate(names):
        out[f"mae_{name}"] = float(m[i])
        out[f"rmse_{name}"] = float(r[i])
    if len(names) == 1:
        out["pearson"] = pearson(pred[:, 0], true[:, 0])
        out["spearman"] = spearman(pred[:, 0], true[:, 0])
    return out
