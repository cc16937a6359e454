"""The instrument registry: every declared instrument, looked up by name or SDTM label.

``pgic`` is the one instrument whose answers mean different things under different codings; it
is built on request for the coding the dataset declares (:func:`get_instrument`).
"""

from __future__ import annotations

from backpheno.errors import InputError
from backpheno.questionnaires.instruments import (
    beliefs,
    clinical,
    function,
    mood,
    other,
    pain,
    promis,
    widespread,
)
from backpheno.questionnaires.instruments.pain import PGIC_CODINGS, pgic
from backpheno.questionnaires.spec import Instrument

_FIXED: tuple[Instrument, ...] = (
    *pain.INSTRUMENTS, *promis.INSTRUMENTS, *function.INSTRUMENTS, *beliefs.INSTRUMENTS,
    *widespread.INSTRUMENTS, *mood.INSTRUMENTS, *other.INSTRUMENTS, *clinical.INSTRUMENTS,
)
_BY_NAME = {inst.name: inst for inst in _FIXED}
if len(_BY_NAME) != len(_FIXED):
    raise RuntimeError("two instruments share a name")

#: Every instrument name, in registry order (``pgic`` after ``peg``).
INSTRUMENT_NAMES: tuple[str, ...] = ("peg", "pgic", *[i.name for i in _FIXED if i.name != "peg"])


def get_instrument(name: str, pgic_coding: str | None = None) -> Instrument:
    """The declaration of one instrument.

    Parameters
    ----------
    name : str
        A name from :data:`INSTRUMENT_NAMES`.
    pgic_coding : str, optional
        Required for ``pgic``: one of ``bacpac_0_6`` (0 = very much improved .. 6 = very much
        worse), ``common_1_7`` (1 = very much improved .. 7 = very much worse) or
        ``reversed_1_7`` (1 = very much worse .. 7 = very much improved).

    Raises
    ------
    InputError
        For an unknown name, or ``pgic`` without a known coding.
    """
    if name == "pgic":
        if pgic_coding is None:
            raise InputError("PGIC answers can only be scored once the dataset declares their "
                             f"coding: set pgic_coding to one of {sorted(PGIC_CODINGS)}",
                             column="pgic_coding")
        if pgic_coding not in PGIC_CODINGS:
            raise InputError(f"unknown PGIC coding {pgic_coding!r}; known: "
                             f"{sorted(PGIC_CODINGS)}", column="pgic_coding")
        return pgic(pgic_coding)
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown instrument {name!r}; known: {list(INSTRUMENT_NAMES)}") from None


def all_instruments(pgic_coding: str = "bacpac_0_6") -> list[Instrument]:
    """Every instrument (PGIC under ``pgic_coding``), in registry order."""
    return [get_instrument(n, pgic_coding) for n in INSTRUMENT_NAMES]
