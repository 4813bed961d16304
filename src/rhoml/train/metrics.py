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


def bootstrap_ci(pred, true, metric, *, n: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap confidence interval of ``metric(pred, true)`` (resampling the
    molecules with replacement, ``n`` times, seeded). Resamples where the metric is undefined
    (NaN, e.g. a constant prediction's correlation) are left out; (nan, nan) if all are."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(p), size=(n, len(p)))
    vals = np.array([float(metric(p[i], t[i])) for i in idx])
    vals = vals[np.isfinite(vals)]
    if not len(vals):
        return float("nan"), float("nan")
    lo, hi = np.quantile(vals, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def confidence_intervals(pred, true, names: list[str], **kw) -> dict[str, list[float]]:
    """95 % bootstrap intervals of the metrics of :func:`regression_report`: ``mae_<name>``
    and ``rmse_<name>`` per target, ``pearson`` for a single target."""
    pred = np.asarray(pred, float).reshape(len(pred), -1)
    true = np.asarray(true, float).reshape(len(true), -1)
    out: dict[str, list[float]] = {}
    for i, name in enumerate(names):
        out[f"mae_{name}"] = list(bootstrap_ci(pred[:, i], true[:, i], mae, **kw))
        out[f"rmse_{name}"] = list(bootstrap_ci(pred[:, i], true[:, i], rmse, **kw))
    if len(names) == 1:
        out["pearson"] = list(bootstrap_ci(pred[:, 0], true[:, 0], pearson, **kw))
    return out
