"""Exceptions. Every user-facing failure is a :class:`RhomlError` whose message is one line
naming the file and record at fault; the CLI prints it without a traceback and exits non-zero."""


class RhomlError(Exception):
    """Base class for errors a user can act on (bad input, failed calculation, bad store)."""


class InputError(RhomlError):
    """Malformed, truncated or empty input file, or an inconsistent molecule."""


class UnknownElementError(InputError):
    """An element symbol or atomic number that rhoml (or the chosen engine) does not know."""


class ChargeSpinError(InputError):
    """Total charge and spin multiplicity inconsistent with the electron count."""


class CalculationError(RhomlError):
    """A density engine failed (SCF not converged, engine error)."""


class StoreError(RhomlError):
    """A store that cannot be opened: missing, corrupt or written by an incompatible version."""


class UnitError(RhomlError):
    """A quantity whose recorded unit is missing or does not match what the caller expects."""
