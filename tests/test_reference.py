"""Generated reference pages: every key of every configuration model, every command option."""

from __future__ import annotations

import re

from backpheno.reference import cli_reference, config_models, config_reference, model_rows


def _sections(page: str) -> dict[str, list[list[str]]]:
    """Qualified model name -> table rows (cells) of the configuration reference."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in page.splitlines():
        qualified = re.fullmatch(r"`(backpheno\.[\w.]+)`", line)
        if qualified:
            current = qualified.group(1)
            sections[current] = []
        elif current and line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            cells = [c.strip("`") for c in cells[:3]] + cells[3:]
            sections[current].append([c.replace("\\|", "|") for c in cells])
    return sections


def test_every_key_of_every_config_model_is_listed_with_type_default_and_meaning():
    models = config_models()
    names = {m.__name__ for m in models}
    assert {"TrainConfig", "ExplainConfig", "ExtractConfig", "SimulateConfig",
            "RegimeExportSettings", "QuestionnaireSettings", "BrainSettings"} <= names
    sections = _sections(config_reference())
    assert set(sections) == {f"{m.__module__}.{m.__qualname__}" for m in models}
    for model in models:
        rows = sections[f"{model.__module__}.{model.__qualname__}"]
        expected = model_rows(model)
        assert [r[0] for r in rows] == [e["key"] for e in expected] == list(model.model_fields)
        for row, want in zip(rows, expected, strict=True):
            assert row[1] == re.sub(r"\s+", " ", want["type"]), (model.__name__, row)
            assert row[2] == re.sub(r"\s+", " ", want["default"]), (model.__name__, row)
            meaning = re.sub(r"\s+", " ", want["description"]).replace("<", "&lt;")
            assert row[3] == meaning.replace(">", "&gt;"), (model.__name__, row)


def test_types_and_defaults_are_readable():
    from backpheno.explain.run import ExplainConfig

    rows = {r["key"]: r for r in model_rows(ExplainConfig)}
    assert rows["background_strata"]["type"] == "str | None"
    assert rows["background_strata"]["default"] == "'site'"
    assert rows["contrasts"]["type"] == "list['pair' | 'one_vs_rest']"
    assert rows["stability"]["type"] == "StabilitySettings"
    assert rows["signal_p_level"]["default"] == "0.05"


def test_every_command_and_option_is_in_the_cli_reference():
    import typer

    from backpheno.cli import app

    page = cli_reference()
    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="backpheno")
    for name in group.list_commands(context):
        assert f"## `backpheno {name}`" in page
        for param in group.get_command(context, name).params:
            label = param.name.upper() if param.param_type_name == "argument" else param.opts[0]
            assert f"| `{label}" in page, (name, label)
    assert "--allow-failures" in page and "reversed_1_7" in page


def test_every_explain_key_has_a_meaning():
    from backpheno.explain import run

    for model in (run.ExplainConfig, run.StabilitySettings, run.PermutationSettings,
                  run.FormalSettings, run.FigureSettings, run.Hypothesis, run.RelatedOutcome):
        assert all(r["description"] for r in model_rows(model)), model.__name__
