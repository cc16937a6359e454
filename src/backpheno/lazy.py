"""Package faces: a subpackage's public names, imported from their modules on first use.

Each heavy subpackage (models, explain, imaging) lists its public names once, name -> module,
and gets a curated ``__all__`` plus a module ``__getattr__`` from :func:`lazy_exports`, so
``from backpheno.explain import explain_run_dir`` works like ``from backpheno.biomech import
trunk_task_features`` while ``import backpheno.models.rundir`` does not import xgboost.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]
                 ) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` of ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : dict
        Public name -> module inside the package that defines it (``"train": "train"``).
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(exports)

    return sorted(exports), __getattr__, __dir__
