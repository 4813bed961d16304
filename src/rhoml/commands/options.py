"""Options shared by every command, declared once with one meaning and one default.

Each ``add_*`` adds one option to an argparse parser. Value checks run while parsing, so a bad
value (``--workers -1``) is a one-line usage error with exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be ≥ {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """An integer ≥ 0."""
    return _int_at_least(text, 0)


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text}")
    return value


def add_out(p: argparse.ArgumentParser, what: str, *, required: bool = False,
            default: str | None = None) -> None:  # fmt: skip
    """``--out PATH``: where the command writes ``what``."""
    tail = " (required)" if required else (f" (default {default})" if default else "")
    p.add_argument("--out", required=required, default=default, metavar="PATH",
                   help=f"{what}{tail}")  # fmt: skip


def add_workers(p: argparse.ArgumentParser) -> None:
    """``--workers N``: local processes for data generation (default: all cores)."""
    p.add_argument("--workers", type=positive_int, default=None, metavar="N",
                   help="local worker processes (default: all cores)")  # fmt: skip


def add_scheduler(p: argparse.ArgumentParser) -> None:
    """``--scheduler ADDRESS``: a Dask distributed scheduler instead of local processes."""
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:port) instead of local processes")  # fmt: skip


def add_device(p: argparse.ArgumentParser) -> None:
    """``--device``: torch device (default auto = CUDA when present)."""
    p.add_argument("--device", default="auto", metavar="DEVICE",
                   help="torch device: auto (CUDA if present, default), cpu, cuda:N")  # fmt: skip


def add_seed(p: argparse.ArgumentParser) -> None:
    """``--seed N``: random seed (default 0)."""
    p.add_argument("--seed", type=nonnegative_int, default=0, metavar="N",
                   help="random seed (default 0)")  # fmt: skip


def add_threads(p: argparse.ArgumentParser) -> None:
    """``--threads N``: torch CPU threads (default 0 = torch's default, all cores)."""
    p.add_argument("--threads", type=nonnegative_int, default=0, metavar="N",
                   help="torch CPU threads (default 0: torch's default)")  # fmt: skip


def add_limit(p: argparse.ArgumentParser) -> None:
    """``--limit N``: only the first N molecules (N ≥ 1)."""
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="only the first N molecules")  # fmt: skip


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress bars or progress messages (never changes results)."""
    p.add_argument("--quiet", action="store_true", help="no progress bars or progress messages")


def add_set(p: argparse.ArgumentParser) -> None:
    """``--set section.key=value`` (repeatable): config overrides, values parsed as TOML."""
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   dest="overrides",
                   help="override a config value (repeatable): --set train.epochs=5")  # fmt: skip


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when present else ``cpu``; ``cuda`` without CUDA → one-line error."""
    import torch

    from rhoml.errors import RhomlError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RhomlError(f"--device {name}: CUDA is not available on this machine")
    if not (name == "cpu" or name.startswith("cuda")):
        raise RhomlError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return name


def set_threads(n: int) -> None:
    """Apply ``--threads`` (0 leaves torch's default)."""
    if n:
        import torch

        torch.set_num_threads(n)


def bench_subparsers(sub):
    """The sub-command group under ``rhoml bench`` (created by the first command module that
    asks, shared by the others: ``rhoml bench voxel-study``, ``rhoml bench edg-study``,
    ``rhoml bench energy-terms``)."""
    if "bench" in sub.choices:
        parser = sub.choices["bench"]
    else:
        parser = sub.add_parser(
            "bench",
            help="benchmark studies (voxel-study, edg-study, energy-terms, ir-vs-experiment)",
        )
    for action in getattr(parser, "_actions", []):
        if isinstance(action, argparse._SubParsersAction):
            return action
    return parser.add_subparsers(dest="bench_command", required=True)


def add_study_args(p) -> None:
    """The options of a resumable run-folder study (``rhoml bench edg-study``, ``energy-terms``):
    ``--summary-only``, ``--max-runs``, ``--plan``, ``--set`` and ``--quiet``."""
    p.add_argument("--summary-only", action="store_true",
                   help="train nothing; summarise the finished runs")  # fmt: skip
    p.add_argument("--max-runs", type=nonnegative_int, default=0,
                   help="stop after this many trainings (0 = all; rerun continues)")  # fmt: skip
    p.add_argument("--plan", action="store_true",
                   help="list the planned runs and which finished; train nothing")  # fmt: skip
    add_set(p)
    add_quiet(p)
