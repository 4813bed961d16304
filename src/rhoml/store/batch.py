"""Batch density generation into a store: a local process pool by default, a Dask distributed
cluster when given a scheduler address — the same code path (a ``concurrent.futures`` executor).

Workers compute; the coordinating process writes each finished result in its own transaction, so
a batch killed at any moment keeps every finished record and a restart skips them. A molecule
that fails is recorded with its reason and the batch goes on.

Faults, and what the task runner (:func:`run_tasks`, also used by ``rhoml render`` and
``rhoml points``) does about them:

- A worker process that dies (a segfault, the kernel's OOM killer, native code aborting at the
  memory limit) breaks the local pool. The tasks that were in flight are run again, each in a
  process of its own, ``workers`` at a time: one whose process dies again is reported with its
  exit signal or code (:func:`run_batch` records it as failed), the others finish normally; then
  a new pool takes the remaining tasks. With Dask, a task whose workers died raises
  ``KilledWorker`` and is reported the same way.
- Memory: ``max_atoms`` records larger molecules as failed without computing them;
  ``max_memory_gb`` caps each local worker's address space (``RLIMIT_AS``), so an allocation over
  it fails inside the worker (recorded) instead of calling the OOM killer.
- Stopping: SIGINT (Ctrl-C) raises ``KeyboardInterrupt`` and SIGTERM raises :class:`Interrupted`
  in the coordinating process, which kills its workers before the exception propagates; the
  workers ignore SIGINT themselves. Every worker also dies with the coordinating process
  (``PR_SET_PDEATHSIG`` on Linux, a thread watching the parent process elsewhere), so killing it
  leaves no orphan.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import (
    FIRST_COMPLETED,
    CancelledError,
    Executor,
    ProcessPoolExecutor,
    wait,
)
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rhoml.errors import CalculationError, RhomlError, StoreError
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
    too_large: int = 0
    died: int = 0
    seconds: float = 0.0
    failures: list[tuple[int, str]] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Finished molecules per second of wall time."""
        done = self.ok + self.failed
        return done / self.seconds if self.seconds > 0 else 0.0

    def line(self, out) -> str:
        """One-line summary for the command line."""
        notes = [
            f"{n} {what}"
            for n, what in ((self.too_large, "over max_atoms"), (self.died, "killed their worker"))
            if n
        ]
        failed = f"{self.failed} failed" + (f" ({', '.join(notes)})" if notes else "")
        return (
            f"{self.method}: {self.ok} ok, {failed}, {self.skipped} already done; "
            f"{self.throughput:.2f} molecules/s -> {out}"
        )


class Interrupted(KeyboardInterrupt):
    """A batch stopped by a signal other than SIGINT (SIGTERM), raised in the coordinating
    process. Records already written are kept; ``exit_status`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


@contextmanager
def signals_interrupt():
    """While inside (in the main thread): SIGTERM raises :class:`Interrupted`, once (a second
    SIGTERM is ignored until the previous handler is restored on leaving)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signum, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


# -- worker side --------------------------------------------------------------------------------
#: Test hook, honoured only under pytest (``PYTEST_CURRENT_TEST`` set): ``KIND:MOLECULE_ID,...``
#: makes the worker computing that molecule fail with KIND (see :func:`_injected_fault`).
FAULT_ENV = "RHOML_TEST_FAULTS"


def _injected_fault(molecule: Molecule) -> str | None:
    """The fault :data:`FAULT_ENV` names for ``molecule``: ``sigkill`` / ``sigsegv`` (the worker
    sends itself that signal), ``exit`` (``os._exit(3)``), ``alloc`` (allocates 16 GB; refused
    without a memory limit), ``nan`` (a NaN in the computed density). None outside pytest."""
    text = os.environ.get(FAULT_ENV)
    if not text or "PYTEST_CURRENT_TEST" not in os.environ:
        return None
    for item in text.split(","):
        kind, _, target = item.strip().partition(":")
        if target == molecule.id:
            return kind
    return None


