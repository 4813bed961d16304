"""Batch density generation into a store: a local process pool by default, a Dask distributed
cluster when given a scheduler address — the same code path (a ``concurrent.futures`` executor).

Workers compute; the coordinating process writes each finished result in its own transaction, so
a batch killed at any moment keeps every finished record and a restart skips them. A molecule
that fails is recorded with its reason and the batch goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rhoml.errors import RhomlError
from rhoml.molecule import Molecule
from rhoml.store.sqlite_store import Store

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "PYSCF_MAX_MEMORY")


@dataclass(frozen=True)
class MethodSpec:
    """What to compute: an engine, its options, and optionally a density fit of the result."""

    engine: str
    options: dict[str, Any] = field(default_factory=dict)
    fit_auxbasis: str | None = None

    @property
    def key(self) -> str:
        """Record key in the store: ``engine`` or ``engine:<hash of options>``."""
        if not self.options:
            return self.engine
        text = json.dumps(self.options, sort_keys=True)
        label = "/".join(str(self.options[k]) for k in ("functional", "basis") if k in self.options)
        h = hashlib.sha1(text.encode()).hexdigest()[:6]
        return f"{self.engine}:{label}:{h}" if label else f"{self.engine}:{h}"

    @property
    def fit_key(self) -> str | None:
        return f"{self.key}+fit:{self.fit_auxbasis}" if self.fit_auxbasis else None


@dataclass
class BatchReport:
    """Outcome of :func:`run_batch`."""

    method: str
    submitted: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Finished molecules per second of wall time."""
        done = self.ok + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self, out) -> str:
        """One-line summary for the command line."""
        return (
            f"{self.method}: {self.ok} ok, {self.failed} failed, {self.skipped} already done; "
            f"{self.throughput:.2f} molecules/s -> {out}"
        )


def compute_one(idx: int, molecule: Molecule, spec: MethodSpec) -> dict[str, Any]:
    """Worker task: compute one density (and its fit). Never raises for a bad molecule."""
    from rhoml.density import compute

    start = time.perf_counter()
    out: dict[str, Any] = {"idx": idx}
    try:
        density = compute(molecule, spec.engine, **spec.options)
        out["density"] = density
        out["seconds"] = time.perf_counter() - start
        if spec.fit_auxbasis:
            from rhoml.density.fit import fit_density

            out["fit"] = fit_density(density, spec.fit_auxbasis)
    except RhomlError as exc:
        out["error"] = str(exc)
    except Exception as exc:  # an engine bug must not end the batch; record it
        out["error"] = f"{molecule.id}: {type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - start
    return out


@contextmanager
def single_threaded_children(threads: int):
    """Children inherit the environment at spawn: pin BLAS/OpenMP threads per worker."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    for k in _THREAD_VARS[:3]:
        os.environ[k] = str(threads)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def make_executor(workers: int | None = None, scheduler: str | None = None):
    """A ``concurrent.futures`` executor: a spawn process pool, or a Dask client's executor."""
    if scheduler:
        from distributed import Client

        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise RhomlError(f"cannot reach Dask scheduler {scheduler}: {exc}") from None
        try:
            yield client.get_executor(pure=False)
        finally:
            client.close()
        return
    import multiprocessing as mp

    workers = workers or os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        yield pool


def run_batch(
    store: Store | str | os.PathLike,
    molecules: list[Molecule],
    spec: MethodSpec,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    retry_failed: bool = False,
    progress: bool = True,
    threads_per_worker: int = 1,
) -> BatchReport:
    """Compute ``spec`` for every molecule not yet done in ``store``; returns a report.

    Molecules are added to the store first (idempotent by id). Finished molecules (ok, and
    failed unless ``retry_failed``) are skipped, so re-running an interrupted batch resumes it.
    """
    from tqdm.auto import tqdm

    own = not isinstance(store, Store)
    st = Store.create(store) if own else store
    try:
        indices = st.add_molecules(molecules)
        done = st.finished(spec.key, include_failed=not retry_failed)
        todo = [(i, m) for i, m in zip(indices, molecules, strict=True) if i not in done]
        report = BatchReport(
            method=spec.key, submitted=len(todo), skipped=len(molecules) - len(todo)
        )
        start = time.perf_counter()
        if todo:
            with single_threaded_children(threads_per_worker):
                if executor is not None:
                    _drain(st, executor, todo, spec, report, progress, tqdm)
                else:
                    with make_executor(workers, scheduler) as ex:
                        _drain(st, ex, todo, spec, report, progress, tqdm)
        report.seconds = time.perf_counter() - start
        return report
    finally:
        if own:
            st.close()


def _drain(st: Store, ex: Executor, todo, spec: MethodSpec, report: BatchReport, progress, tqdm):
    futures = [ex.submit(compute_one, i, m, spec) for i, m in todo]
    bar = tqdm(total=len(futures), desc=f"{spec.key}", unit="mol", disable=not progress)
    engine = spec.engine
    try:
        for fut in as_completed(futures):
            res = fut.result()
            idx = res["idx"]
            if "error" in res:
                st.put_failure(idx, spec.key, engine, spec.key, res["error"], res["seconds"])
                report.failed += 1
                report.failures.append((idx, res["error"]))
                bar.write(f"failed: {res['error']}")
            else:
                st.put_density(idx, spec.key, res["density"], res["seconds"])
                if "fit" in res:
                    st.put_density(idx, spec.fit_key, res["fit"], None)
                report.ok += 1
            bar.update(1)
    finally:
        bar.close()
        for f in futures:
            f.cancel()
