"""`--run` never executes generated code the checks flag as risky: it says so in one line and runs nothing; the
person reads the inserted cells and runs them by hand. Needs the magics.py change that calls
`checks.run_refusal` at the top of `TinyMLMagics.execute`."""
from __future__ import annotations

RISKY_ANSWER = (
    "First a harmless cell:\n```python\nfirst = 1\n```\n"
    "Then:\n```python\nevaluate = eval\nran = evaluate('1 + 1')\n```\n"
)
SAFE_ANSWER = "```python\nfirst = 1\n```\n```python\nran = first + 1\n```\n"


def magics_of(shell):
    return shell.magics_manager.registry["TinyMLMagics"]


def use_mock(shell, answer: str) -> None:
    settings = magics_of(shell).settings
    settings.model = "openai/gpt-4o-mini"
    settings.mock_response = answer


def test_run_refuses_code_the_checks_flag_and_runs_none_of_it(shell, capsys):
    use_mock(shell, RISKY_ANSWER)
    shell.run_cell("%%tinyml_prep --run\nsplit the data\n")
    assert "first" not in shell.user_ns and "ran" not in shell.user_ns  # not even the harmless cell before it
    assert "evaluate = eval" in shell.rl_next_input  # inserted for the person to read
    refusals = [line for line in capsys.readouterr().out.splitlines() if "--run refused" in line]
    assert len(refusals) == 1
    assert "runs code built at run time (eval)" in refusals[0] and "run them yourself" in refusals[0]


def test_run_refuses_a_shell_escape_reached_through_get_ipython(shell, capsys, tmp_path):
    use_mock(shell, "```python\nip = get_ipython()\nip.system('touch ran.txt')\n```\n")
    shell.run_cell("%%tinyml_train --run\nsmall model\n")
    assert not (tmp_path / "ran.txt").exists()
    assert "--run refused" in capsys.readouterr().out


def test_run_still_executes_code_with_no_risk(shell, capsys):
    use_mock(shell, SAFE_ANSWER)
    shell.run_cell("%%tinyml_prep --run\nsplit the data\n")
    assert shell.user_ns["ran"] == 2
    assert "--run refused" not in capsys.readouterr().out
