"""Shared parameter descriptions for docstrings (like nilearn's ``fill_doc``).

A parameter documented the same way in many functions is written once in :data:`DOCS`; a
docstring names it with a line holding only ``%(name)s`` and :func:`fill_doc` puts the text in
place, indented like that line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable)

#: Parameter name -> its numpydoc entry (type line, then the description indented by 4).
DOCS = {
    "sampling_rate_hz": "sampling_rate_hz : float\n    Samples per second of the recording (Hz).",
}

_PLACEHOLDER = re.compile(r"^(?P<indent>[ \t]*)%\((?P<key>\w+)\)s[ \t]*$", re.MULTILINE)


def fill_doc(func: F) -> F:
    """Replace each ``%(name)s`` line of ``func``'s docstring with ``DOCS[name]``.

    Raises
    ------
    KeyError
        If a placeholder names no entry of :data:`DOCS` (found when the module is imported).
    """
    if func.__doc__:
        func.__doc__ = _PLACEHOLDER.sub(
            lambda m: "\n".join(m["indent"] + line for line in DOCS[m["key"]].split("\n")),
            func.__doc__)
    return func
