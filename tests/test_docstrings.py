"""Shared parameter descriptions: fill_doc puts each fragment in place, indented."""

from __future__ import annotations

import pytest

from backpheno.docstrings import DOCS, fill_doc


def test_fill_doc_replaces_placeholder_lines_with_the_indented_fragment() -> None:
    @fill_doc
    def f(sampling_rate_hz: float) -> None:
        """Do it.

        Parameters
        ----------
        %(sampling_rate_hz)s
        """

    lines = f.__doc__.splitlines()
    assert lines[4] == "        sampling_rate_hz : float"
    assert lines[5] == "            " + DOCS["sampling_rate_hz"].splitlines()[1].strip()
    assert "%(" not in f.__doc__


def test_an_unknown_fragment_fails_at_decoration() -> None:
    def g() -> None:
        """%(nope)s"""

    with pytest.raises(KeyError, match="nope"):
        fill_doc(g)


def test_filled_docstrings_of_the_package() -> None:
    from backpheno.biomech import ImuRecording, estimate_orientation, sparc

    for obj in (ImuRecording, estimate_orientation, sparc):
        assert "%(" not in obj.__doc__
        assert "Samples per second of the recording (Hz)." in obj.__doc__
