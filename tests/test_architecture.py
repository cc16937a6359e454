"""Import direction (docs/architecture.md): a module imports only from lower layers.

Every ``import`` / ``from ... import`` of ``backpheno`` in the source is parsed with :mod:`ast`,
including imports inside functions and ``TYPE_CHECKING`` blocks, so a lazy import cannot hide a
dependency on a higher layer.
"""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

import backpheno

SRC = Path(backpheno.__file__).parent

#: Top-level unit (module or subpackage of backpheno) -> layer; imports go to lower layers only.
LAYERS = {
    # 0-1: plumbing
    "__init__": 0, "errors": 0, "lazy": 0, "docstrings": 0, "io": 1, "progress": 1, "lock": 1,
    "rcsv": 1,
    # 2: shared contracts
    "config": 2, "dataset": 2, "table": 2, "extractors": 2,
    "failures": 2,
    # 3: per-participant feature extraction, one subpackage per modality; running extractors
    "questionnaires": 3, "imaging": 3, "biomech": 3, "cohort": 3,
    # 4: cohort-level tables and models
    "outcomes": 4, "regimes": 4, "models": 4, "synth": 4, "trial_table": 4,
    # 5: whole stages built on the models and tables
    "extract": 5, "explain": 5,
    # 6-7: entry points
    "cli": 6, "__main__": 7,
    # 8: documentation generated from every layer (configuration and CLI references)
    "reference": 8,
}
#: Imports between units of the same layer that are part of the design.
SIDEWAYS = {("extractors", "dataset"), ("rcsv", "io")}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _module_name(path: Path, src: Path) -> str:
    return ".".join(("backpheno", *path.relative_to(src).with_suffix("").parts)).removesuffix(
        ".__init__")


def _relative_base(module: str, path: Path, level: int) -> str:
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    return ".".join(package[: len(package) - level + 1])


@functools.cache
def imports(src: Path = SRC) -> list[tuple[str, str, int]]:
    """(importing module, imported backpheno module, line) for every import under ``src``."""
    found = []
    for path in sorted(src.rglob("*.py")):
        module = _module_name(path, src)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(p for p in (_relative_base(module, path, node.level), base)
                                    if p)
                targets = [base]
            found += [(module, t, node.lineno) for t in targets
                      if t == "backpheno" or t.startswith("backpheno.")]
    return found


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module_name(p, SRC)) for p in SRC.rglob("*.py")}
    assert units <= set(LAYERS), f"add {sorted(units - set(LAYERS))} to LAYERS"


def test_imports_point_to_lower_layers() -> None:
    upward = []
    for module, target, line in imports():
        source, dest = _unit(module), _unit(target)
        if source == dest or (source, dest) in SIDEWAYS:
            continue
        if LAYERS[dest] >= LAYERS[source]:
            upward.append(f"{module}:{line} imports {target} (layer {LAYERS[source]} -> "
                          f"{LAYERS[dest]})")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize(("low", "high"), [
    ("config", "models"), ("config", "synth"), ("config", "explain"), ("config", "imaging"),
    ("table", "models"), ("io", "models"), ("dataset", "imaging"),
    ("imaging", "models"), ("questionnaires", "models"), ("biomech", "models"),
    ("models", "explain"), ("models", "cli"),
])
def test_named_pairs_never_import_upward(low, high) -> None:
    """The pairs the architecture note names, checked even if LAYERS were edited."""
    assert not [(m, t, n) for m, t, n in imports()
                if _unit(m) == low and _unit(t) == high]


def test_the_checker_sees_lazy_and_relative_imports(tmp_path) -> None:
    package = tmp_path / "backpheno"
    (package / "imaging").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "imaging" / "__init__.py").write_text("from . import brain\n")
    (package / "imaging" / "brain.py").write_text(
        "def f():\n    from backpheno.models.train import train\n    from ..models import cv\n")
    found = {(m, t) for m, t, _ in imports(package)}
    assert ("backpheno.imaging.brain", "backpheno.models.train") in found
    assert ("backpheno.imaging.brain", "backpheno.models") in found
    assert ("backpheno.imaging", "backpheno.imaging") in found


SUBPACKAGES = sorted(".".join(("backpheno", *p.parent.relative_to(SRC).parts))
                     for p in SRC.rglob("__init__.py") if p.parent != SRC)


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_every_subpackage_exports_a_curated_all(package) -> None:
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} has no __all__"
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(module, name) is not None, f"{package}.{name}"