def _memory_limit() -> int | None:
    """This process's address-space limit in bytes, or None when unlimited."""
    try:
        import resource
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _raise_fault(kind: str) -> None:
    if kind == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "sigsegv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "exit":
        os._exit(3)
    elif kind == "alloc":
        if _memory_limit() is None:
            raise RuntimeError("the alloc fault needs a memory limit (max_memory_gb)")
        np.ones(2 * 2**30)  # 16 GB


def check_finite(density, where: str) -> None:
    """Raise :class:`CalculationError` naming ``where`` if the density's data, nuclear charges
    or array-valued properties (forces, dipoles) hold NaN or Inf."""
    parts = [(density.kind, density.data), ("nuclear charges", density.nuclear_charges)]
    parts += [(k, v) for k, v in density.properties.items() if isinstance(v, np.ndarray)]
    for name, values in parts:
        a = np.asarray(values)
        if a.dtype.kind in "fc" and not np.isfinite(a).all():
            raise CalculationError(f"{where}: {name} contains NaN or Inf")


def compute_one(idx: int, molecule: Molecule, spec: MethodSpec) -> dict[str, Any]:
    """Worker task: compute one density (and its fit). Never raises for a bad molecule: the
    result holds ``error`` (one line naming the molecule) instead."""
    start = time.perf_counter()
    out: dict[str, Any] = {"idx": idx}
    try:
        from rhoml.density import compute

        fault = _injected_fault(molecule)
        if fault:
            _raise_fault(fault)
        density = compute(molecule, spec.engine, **spec.options)
        if fault == "nan":
            density.data = density.data.copy()
            density.data.flat[0] = np.nan
        check_finite(density, f"{molecule.id}: {spec.key}")
        out["density"] = density
        out["seconds"] = time.perf_counter() - start
        if spec.fit_auxbasis:
            from rhoml.density.fit import fit_density

            fit = fit_density(density, spec.fit_auxbasis)
            check_finite(fit, f"{molecule.id}: {spec.fit_key}")
            out["fit"] = fit
    except RhomlError as exc:
        out.pop("density", None)
        out["error"] = str(exc)
    except MemoryError as exc:
        out.pop("density", None)
        limit = _memory_limit()
        where = f" (worker memory limit {limit / 2**30:g} GB)" if limit else ""
        out["error"] = f"{molecule.id}: out of memory{where}: {exc}"
    except Exception as exc:  # an engine bug must not end the batch; record it
        out.pop("density", None)
        out["error"] = f"{molecule.id}: {type(exc).__name__}: {exc}"
    out["seconds"] = time.perf_counter() - start
    return out


