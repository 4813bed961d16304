"""One training loop for every rhoml model: model + datasets + objective + :class:`TrainConfig`.

The loop knows nothing about voxels, images or graphs. A *model* is an ``nn.Module`` called as
``model(batch)`` on a collated batch (a dict of tensors); an :class:`Objective` says how to get
the loss and the targets from a batch and which metrics to report. What the loop does:

* seeds Python, NumPy and torch from ``config.seed`` (data order, dropout, initialisation);
* per epoch: train with a tqdm bar, evaluate on the validation set, append a row to
  ``OUT/metrics.csv`` (epoch, train_loss, val_loss, val metrics, lr, seconds);
* checkpoints ``OUT/last.pt`` (model, optimiser, scheduler, RNG states, early-stopping state)
  every epoch and ``OUT/best.pt`` on improvement of ``config.monitor``; a second call with the
  same ``OUT`` resumes from ``last.pt`` (``resume=True``) and gives the same result as an
  uninterrupted run;
* early stopping after ``config.patience`` epochs without improvement;
* precise BatchNorm statistics before each evaluation (``config.bn_recalibration``);
* CPU or CUDA (``config.device``); DDP-ready: when ``torch.distributed`` is initialised (e.g.
  under ``torchrun``) the model is wrapped in ``DistributedDataParallel``, the training set is
  sharded with ``DistributedSampler``, validation predictions are gathered, and only rank 0
  writes files.
"""

from __future__ import annotations

import csv
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from rhoml.train.config import TrainConfig


@dataclass
class Objective:
    """What to optimise and report.

    Attributes:
        targets: ``targets(batch) -> tensor`` of true values aligned with the model output.
        criterion: ``criterion(pred, true) -> scalar tensor``; the training loss per batch and
            the validation loss over the whole validation set.
        metrics: ``metrics(pred (N, ...), true (N, ...)) -> {name: float}`` on numpy arrays of a
            whole evaluation set.
    """

    targets: Callable[[dict], torch.Tensor]
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metrics: Callable[[np.ndarray, np.ndarray], dict[str, float]]

    def loss(self, pred: torch.Tensor, batch: dict) -> torch.Tensor:
        return self.criterion(pred, self.targets(batch).to(pred.dtype))


