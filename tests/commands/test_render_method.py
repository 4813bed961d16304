"""``rhoml render --method``: a record key, or an engine name standing for its one key."""

import pytest

from rhoml.commands.render import _method
from rhoml.errors import RhomlError
from rhoml.store.sqlite_store import Store


class _Store:
    """The record keys of a store, without a database; key resolution is the real one."""

    path = "s.rhoml"
    resolve_method = Store.resolve_method

    def __init__(self, methods):
        self._methods = methods

    def methods(self):
        return list(self._methods)


DFT = "dft:B3LYP/6-31G**:61ccf8"


def test_an_engine_name_stands_for_its_one_record_key():
    st = _Store(["xtb", DFT, "xtb+fit:def2-universal-jkfit"])
    assert _method(st, "dft") == DFT
    assert _method(st, DFT) == DFT
    assert _method(st, "xtb") == "xtb"  # an exact key wins over the engine rule


def test_ambiguous_or_unknown_methods_are_refused_with_the_choices():
    st = _Store([DFT, "dft:PBE/def2-SVP:0a1b2c"])
    with pytest.raises(RhomlError, match="several dft density records"):
        _method(st, "dft")
    with pytest.raises(RhomlError, match=r"no density records for method 'xtb' \(the store has"):
        _method(st, "xtb")
    with pytest.raises(RhomlError, match="choose a density record with --method"):
        _method(st, None)
