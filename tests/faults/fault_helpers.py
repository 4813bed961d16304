"""Helpers of the fault-injection tests, a plain module rather than a conftest (a second
conftest module would shadow the top-level one other tests import from): run the real ``rhoml``
command line in a process of its own, watch its store fill, signal it, and list the processes it
left behind."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

try:
    import psutil
except ImportError:  # /proc is read instead
    psutil = None


def rhoml(*args: str) -> list[str]:
    """The command line running ``rhoml ARGS`` with this interpreter."""
    return [sys.executable, "-m", "rhoml", *map(str, args)]


def start(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start ``rhoml ARGS`` in a session of its own (its process group receives a terminal's
    Ctrl-C), stdout and stderr captured as text. SIGINT is reset to its default in the child: a
    test run started in the background (``cmd &`` in a script) inherits an ignored SIGINT, and
    Python then never raises KeyboardInterrupt."""
    return subprocess.Popen(
        rhoml(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env={**os.environ, **(env or {})}, preexec_fn=_default_sigint,
    )  # fmt: skip


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``rhoml ARGS`` to the end."""
    return subprocess.run(rhoml(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})  # fmt: skip


def rows(store: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows of a read-only query on the store's database ([] while it does not exist yet)."""
    db = Path(store) / "rhoml.sqlite"
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:  # tables not created yet
        return []
    finally:
        conn.close()


def wait_for_rows(store: Path, sql: str, n: int, proc: subprocess.Popen, timeout: float = 120):
    """Wait until ``sql`` (a COUNT) on the store reaches ``n``; fails if ``proc`` ends first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = rows(store, sql)
        if got and got[0][0] >= n:
            return got[0][0]
        assert proc.poll() is None, f"finished before {n} rows: {proc.communicate()}"
        time.sleep(0.05)
    raise AssertionError(f"{sql} did not reach {n} in {timeout} s")


def descendants(pid: int) -> list[int]:
    """Process ids of every descendant of ``pid`` (psutil, else /proc)."""
    if psutil is not None:
        try:
            return [p.pid for p in psutil.Process(pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    """True if ``pid`` is a running (not zombie) process."""
    if psutil is not None:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_all_gone(pids: list[int], timeout: float = 10.0) -> None:
    """Every process of ``pids`` ends within ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes still running {timeout} s after the kill: {left}")


def assert_no_traceback(stderr: str) -> None:
    """No Python traceback reached the user; every line on stderr comes from rhoml."""
    assert "Traceback" not in stderr, stderr
    for line in stderr.strip().splitlines():
        assert line.startswith("rhoml"), stderr


def track_leftovers():
    """A list to put the process ids a test saw; those still running at teardown (left behind by
    a failing test) are killed."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
