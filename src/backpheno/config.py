"""The shared base of every configuration: :class:`StrictModel`, path types, YAML loading.

Each configuration model lives with what it configures (``TrainConfig`` in
:mod:`backpheno.models.config`, ``SimulateConfig`` in :mod:`backpheno.synth.config`,
``ExtractConfig`` in :mod:`backpheno.extract`, ``BrainSettings`` in
:mod:`backpheno.imaging.settings`, ...). Naming: a model that is the root of a command's YAML file
is a ``*Config``; a section of one is a ``*Settings`` (a command may also accept a section alone,
e.g. ``backpheno brain-run --config`` takes ``BrainSettings``).

All models forbid unknown keys and check types, value ranges and paths when they are loaded, so a
bad configuration fails before any work starts. :func:`load_config` turns pydantic's errors into
one :class:`~backpheno.errors.ConfigError` that lists every offending key path, for example::

    configs/demo_simulate.yaml: invalid configuration
      - participants: Input should be greater than or equal to 8 (got 3)
      - brain.resolution_mm: Extra inputs are not permitted

Relative paths in a YAML file are resolved against the folder of that file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    ValidationError,
    ValidationInfo,
)

from backpheno.errors import ConfigError

T = TypeVar("T", bound=BaseModel)

def _resolve(value: Path, info: ValidationInfo) -> Path:
    """An absolute, normalised path; a relative one is taken from the config file's folder."""
    base = (info.context or {}).get("base_dir")
    value = Path(value).expanduser()
    if base is not None and not value.is_absolute():
        value = Path(base) / value
    return Path(os.path.abspath(value))


def _resolve_existing(value: Path, info: ValidationInfo) -> Path:
    value = _resolve(value, info)
    if (info.context or {}).get("check_paths", True) and not value.exists():
        raise ValueError(f"path does not exist: {value}")
    return value


#: A path that must exist when the configuration is loaded.
InputPath = Annotated[Path, AfterValidator(_resolve_existing)]
#: A path that will be written (resolved, not required to exist).
OutputPath = Annotated[Path, AfterValidator(_resolve)]


class StrictModel(BaseModel):
    """Base model: unknown keys are errors, defaults are validated, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True)




def load_config(path: str | Path | None, model: type[T],
                overrides: dict[str, Any] | None = None, *, check_paths: bool = True) -> T:
    """Load and validate a YAML configuration file, with overrides on top.

    This is the one way a configuration is built from a file and command-line options.

    Parameters
    ----------
    path : str or Path, optional
        The YAML file. Relative paths inside it are resolved against its folder. ``None``: the
        model's defaults plus ``overrides`` (relative paths taken from the working directory).
    model : type
        The pydantic model to validate against.
    overrides : dict, optional
        Dotted keys (``"brain.n_volumes"``) and values applied on top of the file, typically from
        command-line options; ``None`` values are ignored.
    check_paths : bool
        Require input paths to exist (false when re-reading a recorded configuration).

    Raises
    ------
    ConfigError
        If the file is missing, is not YAML, or fails validation; the message lists every key.
    """
    data: dict[str, Any] = {} if path is None else _read_yaml(Path(path))
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    if path is None:
        return validate_config(data, model, source="command line", base_dir=Path.cwd(),
                               check_paths=check_paths)
    return validate_config(data, model, source=str(path), base_dir=Path(path).parent,
                           check_paths=check_paths)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {err.object[err.start]:#04x} "
                          f"at offset {err.start}); save the file as UTF-8") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of keys, got {type(data).__name__}")
    return data


def validate_config(data: dict[str, Any], model: type[T], source: str = "<config>",
                    base_dir: Path | None = None, check_paths: bool = True) -> T:
    """Validate a mapping against ``model``, raising :class:`ConfigError` with key paths."""
    try:
        return model.model_validate(data, context={"base_dir": base_dir,
                                                   "check_paths": check_paths})
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, source)) from None


def _format_validation_error(err: ValidationError, source: str) -> str:
    """One line per problem: ``<dotted.key.path>: <message> (got <value>)``."""
    lines = [f"{source}: invalid configuration"]
    for problem in err.errors():
        loc = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        message = problem["msg"].removeprefix("Value error, ")
        got = problem.get("input")
        hide = problem["type"] == "missing" or isinstance(got, dict)
        shown = "" if hide else f" (got {got!r})"
        lines.append(f"  - {loc}: {message}{shown}")
    return "\n".join(lines)


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"cannot override {key}: {part} is not a mapping")
    node[last] = value
