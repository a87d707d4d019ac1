"""The magics in a real IPython shell: registration, insertion, --run, errors, settings, repair rounds."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

MOCK_MODEL = "openai/gpt-4o-mini"
TWO_CELLS = "Split the data.\n```python\nx = 1\n```\nThen:\n```python\ny = x + 1\n```\n"


def magics_of(shell):
    return shell.magics_manager.registry["TinyMLMagics"]


def use_mock(shell, answer: str) -> None:
    settings = magics_of(shell).settings
    settings.model = MOCK_MODEL
    settings.mock_response = answer


def test_load_ext_registers_every_magic(shell):
    magics = shell.magics_manager.magics
    for name in ("tinyml_prep", "tinyml_train", "tinyml_convert", "tinyml_deploy"):
        assert name in magics["cell"]
    assert {"tinyml", "tinyml_fix"} <= set(magics["line"])


def test_stage_help_comes_from_magic_arguments(shell):
    doc = shell.magics_manager.magics["cell"]["tinyml_prep"].__doc__
    assert "--model" in doc and "--run" in doc and "--no-insert" in doc and "Data preparation" in doc
    assert "  %%tinyml_prep [--model MODEL]" in doc  # a cell magic's usage line shows its own two %
    assert "(%tinyml boards lists them)" in doc and "boards.toml" not in doc


def test_the_first_ask_of_a_model_says_the_client_is_loading_and_how_long_it_took():
    code = "from jupyter_tinyml.magics import load_model_client\nload_model_client()\nload_model_client()"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = output.strip().splitlines()
    assert lines[0] == "[tinyml] loading the model client (litellm), once per session ..."
    assert lines[1].startswith("[tinyml] model client loaded in ") and len(lines) == 2  # the second call is silent


def test_load_ext_imports_neither_litellm_nor_tensorflow_nor_numpy():
    code = textwrap.dedent(
        """
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "jupyter_tinyml")
        print(sorted(m for m in ("litellm", "tensorflow", "keras", "openai", "numpy") if m in sys.modules))
        """
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_prep_inserts_cells_below_unreviewed_and_runs_nothing(shell, capsys):
    use_mock(shell, TWO_CELLS)
    shell.run_cell("%%tinyml_prep\nuse the digits images, 80/20 split\n")
    inserted = shell.rl_next_input
    assert inserted.startswith("# tinyml prep · openai/gpt-4o-mini · UNREVIEWED")
    assert inserted.count("# %%\n") == 2 and "# %% [markdown]\n# Split the data." in inserted
    assert inserted.index("x = 1") < inserted.index("y = x + 1")
    assert "x" not in shell.user_ns and "y" not in shell.user_ns  # nothing generated ran
    out = capsys.readouterr().out
    assert "x = 1" in out  # streamed into the cell output
    assert "in /" in out and "out tokens" in out  # usage line
    # No kernel: a terminal's shell, whose set_next_input fills the next prompt, and the sentence says so.
    assert "waits in your next prompt, unreviewed" in out and "Inserted below" not in out


def test_run_flag_also_executes_the_cells(shell):
    use_mock(shell, TWO_CELLS)
    shell.run_cell("%%tinyml_prep --run\nsplit\n")
    assert shell.user_ns["y"] == 2


def test_no_insert_only_shows(shell, capsys):
    use_mock(shell, TWO_CELLS)
    shell.run_cell("%%tinyml_train --no-insert\nsmall CNN\n")
    assert shell.rl_next_input is None
    assert "# tinyml train" in capsys.readouterr().out


@pytest.mark.parametrize(
    "answer, message",
    [
        ("I am sorry, I cannot help with that request.", "held no Python code"),
        ("```cpp\nint main() { return 0; }\n```", "cpp code, not Python"),
    ],
)
def test_malformed_answer_is_reported_not_inserted(shell, capsys, answer, message):
    use_mock(shell, answer)
    result = shell.run_cell("%%tinyml_prep\nsplit\n")
    assert not result.success
    assert shell.rl_next_input is None
    assert message in capsys.readouterr().err


def test_empty_request_says_what_to_write(shell, capsys):
    shell.run_cell("%%tinyml_prep\n   \n")
    assert "the cell is empty" in capsys.readouterr().err
    assert shell.rl_next_input is None


def test_bad_argument_points_to_help(shell, capsys):
    shell.run_cell("%%tinyml_prep --bogus\nsplit\n")
    err = capsys.readouterr().err
    assert "tinyml" in err and "tinyml_prep?" in err


def test_risky_code_is_flagged_in_the_header(shell):
    use_mock(shell, "```python\nimport subprocess\nsubprocess.run(['ls'])\n```")
    shell.run_cell("%%tinyml_prep\nlist files\n")
    header = [line for line in shell.rl_next_input.splitlines() if line.startswith("# check:")]
    assert header and "subprocess" in header[0]


def test_per_cell_model_overrides_setting(shell):
    use_mock(shell, "```python\nz = 3\n```")
    magics_of(shell).settings.model = ""
    shell.run_cell("%%tinyml_train --model openai/gpt-4o\nmlp\n")
    assert "openai/gpt-4o ·" in shell.rl_next_input
    assert magics_of(shell).settings.model == ""  # the session setting is untouched


def test_config_sets_and_refuses_keys(shell, capsys):
    shell.run_line_magic("tinyml", "config model=ollama/qwen2.5-coder token_budget=1500")
    settings = magics_of(shell).settings
    assert settings.model == "ollama/qwen2.5-coder" and settings.token_budget == 1500
    shell.run_cell("%tinyml config api_key=sk-should-not-be-stored")
    assert "never" not in capsys.readouterr().out
    assert "sk-should-not-be-stored" not in str(settings.describe())
    shell.run_cell("%tinyml config token_budget=lots")
    assert "needs a int" in capsys.readouterr().err
    shell.run_cell("%tinyml config colour=blue")
    assert "Unknown setting 'colour'" in capsys.readouterr().err


def test_config_board_must_be_known(shell, capsys):
    shell.run_cell("%tinyml config board=toaster")
    assert "Unknown board 'toaster'" in capsys.readouterr().err
    shell.run_line_magic("tinyml", "config board=nano33ble")
    assert magics_of(shell).settings.board == "nano33ble"


def test_environment_and_traitlets_config_choose_the_model(monkeypatch):
    from traitlets.config import Config

    from jupyter_tinyml.config import TinyML

    config = Config()
    config.TinyML.model = "anthropic/claude-3-5-haiku-latest"
    assert TinyML(config=config).model == "anthropic/claude-3-5-haiku-latest"
    monkeypatch.setenv("TINYML_MODEL", "ollama/qwen2.5-coder")
    monkeypatch.setenv("TINYML_API_BASE", "http://127.0.0.1:11434")
    settings = TinyML(config=config)
    assert settings.model == "ollama/qwen2.5-coder" and settings.api_base == "http://127.0.0.1:11434"
    assert not settings.offline and TinyML(config=Config()).offline is False


def test_status_and_help(shell, capsys):
    shell.run_line_magic("tinyml", "status")
    out = capsys.readouterr().out
    assert "offline recipes" in out and "loaded:  litellm" in out
    shell.run_line_magic("tinyml", "help")
    assert "%%tinyml_prep" in capsys.readouterr().out
    shell.run_cell("%tinyml frobnicate")
    assert "unknown subcommand" in capsys.readouterr().err


def test_status_names_the_error_not_the_lines_appended_to_it(shell, capsys):
    """An exception whose message ends in extra lines (as Keras appends its call arguments) is reported by its
    own first line, not by whatever the traceback printed last."""
    shell.run_cell("raise ValueError('Input 0 is incompatible with the layer\\n\\nArguments received:\\n  • kwargs=x')")
    capsys.readouterr()
    shell.run_line_magic("tinyml", "status")
    out = capsys.readouterr().out
    assert "last error: ValueError: Input 0 is incompatible with the layer" in out and "kwargs" not in out


def test_fix_sends_the_failing_cell_and_inserts_the_correction(shell, chat_server):
    settings = magics_of(shell).settings
    settings.model, settings.api_base = "openai/test-coder", chat_server.base_url
    shell.user_ns["x_train"] = [1, 2, 3]
    shell.run_cell("total = sum(x_trian)\n")
    chat_server.answer("```python\ntotal = sum(x_train)\n```")
    shell.run_line_magic("tinyml_fix", "")
    sent = chat_server.requests[-1]["messages"][-1]["content"]
    assert "total = sum(x_trian)" in sent and "NameError" in sent
    assert "total = sum(x_train)" in shell.rl_next_input and "# tinyml fix" in shell.rl_next_input


def test_fix_offline_corrects_a_misspelt_name(shell):
    shell.user_ns["x_train"] = [1, 2, 3]
    shell.run_cell("total = sum(x_trian)\n")
    shell.run_line_magic("tinyml_fix", "--run")
    assert "sum(x_train)" in shell.rl_next_input and "offline recipe" in shell.rl_next_input
    assert shell.user_ns["total"] == 6


def test_fix_with_nothing_failed(shell, capsys):
    shell.run_cell("%tinyml_fix")
    assert "no cell has failed" in capsys.readouterr().err


def test_boards_lists_the_catalogue(shell):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        shell.run_line_magic("tinyml", "boards")
    [shown] = captured.outputs
    text, html = shown.data["text/plain"], shown.data["text/html"]
    for name in ("Arduino Nano 33 BLE Sense", "Raspberry Pi Pico", "Wio Terminal", "ESP32-S3"):
        assert name in text and name in html
    assert max(len(line) for line in text.splitlines()) < 100  # a notebook's output wraps longer lines mid-word
    assert "<th>processor</th>" in html and "<td>nRF52840 (Cortex-M4F)</td>" in html


def test_the_review_bars_decisions_reach_the_kernel_and_status_counts_them(shell, capsys):
    magics = shell.magics_manager.registry["TinyMLMagics"]
    magics.handle_lab_request({"op": "accept", "cell_ids": ["a", "b", "c"], "source_cell": "m"})
    magics.handle_lab_request({"op": "discard", "cell_ids": ["c"], "source_cell": "m"})
    magics.handle_lab_request({"op": "ran_unreviewed", "cell_ids": ["d"], "source_cell": "n"})
    shell.run_line_magic("tinyml", "status")
    assert "reviews: 2 accepted, 1 discarded, 1 ran unreviewed" in capsys.readouterr().out


def test_a_stage_runs_from_python_with_a_stage_request():
    """No IPython: the request, a captured namespace and settings are all a stage needs."""
    from jupyter_tinyml.config import TinyML
    from jupyter_tinyml.notebook.context import capture
    from jupyter_tinyml.stages import base
    from jupyter_tinyml.stages.request import StageRequest

    settings = TinyML(model=MOCK_MODEL, mock_response=TWO_CELLS, stream=False)
    request = StageRequest("prep", "split the data", note="keep it short")
    context = capture({"samples": [1, 2, 3]}, request=request.prompt)
    generation = base.run(request, context, settings, known_names={"samples"})
    assert [cell.source for cell in generation.cells if cell.cell_type == "code"] == ["x = 1\n", "y = x + 1\n"]
    assert generation.rounds == 1 and generation.completions[0].model == MOCK_MODEL
    assert request.prompt.endswith("Reviewer's note on the previous answer: keep it short")
    offline = base.run(StageRequest("fix", "Fix this cell:\n```python\nprint(x_trian)\n```"),
                       capture({"x_train": [1]}, last_error="NameError: name 'x_trian' is not defined"), TinyML())
    assert offline.offline and "print(x_train)" in offline.cells[-1].source


def test_regenerate_asks_again_the_way_the_magic_did(shell):
    """Regenerate rebuilds the magic's StageRequest: same stage, words and options, the note added, nothing run."""
    use_mock(shell, TWO_CELLS)
    magics = magics_of(shell)
    magics.failures.running_id = None
    from jupyter_tinyml.stages.request import StageRequest

    first = StageRequest("prep", "split\n", model=MOCK_MODEL, budget=900, run=True, cell_id="magic-1")
    magics.generate(first)
    assert magics.runs["magic-1"] == first and shell.user_ns["y"] == 2
    again = first.again("magic-1", " shorter ")
    assert (again.stage, again.text, again.model, again.budget) == ("prep", "split\n", MOCK_MODEL, 900)
    assert (again.note, again.run, again.insert, again.quiet) == ("shorter", False, True, True)
    del shell.user_ns["y"]
    magics.regenerate("magic-1", note=" shorter ")
    assert magics.runs["magic-1"] == again and "y" not in shell.user_ns


def test_unknown_stage_is_one_clear_line():
    from jupyter_tinyml.config import TinyML
    from jupyter_tinyml.errors import ConfigError
    from jupyter_tinyml.notebook.context import capture
    from jupyter_tinyml.stages import base
    from jupyter_tinyml.stages.request import StageRequest

    with pytest.raises(ConfigError, match="Unknown stage 'quantise'; the stages are prep, train"):
        base.run(StageRequest("quantise", "int8"), capture({}), TinyML())
