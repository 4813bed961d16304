"""Killing ``rhoml density compute`` and ``rhoml render`` at random points: SIGKILL, SIGTERM and
Ctrl-C (SIGINT to the process group) stop every worker within seconds, keep every finished
record, and a rerun finishes each molecule exactly once without recomputing the kept ones."""

from __future__ import annotations

import random
import signal

import pytest
from fault_helpers import (
    assert_all_gone,
    assert_no_traceback,
    descendants,
    rows,
    run,
    start,
    track_leftovers,
    wait_for_rows,
)

_leftovers = pytest.fixture(track_leftovers, name="leftovers")
N = 120
COMPUTE = ("density", "compute", f"qm9:{N}", "--method", "xtb", "--workers", "2", "--quiet")
OK = "SELECT COUNT(*) FROM records WHERE status='ok'"
EXIT = {signal.SIGKILL: -signal.SIGKILL, signal.SIGTERM: 143, signal.SIGINT: 130}


def _kill(proc, sig) -> None:
    if sig == signal.SIGINT:  # a terminal's Ctrl-C reaches the whole foreground process group
        import os

        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)


@pytest.mark.parametrize(
    "sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name
)
def test_kill_density_compute_then_resume(tmp_path, sig, leftovers):
    store = tmp_path / "s"
    at = random.Random(int(sig)).randint(1, 40)  # a seeded random point per signal
    proc = start(*COMPUTE, "--out", store)
    wait_for_rows(store, OK, at, proc)
    workers = descendants(proc.pid)
    leftovers += workers
    assert workers, "the batch runs in worker processes"
    _kill(proc, sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT[sig], err
    assert_all_gone(workers)
    if sig != signal.SIGKILL:
        assert_no_traceback(err)
        assert len(err.strip().splitlines()) == 1 and "rerun to resume" in err, err
    kept = {r[0]: r[1:] for r in rows(store, "SELECT molecule, data, created FROM records")}
    assert at <= len(kept) < N, "stopped halfway"

    again = run(*COMPUTE, "--out", store)
    assert again.returncode == 0, again.stderr
    assert f"{N - len(kept)} ok, 0 failed, {len(kept)} already done" in again.stdout
    final = rows(store, "SELECT molecule, status, data, created FROM records")
    assert sorted(r[0] for r in final) == list(range(N))  # each molecule exactly once
    assert {r[1] for r in final} == {"ok"}
    for mol, _, data, created in final:  # finished records untouched: same bytes, same time
        if mol in kept:
            assert (data, created) == kept[mol]


def test_ctrl_c_while_the_workers_start(tmp_path, leftovers):
    """Ctrl-C before any molecule finished (workers still importing): no hang, no traceback."""
    import time

    store = tmp_path / "s"
    compute = ("density", "compute", "qm9:30", "--method", "xtb", "--workers", "2", "--quiet")
    proc = start(*compute, "--out", store)
    deadline = time.time() + 60
    while not descendants(proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    workers = descendants(proc.pid)
    leftovers += workers
    _kill(proc, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert_no_traceback(err)
    assert_all_gone(workers)
    again = run(*compute, "--out", store)
    assert again.returncode == 0, again.stderr
    assert rows(store, OK)[0][0] == 30


@pytest.mark.parametrize(
    "sig",
    # rendering takes ~3 s a molecule here: the SIGTERM case (~25 s) runs with -m slow
    [signal.SIGKILL, pytest.param(signal.SIGTERM, marks=pytest.mark.slow)],
    ids=lambda s: s.name,
)
def test_kill_render_leaves_no_orphan_and_resumes(tmp_path, sig, leftovers):
    from rhoml.io import read_molecules
    from rhoml.store.sqlite_store import Store

    store = tmp_path / "s"
    n = 12  # a structural image takes ~0.1 s once the workers are up: leave the kill time to land
    with Store.create(store) as st:
        st.add_molecules(list(read_molecules(f"qm9:{n}")))
    args = ("render", store, "--preset", "edg-structure", "--workers", "2", "--device", "cpu",
            "--quiet")  # fmt: skip
    views = "SELECT COUNT(*) FROM arrays WHERE name='edg_structure_views'"
    proc = start(*args)
    wait_for_rows(store, views, 1, proc)
    workers = descendants(proc.pid)
    leftovers += workers
    assert workers
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == EXIT[sig], err
    assert_all_gone(workers)
    if sig != signal.SIGKILL:
        assert_no_traceback(err)
    kept = rows(store, views)[0][0]
    assert 1 <= kept < n
    again = run(*args)
    assert again.returncode == 0, again.stderr
    assert f"{n - kept} rendered, 0 failed, {kept} already done" in again.stdout
    assert rows(store, views)[0][0] == n
