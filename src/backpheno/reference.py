"""Reference pages generated from the code: configuration models and command-line commands.

The documentation site (``make docs``) writes these pages at build time, so they cannot drift
from the code: :func:`config_reference` lists every key of every configuration model (the
pydantic models found by walking the package, wherever they live) with its type, default and
description; :func:`cli_reference` lists every command of ``backpheno`` with its arguments and
options.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

import backpheno

#: Modules not imported while looking for configuration models (entry points, not libraries).
SKIP_MODULES = ("backpheno.__main__",)


def config_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in the backpheno package, sorted by qualified name."""
    found: dict[str, type[BaseModel]] = {}
    for module in _modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if (issubclass(value, BaseModel) and value.__module__ == module.__name__
                    and value.model_fields):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


def model_rows(model: type[BaseModel]) -> list[dict[str, str]]:
    """One row per field of ``model``: key, type, default, description."""
    rows = []
    for name, info in model.model_fields.items():
        if info.default is not PydanticUndefined:
            default = _literal(info.default)
        elif info.default_factory is not None:
            default = _literal(info.default_factory())
        else:
            default = "required"
        rows.append({"key": info.alias or name, "type": type_name(info.annotation),
                     "default": default,
                     "description": info.description or _section_doc(info.annotation)})
    return rows


def config_reference() -> str:
    """Markdown page: one section per configuration model, one table row per key."""
    parts = ["# Configuration reference", "",
             "Generated from the pydantic models at documentation build time "
             "(`backpheno.reference.config_reference`). Every configuration file is validated "
             "against these models before any work starts; unknown keys are errors. A key whose "
             "type is another model takes a mapping with that model's keys.", ""]
    for model in config_models():
        parts += [f"## `{model.__name__}`", "",
                  f"`{model.__module__}.{model.__qualname__}`", ""]
        doc = inspect.getdoc(model) or ""
        if doc and not doc.startswith(("Usage docs:", "A base class")):
            parts += [_text(doc.split("\n\n")[0], False).replace("\n", " "), ""]
        parts += ["| key | type | default | meaning |", "|---|---|---|---|"]
        for row in model_rows(model):
            parts.append("| " + " | ".join(
                f"`{_cell(row[c])}`" if c in ("key", "type", "default") else _text(row[c])
                for c in ("key", "type", "default", "description")) + " |")
        parts.append("")
    return "\n".join(parts)


def cli_reference() -> str:
    """Markdown page: every ``backpheno`` command with its help, arguments and options."""
    import typer

    from backpheno.cli import app

    group = typer.main.get_command(app)
    parts = ["# Command-line reference", "",
             "Generated from the commands at documentation build time "
             "(`backpheno.reference.cli_reference`); `backpheno COMMAND --help` prints the same.",
             ""]
    context = group.context_class(group, info_name="backpheno")
    for name in sorted(group.list_commands(context)):
        command = group.get_command(context, name)
        parts += [f"## `backpheno {name}`", "", _text(_help_text(command.help), False), "",
                  "| argument / option | type | default | meaning |", "|---|---|---|---|"]
        for param in command.params:
            if param.name == "help":
                continue
            argument = param.param_type_name == "argument"
            label = param.name.upper() if argument else ", ".join(
                [*param.opts, *getattr(param, "secondary_opts", [])])
            default = ("required" if param.required else
                       "" if param.default is None else _literal(param.default))
            kind = "flag" if getattr(param, "is_flag", False) else _param_type(param, context)
            parts.append(f"| `{_cell(label)}` | {_cell(kind)} | "
                         f"{'`' + _cell(default) + '`' if default else ''} | "
                         f"{_text(getattr(param, 'help', '') or '')} |")
        parts.append("")
    return "\n".join(parts)


def type_name(annotation: Any) -> str:
    """Readable type of a field annotation (``list[str] | None``, ``Literal['a', 'b']``)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        inner = ", ".join(type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]" if args else \
            getattr(origin, "__name__", str(origin))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _section_doc(annotation: Any) -> str:
    """For a key whose value is another model: that model's one-line summary."""
    inner = [a for a in (annotation, *typing.get_args(annotation))
             if inspect.isclass(a) and issubclass(a, BaseModel)]
    if not inner:
        return ""
    summary = (inspect.getdoc(inner[0]) or "").split("\n\n")[0].replace("\n", " ")
    return f"{summary} (keys of `{inner[0].__name__}`)" if summary else \
        f"keys of `{inner[0].__name__}`"


def _modules() -> Iterator[types.ModuleType]:
    yield backpheno
    for info in pkgutil.walk_packages(backpheno.__path__, prefix="backpheno."):
        if info.name not in SKIP_MODULES:
            yield importlib.import_module(info.name)


def _literal(value: Any) -> str:
    if isinstance(value, BaseModel):
        return "{...}" if value.model_fields else "{}"
    if isinstance(value, str):
        return repr(value)
    return str(value.value if hasattr(value, "value") and not isinstance(value, int | float)
               else value)


def _cell(text: Any) -> str:
    return re.sub(r"\s+", " ", str(text)).replace("|", "\\|").strip()


def _text(text: str, cell: bool = True) -> str:
    """Prose for Markdown: angle brackets escaped (``P1_<arm>`` is not an HTML tag)."""
    text = str(text).replace("<", "&lt;").replace(">", "&gt;")
    return _cell(text) if cell else text


def _help_text(text: str | None) -> str:
    return (text or "").split("\f")[0].strip()


def _param_type(param: Any, context: Any) -> str:
    """The type a command-line parameter takes (``path``, ``int``, ...)."""
    display = getattr(param, "display_type", None)
    text = display(context) if callable(display) else getattr(param.type, "name", "")
    return str(text).strip("<>")
