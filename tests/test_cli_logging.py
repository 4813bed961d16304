"""The CLI sends the library's log messages to stderr: INFO and above, WARNING with --quiet;
warnings carry a ``rhoml: warning:`` prefix; stdout stays the command's result."""

from __future__ import annotations

import logging

import pytest

from rhoml.cli import main


@pytest.fixture
def rhoml_logger():
    log = logging.getLogger("rhoml")
    level, handlers = log.level, list(log.handlers)
    yield log
    log.setLevel(level)
    log.handlers[:] = handlers


def test_info_and_warnings_go_to_stderr(tmp_path, capsys, rhoml_logger):
    assert main(["info", str(tmp_path / "no-store")]) == 2
    assert rhoml_logger.level == logging.INFO
    capsys.readouterr()
    logging.getLogger("rhoml.some.module").info("progress 1/2")
    logging.getLogger("rhoml.some.module").warning("3 molecules dropped")
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == ["progress 1/2", "rhoml: warning: 3 molecules dropped"]


def test_quiet_keeps_warnings_only(tmp_path, capsys, rhoml_logger):
    code = main(["density", "compute", str(tmp_path / "missing.xyz"), "--method", "promolecule",
                 "--out", str(tmp_path / "s"), "--quiet"])  # fmt: skip
    assert code == 2 and rhoml_logger.level == logging.WARNING
    capsys.readouterr()
    logging.getLogger("rhoml.x").info("progress")
    logging.getLogger("rhoml.x").warning("dropped")
    assert capsys.readouterr().err.splitlines() == ["rhoml: warning: dropped"]
    # configured once: a second run adds no second handler
    main(["info", str(tmp_path / "no-store")])
    assert sum(type(h).__name__ == "_StderrHandler" for h in rhoml_logger.handlers) == 1