def _die_with_parent(parent: int) -> None:
    """Make this process die when ``parent`` does: ``PR_SET_PDEATHSIG`` on Linux, else a daemon
    thread polling the parent process id."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0:  # PR_SET_PDEATHSIG
                if os.getppid() != parent:  # the parent died before prctl
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rhoml-parent-watch", daemon=True).start()


_EVENTS = None  # in a pool worker: the queue its process id and task starts are reported on


def _init_worker(parent: int, max_memory: int | None, events=None) -> None:
    """Initializer of every worker process: ignore SIGINT (the coordinating process stops the
    workers), die with the coordinating process, cap the address space at ``max_memory`` bytes
    (PySCF is told to stay within three quarters of it), report the process id on ``events``."""
    global _EVENTS
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _die_with_parent(parent)
    if max_memory:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        soft = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        os.environ["PYSCF_MAX_MEMORY"] = str(int(0.75 * soft / 2**20))  # MB
    if events is not None:
        _EVENTS = events
        events.put(("pid", os.getpid()))


def _tracked(fn, key, args):
    """Pool task: report that ``key`` started (so a worker death can be pinned on the tasks that
    were running), then run ``fn(*args)``."""
    if _EVENTS is not None:
        _EVENTS.put(("start", key))
    return fn(*args)


def _isolated_task(conn, fn, args, initargs) -> None:
    """Entry point of a process running one task alone: sends ``("ok", result)`` or
    ``("error", exception)`` on ``conn``."""
    _init_worker(*initargs)
    try:
        message = ("ok", fn(*args))
    except Exception as exc:
        message = ("error", exc)
    conn.send(message)
    conn.close()


# -- coordinating side ----------------------------------------------------------------------------
def death_reason(exitcode: int | None, max_memory: int | None = None) -> str:
    """One line saying how a worker process ended, from its ``exitcode`` (negative: a signal)."""
    limit = f" (memory limit of {max_memory / 2**30:g} GB reached?)" if max_memory else ""
    if exitcode is None:
        return "worker process vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return f"worker process killed by {name} (out of memory? the OOM killer sends it)"
        return f"worker process killed by {name}{limit}"
    return f"worker process exited with code {exitcode}{limit}"


@contextmanager
def _sigint_blocked():
    """Processes started inside inherit a blocked SIGINT, so a Ctrl-C during their start-up
    cannot interrupt them before their initializer ignores it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _is_child(pid: int) -> bool:
    """True if ``pid`` is a (not yet reaped) child of this process (always True without /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except FileNotFoundError:
        return not os.path.isdir("/proc")
    except (OSError, ValueError, IndexError):
        return False


class _LocalRunner:
    """Tasks on a spawn process pool that survives worker deaths (see the module docstring)."""

    def __init__(self, workers: int | None, max_memory_gb: float | None) -> None:
        import multiprocessing as mp
        from concurrent.futures import ThreadPoolExecutor

        self.ctx = mp.get_context("spawn")
        self.workers = workers or os.cpu_count() or 1
        self.window = 2 * self.workers  # tasks queued in the pool at a time
        self.max_memory = int(max_memory_gb * 2**30) if max_memory_gb else None
        self.pool: ProcessPoolExecutor | None = None
        self.events = None  # the pool's queue of ("pid", process id) and ("start", key)
        self.worker_pids: set[int] = set()
        self.started: set = set()  # keys of tasks seen starting and not yet finished
        # tasks run alone, each in a process of its own started and awaited by a thread
        self.threads = ThreadPoolExecutor(self.workers, thread_name_prefix="rhoml-alone")
        self.alone: set = set()
        self.lock = threading.Lock()
        self.closing = False

    def run(self, fn, tasks, on_result, on_death) -> None:
        queue = deque(tasks)
        inflight: dict = {}  # pool future -> task
        alone: dict = {}  # thread future -> task
        finished = False
        try:
            while queue or inflight or alone:
                if self.pool is None and queue:
                    self.events = self.ctx.SimpleQueue()
                    self.started = set()
                    self.pool = ProcessPoolExecutor(
                        self.workers, mp_context=self.ctx, initializer=_init_worker,
                        initargs=(os.getpid(), self.max_memory, self.events),
                    )  # fmt: skip
                while queue and len(inflight) < self.window:
                    key, args = task = queue.popleft()
                    try:
                        with _sigint_blocked():
                            inflight[self.pool.submit(_tracked, fn, key, args)] = task
                    except BrokenProcessPool:  # a worker died since the last wait: its
                        queue.appendleft(task)  # futures fail below; this task waits
                        if not inflight:  # nothing left to fail: start a new pool
                            self._close_pool(kill=True)
                        break
                done, _ = wait([*inflight, *alone], return_when=FIRST_COMPLETED)
                if self.events is not None:
                    self._read_events()
                broken = []
                for fut in done:
                    if fut in alone:
                        key = alone.pop(fut)[0]
                        status, value = fut.result()
                        if status == "error":
                            raise value
                        (on_result if status == "ok" else on_death)(key, value)
                        continue
                    task = inflight.pop(fut)
                    if isinstance(fut.exception(), BrokenProcessPool):
                        broken.append(task)
                    else:
                        self.started.discard(task[0])
                        on_result(task[0], fut.result())
                if broken:  # the pool is broken: every other task in flight fails with it
                    wait(inflight)
                    for fut, task in inflight.items():
                        if isinstance(fut.exception(), BrokenProcessPool):
                            broken.append(task)
                        else:
                            self.started.discard(task[0])
                            on_result(task[0], fut.result())
                    inflight.clear()
                    self._read_events()
                    # the tasks that were running when a worker died (all, if none was seen
                    # starting) run again alone; the others go back to the queue for a new pool
                    suspects = [t for t in broken if t[0] in self.started] or broken
                    keys = {t[0] for t in suspects}
                    queue.extendleft(reversed([t for t in broken if t[0] not in keys]))
                    self._close_pool(kill=True)
                    for task in suspects:
                        alone[self.threads.submit(self._run_alone, fn, *task)] = task
            finished = True
        finally:
            for fut in inflight:
                fut.cancel()
            self.close(kill=not finished)

    def _read_events(self) -> None:
        while not self.events.empty():
            what, value = self.events.get()
            if what == "pid":
                self.worker_pids.add(value)
            else:
                self.started.add(value)

    def _run_alone(self, fn, key, args) -> tuple[str, Any]:
        """(In a thread.) Run one task in a process of its own: ``("ok", result)``,
        ``("error", exception)`` or ``("died", reason)`` with the exit signal or code."""
        here, there = self.ctx.Pipe(duplex=False)
        proc = self.ctx.Process(
            target=_isolated_task, args=(there, fn, args, (os.getpid(), self.max_memory)),
            daemon=True, name=f"rhoml-task-{key}",
        )  # fmt: skip
        with self.lock:
            if self.closing:
                here.close()
                there.close()
                return "died", "stopped"
            with _sigint_blocked():
                proc.start()
            self.alone.add(proc)
        there.close()
        try:
            status, value = here.recv()
        except EOFError:  # the process died before sending its result
            status, value = "died", None
        here.close()
        proc.join()
        with self.lock:
            self.alone.discard(proc)
        if status == "died":
            value = death_reason(proc.exitcode, self.max_memory)
        return status, value

    def _kill_workers(self) -> None:
        """SIGKILL the pool's worker processes, whatever they are doing."""
        if self.events is None:
            return
        self._read_events()
        for pid in self.worker_pids:
            if _is_child(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _close_pool(self, kill: bool) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if kill:
            self._kill_workers()
        pool.shutdown(wait=True, cancel_futures=True)
        self.events.close()
        self.events = None
        self.worker_pids.clear()

    def close(self, kill: bool) -> None:
        """Shut down; with ``kill``, kill every worker process first. A second Ctrl-C during
        this (a second or so) is ignored, so no worker is left running."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if kill and main else None
        try:
            if kill:
                self._kill_workers()
            with self.lock:
                self.closing = True
                for proc in self.alone:
                    proc.kill()
            self.threads.shutdown(wait=True, cancel_futures=True)
            self._close_pool(kill)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)


def _is_killed_worker(exc: BaseException | None) -> bool:
    return exc is not None and type(exc).__name__ == "KilledWorker"


def _run_on_executor(ex: Executor, fn, tasks, on_result, on_death, retries: int = 2) -> None:
    """Tasks on a given executor (a Dask client's): a ``KilledWorker`` goes to ``on_death``; a
    task whose future fails otherwise (a result lost with a worker, a cancelled key) is submitted
    again, up to ``retries`` times, then its exception ends the batch."""
    futures = {ex.submit(fn, *args): (key, args) for key, args in tasks}
    tries: dict = {}
    try:
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for fut in done:
                key, args = futures.pop(fut)
                try:
                    exc = fut.exception()
                except CancelledError as cancelled:
                    exc = cancelled
                if exc is None:
                    on_result(key, fut.result())
                elif _is_killed_worker(exc):
                    on_death(key, "worker processes died running it (Dask KilledWorker)")
                elif tries.get(key, 0) < retries:
                    tries[key] = tries.get(key, 0) + 1
                    futures[ex.submit(fn, *args)] = (key, args)
                else:
                    raise exc
    finally:
        for fut in futures:
            fut.cancel()


def check_memory_limit(max_memory_gb, scheduler=None, executor=None) -> None:
    """Refuse a per-worker memory limit where it cannot apply (:class:`RhomlError`)."""
    if max_memory_gb and (scheduler or executor is not None):
        raise RhomlError(
            "a memory limit applies to local worker processes; give Dask workers their own "
            "(dask worker --memory-limit)"
        )
    if max_memory_gb and not sys.platform.startswith("linux"):
        raise RhomlError("a per-worker memory limit needs Linux (RLIMIT_AS)")


def run_tasks(
    fn: Callable,
    tasks: Iterable[tuple[Any, tuple]],
    on_result: Callable[[Any, Any], None],
    on_death: Callable[[Any, str], None],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: Executor | None = None,
    max_memory_gb: float | None = None,
) -> None:
    """Run ``fn(*args)`` for every ``(key, args)`` of ``tasks`` in worker processes: a local
    spawn pool of ``workers`` (default: all cores), the Dask cluster at ``scheduler``, or
    ``executor``. ``on_result(key, result)`` gets each result in the calling process, in
    completion order; ``on_death(key, reason)`` each task whose worker process died running it
    (the batch goes on). ``fn`` returns its errors in its result; an exception it raises ends the
    batch. ``max_memory_gb`` caps each local worker's address space (Linux). SIGTERM raises
    :class:`Interrupted`, SIGINT ``KeyboardInterrupt``; either way the workers are stopped
    before the exception leaves."""
    tasks = list(tasks)
    check_memory_limit(max_memory_gb, scheduler, executor)
    if not tasks:
        return
    with signals_interrupt():
        if executor is not None:
            _run_on_executor(executor, fn, tasks, on_result, on_death)
        elif scheduler:
            with make_executor(scheduler=scheduler) as ex:
                _run_on_executor(ex, fn, tasks, on_result, on_death)
        else:
            _LocalRunner(workers, max_memory_gb).run(fn, tasks, on_result, on_death)


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
    """A ``concurrent.futures`` executor: a spawn process pool, or a Dask client's executor.
    (:func:`run_tasks` adds recovery from worker deaths and clean stopping on top.)"""
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
    max_atoms: int | None = None,
    max_memory_gb: float | None = None,
) -> BatchReport:
    """Compute ``spec`` for every molecule not yet done in ``store``; returns a report.

    Molecules are added to the store first (idempotent by id). Finished molecules (ok, and
    failed unless ``retry_failed``) are skipped, so re-running an interrupted batch resumes it.
    A molecule with more than ``max_atoms`` atoms is recorded as failed without being computed;
    one whose worker process dies is recorded as failed with the exit signal or code;
    ``max_memory_gb`` caps each local worker's address space (see :func:`run_tasks`).
    """
    from tqdm.auto import tqdm

    check_memory_limit(max_memory_gb, scheduler, executor)
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
        by_index = dict(todo)
        bar = tqdm(total=len(todo), desc=f"{spec.key}", unit="mol", disable=not progress)

        def failed(idx: int, reason: str, seconds=None) -> None:
            st.put_failure(idx, spec.key, spec.engine, spec.key, reason, seconds)
            report.failed += 1
            report.failures.append((idx, reason))
            bar.write(f"failed: {reason}")
            bar.update(1)

        def on_result(idx: int, res: dict) -> None:
            if "error" not in res:
                try:
                    st.put_density(idx, spec.key, res["density"], res["seconds"])
                    if "fit" in res:
                        st.put_density(idx, spec.fit_key, res["fit"], None)
                except StoreError as exc:  # e.g. not finite, or not what the schema declares
                    res = {"error": f"{by_index[idx].id}: {exc}", "seconds": res["seconds"]}
            if "error" in res:
                failed(idx, res["error"], res["seconds"])
                return
            report.ok += 1
            bar.update(1)

        def on_death(idx: int, reason: str) -> None:
            report.died += 1
            failed(idx, f"{by_index[idx].id}: {reason}")

        try:
            if max_atoms:
                for i, m in list(todo):
                    if m.n_atoms > max_atoms:
                        report.too_large += 1
                        failed(i, f"{m.id}: skipped, {m.n_atoms} atoms > max_atoms {max_atoms}")
                todo = [(i, m) for i, m in todo if m.n_atoms <= max_atoms]
            with single_threaded_children(threads_per_worker):
                run_tasks(
                    compute_one, [(i, (i, m, spec)) for i, m in todo], on_result, on_death,
                    workers=workers, scheduler=scheduler, executor=executor,
                    max_memory_gb=max_memory_gb,
                )  # fmt: skip
        finally:
            bar.close()
        report.seconds = time.perf_counter() - start
        return report
    finally:
        if own:
            st.close()
