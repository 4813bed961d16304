"""The ``rhoml`` command line: thin wrappers over the library.

Errors a user can act on print one line (``rhoml: error: ...``) and exit with status 2;
an interrupted batch exits 130 with its finished records kept. Diagnostics of the library
(``logging`` under the ``rhoml`` logger) go to stderr, INFO and above (WARNING with ``--quiet``);
what a command prints to stdout is its result.
"""

from __future__ import annotations

import argparse
import logging
import sys

from rhoml.errors import RhomlError

EXAMPLES = """examples:
  rhoml demo
  rhoml density compute mols.xyz --method xtb --out mols.rhoml --workers 2
  rhoml density compute qm9:1000 --method dft --functional B3LYP --basis 6-31G** --out q.rhoml
  rhoml density compute lig.sdf --method dft --out s.rhoml --scheduler tcp://10.0.0.5:8786
  rhoml density export-cube mols.rhoml --index 0 --out mol0.cube --quantity density
  rhoml info mols.rhoml --json
"""


def build_parser() -> argparse.ArgumentParser:
    from rhoml import __version__

    p = argparse.ArgumentParser(
        prog="rhoml",
        description="Electron densities for molecular machine learning.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"rhoml {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    for module in _command_modules():
        module.register(sub)
    return p


def _command_modules():
    """Modules of :mod:`rhoml.commands`, each with ``register(subparsers)``."""
    import importlib
    import pkgutil

    import rhoml.commands

    names = sorted(m.name for m in pkgutil.iter_modules(rhoml.commands.__path__))
    modules = [importlib.import_module(f"rhoml.commands.{name}") for name in names]
    return [m for m in modules if hasattr(m, "register")]


class _StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record is emitted."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return (
            text
            if record.levelno < logging.WARNING
            else f"rhoml: {record.levelname.lower()}: {text}"
        )


def _configure_logging(quiet: bool) -> None:
    """Messages of rhoml's library loggers to stderr: INFO and above, WARNING with --quiet."""
    log = logging.getLogger("rhoml")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    _configure_logging(quiet=bool(getattr(args, "quiet", False)))
    try:
        return args.handler(args)
    except RhomlError as exc:
        print(f"rhoml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C (130) or SIGTERM (143) from the batch runner
        print("rhoml: interrupted; finished records are kept, rerun to resume", file=sys.stderr)
        return int(getattr(exc, "exit_status", 130))


if __name__ == "__main__":
    sys.exit(main())