@dataclass
class FitResult:
    best_epoch: int
    best_value: float
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    samples_per_second: float = 0.0
    out_dir: Path | None = None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when present; ``auto``/``cuda`` under torchrun → this rank's GPU.
    A CUDA device on a machine without CUDA, or an unknown name, is a one-line error."""
    from rhoml.errors import RhomlError

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if not (name == "cpu" or name == "cuda" or name.startswith("cuda:")):
        raise RhomlError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RhomlError(f"device {name!r}: CUDA is not available on this machine")
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device(f"cuda:{int(os.environ['LOCAL_RANK'])}")
    return torch.device(name)


def to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _distributed() -> tuple[bool, int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return True, dist.get_rank(), dist.get_world_size()
    return False, 0, 1


def parameter_groups(model, weight_decay: float) -> list[dict]:
    """Optimiser parameter groups: weight decay on weight matrices and kernels only; none on
    biases, normalisation scales (1-D parameters) or the parameters a submodule names in its
    ``no_weight_decay()`` (e.g. a ViT's class and mask tokens), as in the MAE recipe. One
    group when ``weight_decay`` is 0."""
    params = list(model.parameters())
    if not weight_decay:
        return [{"params": params, "weight_decay": 0.0}]
    skip: set[int] = set()
    for prefix, module in model.named_modules():
        names = module.no_weight_decay() if hasattr(module, "no_weight_decay") else ()
        for name in names:
            full = f"{prefix}.{name}" if prefix else name
            skip |= {id(p) for n, p in model.named_parameters() if n == full}
    decay = [p for p in params if p.ndim >= 2 and id(p) not in skip]
    rest = [p for p in params if p.ndim < 2 or id(p) in skip]
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": rest, "weight_decay": 0.0}]  # fmt: skip


def _optimizer(cfg: TrainConfig, params):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas))


def warmup_cosine_factor(step: int, steps_per_epoch: int, cfg: TrainConfig) -> float:
    """Learning-rate factor after ``step`` optimiser steps: linear from 0 over
    ``cfg.warmup_epochs`` epochs, then a half cosine from 1 to ``lr_min / lr`` at the end of
    ``cfg.epochs`` epochs (per-step, as in the MAE recipe)."""
    warm = cfg.warmup_epochs * steps_per_epoch
    total = max(cfg.epochs * steps_per_epoch, 1)
    floor = cfg.lr_min / cfg.lr
    if step < warm:
        return step / warm
    progress = min((step - warm) / max(total - warm, 1), 1.0)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _scheduler(cfg: TrainConfig, opt, steps_per_epoch: int = 1):
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=3)
    if cfg.scheduler == "cosine" and cfg.warmup_epochs:
        return torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: warmup_cosine_factor(step, steps_per_epoch, cfg)
        )
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.lr_min)
    return None


@torch.no_grad()
def recalibrate_batchnorm(model, loader, max_batches: int, device) -> bool:
    """Recompute BatchNorm running statistics as plain averages over up to ``max_batches``
    batches of ``loader`` with the current weights (precise BN). Returns False (no-op) for a
    model without BatchNorm."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns or max_batches <= 0:
        return False
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average
    was_training = model.training
    model.train()
    for i, batch in enumerate(loader):
        if i >= max_batches:
            break
        model(to_device(batch, device))
    for bn, m in zip(bns, momenta, strict=True):
        bn.momentum = m
    model.train(was_training)
    return True


def _bar(total: int, desc: str):
    """A progress bar that never touches the data loader: wrapping a loader in ``tqdm.auto``
    creates an extra iterator, which draws from the loader's generator and so changes the
    shuffling (training results would then depend on whether a bar is shown)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


@torch.no_grad()
def predict(model, data, *, batch_size: int = 64, device="cpu", collate_fn=None, progress=False,
            targets: Callable | None = None):  # fmt: skip
    """Run ``model`` over a dataset → (predictions, targets or None) as numpy arrays."""
    from torch.utils.data import DataLoader

    model.eval()
    loader = DataLoader(data, batch_size=batch_size, shuffle=False, collate_fn=collate_fn)
    preds, trues = [], []
    bar = _bar(len(loader), "predict") if progress else None
    for batch in loader:
        if bar is not None:
            bar.update(1)
        batch = to_device(batch, device)
        preds.append(model(batch).detach().float().cpu().numpy())
        if targets is not None:
            trues.append(targets(batch).detach().float().cpu().numpy())
    p = np.concatenate(preds) if preds else np.zeros((0,))
    return p, (np.concatenate(trues) if trues else None)


def fit(
    model: torch.nn.Module,
    train_data,
    val_data,
    objective: Objective,
    config: TrainConfig,
    out_dir,
    *,
    collate_fn=None,
    resume: bool = True,
    progress: bool = True,
) -> FitResult:
    """Train ``model`` (see the module docstring); returns the best epoch and the history.

    ``best.pt`` holds the weights of the best validation epoch; the model is left with them.
    """
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    out = Path(out_dir)
    distributed, rank, world = _distributed()
    main = rank == 0
    if main:
        out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    seed_everything(config.seed)
    model.to(device)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    opt = _optimizer(config, parameter_groups(model, config.weight_decay))
    sampler = DistributedSampler(train_data, world, rank, seed=config.seed) if distributed else None
    n_local = len(sampler) if sampler is not None else len(train_data)
    drop_last = len(train_data) > config.batch_size
    steps_per_epoch = max(n_local // config.batch_size if drop_last
                          else math.ceil(n_local / config.batch_size), 1)  # fmt: skip
    per_step = config.scheduler == "cosine" and bool(config.warmup_epochs)
    sched = _scheduler(config, opt, steps_per_epoch)
    state = {"epoch": 0, "best": math.inf, "best_epoch": 0, "bad": 0, "history": []}
    last, best_path = out / "last.pt", out / "best.pt"
    if resume and last.is_file():
        try:
            ck = torch.load(last, map_location=device, weights_only=False)
            model.load_state_dict(ck["model"])
        except Exception as exc:  # truncated or foreign checkpoint: one line, not a traceback
            from rhoml.errors import RhomlError

            raise RhomlError(
                f"{last}: unreadable checkpoint ({type(exc).__name__}); delete it to restart "
                "this stage from scratch"
            ) from None
        try:
            opt.load_state_dict(ck["optimizer"])
        except ValueError:  # parameter groups of another version (weight-decay groups)
            from rhoml.errors import RhomlError

            raise RhomlError(
                f"{last}: optimiser state of another rhoml version (parameter groups differ); "
                "delete it to restart this stage from scratch"
            ) from None
        if sched is not None and ck.get("scheduler"):
            sched.load_state_dict(ck["scheduler"])
        state = ck["state"]
        random.setstate(ck["rng"]["python"])
        np.random.set_state(ck["rng"]["numpy"])
        torch.set_rng_state(ck["rng"]["torch"])
    gen = torch.Generator()
    loader_kw = dict(
        batch_size=config.batch_size,
        collate_fn=collate_fn,
        num_workers=config.num_workers,
        drop_last=drop_last,
    )
    eval_bs = config.eval_batch_size or config.batch_size
    t_start, n_seen = time.perf_counter(), 0
    csv_path = out / "metrics.csv"
    while state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        if config.patience and state["bad"] >= config.patience:
            break
        gen.manual_seed(config.seed * 100_003 + epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        loader = DataLoader(train_data, shuffle=sampler is None, sampler=sampler, generator=gen,
                            **loader_kw)  # fmt: skip
        net.train()
        t0 = time.perf_counter()
        total, count = 0.0, 0
        bar = _bar(len(loader), f"epoch {epoch}/{config.epochs}") if progress and main else None
        for batch in loader:
            batch = to_device(batch, device)
            opt.zero_grad(set_to_none=True)
            loss = objective.loss(net(batch), batch)
            loss.backward()
            if config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
            if per_step:
                sched.step()
            b = len(objective.targets(batch))
            total += float(loss.detach()) * b
            count += b
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total / count:.4g}")
        if bar is not None:
            bar.close()
        train_seconds = time.perf_counter() - t0
        n_seen += count
        if config.bn_recalibration:
            calib = DataLoader(train_data, shuffle=True, generator=gen, **loader_kw)
            recalibrate_batchnorm(model, calib, config.bn_recalibration, device)
        # validation (every rank evaluates everything: simple and correct; shard for big sets)
        pred, true = predict(model, val_data, batch_size=eval_bs, device=device,
                             collate_fn=collate_fn, targets=objective.targets)  # fmt: skip
        with torch.no_grad():
            val_loss = float(objective.criterion(torch.as_tensor(pred), torch.as_tensor(true)))
        metrics = objective.metrics(pred, true)
        row = {"epoch": epoch, "train_loss": total / max(count, 1), "val_loss": val_loss,
               **metrics, "lr": opt.param_groups[0]["lr"], "seconds": train_seconds}  # fmt: skip
        value = row.get(config.monitor)
        if value is None:
            raise KeyError(f"monitor {config.monitor!r} not among {', '.join(row)}")
        if sched is not None and not per_step:
            sched.step(value) if config.scheduler == "plateau" else sched.step()
        improved = value < state["best"]
        if improved:
            state.update(best=float(value), best_epoch=epoch, bad=0)
        else:
            state["bad"] += 1
        state["epoch"] = epoch
        state["history"].append(row)
        if main:
            new = not csv_path.exists() or epoch == 1
            with open(csv_path, "w" if new else "a", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)
            if improved:
                torch.save({"model": model.state_dict(), "epoch": epoch, "value": value}, best_path)
            torch.save(
                {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "scheduler": sched.state_dict() if sched is not None else None, "state": state,
                 "rng": {"python": random.getstate(), "numpy": np.random.get_state(),
                         "torch": torch.get_rng_state()}},
                last,
            )  # fmt: skip
    if distributed:
        import torch.distributed as dist

        dist.barrier()
    if best_path.is_file():
        model.load_state_dict(torch.load(best_path, map_location=device)["model"])
    seconds = time.perf_counter() - t_start
    return FitResult(
        best_epoch=state["best_epoch"], best_value=state["best"], epochs_run=state["epoch"],
        history=state["history"], seconds=seconds,
        samples_per_second=n_seen / seconds if seconds > 0 and n_seen else 0.0, out_dir=out,
    )  # fmt: skip
