"""Settings and magic options are checked when they are set: a bad value is one line and the old value stays."""
from __future__ import annotations

import math

import pytest
from traitlets import TraitError

from jupyter_tinyml.config import RANGES, TinyML


def magics_of(shell):
    return shell.magics_manager.registry["TinyMLMagics"]


def error_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "name, value",
    [
        ("timeout", "-1"),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("temperature", "inf"),
        ("temperature", "-0.5"),
        ("token_budget", "0"),
        ("token_budget", "-5"),
        ("token_budget", "1" + "0" * 30),
        ("max_repairs", "-1"),
        ("max_tokens", "0"),
        ("recent_cells", "-3"),
    ],
)
def test_config_refuses_a_value_out_of_range_in_one_line_and_keeps_the_old_one(shell, capsys, name, value):
    settings = magics_of(shell).settings
    before = getattr(settings, name)
    result = shell.run_cell(f"%tinyml config {name}={value}")
    lines = error_lines(capsys)
    assert not result.success and len(lines) == 1, lines
    assert f"{name} must be a number from" in lines[0] and f"it stays {before}" in lines[0]
    assert getattr(settings, name) == before
    assert magics_of(shell).failures.last is None  # not a failing cell for %tinyml_fix


def test_setting_from_code_is_checked_too():
    settings = TinyML()
    with pytest.raises(TraitError, match="timeout must be a number from 1 to 3,600, got nan; it stays 60.0"):
        settings.timeout = math.nan
    assert settings.timeout == 60.0
    with pytest.raises(TraitError):
        TinyML(max_repairs=-1)


def test_each_range_holds_its_default_and_both_its_ends_are_taken(shell, capsys):
    settings = magics_of(shell).settings
    for name, (low, high) in RANGES.items():
        assert low <= getattr(settings, name) <= high and math.isfinite(high)
        for end in (low, high):
            shell.run_cell(f"%tinyml config {name}={int(end) if float(end).is_integer() else end}")
            assert getattr(settings, name) == end, name
    assert not error_lines(capsys)


@pytest.mark.parametrize("budget", ["-5", "0", "1" + "0" * 30, "lots"])
def test_budget_option_out_of_range_is_one_line_and_nothing_is_inserted(shell, capsys, budget):
    result = shell.run_cell(f"%%tinyml_prep --budget {budget}\nsplit x and y 80/20\n")
    lines = error_lines(capsys)
    assert not result.success and len(lines) == 1, lines
    assert "--budget" in lines[0] and "Traceback" not in lines[0]
    assert shell.rl_next_input is None
    magics = magics_of(shell)
    assert magics.parse(magics.tinyml_prep, "--budget 500").budget == 500


@pytest.mark.parametrize(
    "cell",
    [
        '%%tinyml_prep --model "openai/x\nsplit\n',
        "%tinyml config model='openai/x",
        '%tinyml_fix --model "m make it work',
    ],
)
def test_an_unbalanced_quote_is_one_line_and_not_a_failure_to_fix(shell, capsys, cell):
    result = shell.run_cell(cell)
    lines = error_lines(capsys)
    assert not result.success and len(lines) == 1, lines
    assert "no closing quotation" in lines[0] and "close the quote" in lines[0]
    assert magics_of(shell).failures.last is None
    assert shell.rl_next_input is None
    magics = magics_of(shell)  # a lone apostrophe inside a word is not a quote
    assert magics.parse(magics.tinyml_fix, "--no-insert don't divide").note == ["don't", "divide"]
