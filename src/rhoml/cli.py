"""The ``rhoml`` command line: thin wrappers over the library.

Errors a user can act on print one line (``rhoml: error: ...``) and exit with status 2;
an interrupted batch exits 130 with its finished records kept.
"""

from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except RhomlError as exc:
        print(f"rhoml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rhoml: interrupted; finished records are kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
