"""The deploy and fix stages, offline, on real objects: an int8 TFLite model made here, real failing cells."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    import keras

    from jupyter_tinyml import convert

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    return convert(model, np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32))


def test_deploy_writes_the_firmware_project_and_shows_the_panel(shell, int8_model, capsys, tmp_path):
    shell.user_ns.update(tflite_model=int8_model, class_names=["a", "b", "c"],
                         x_test=np.random.default_rng(1).normal(size=(8, 4)).astype(np.float32))
    shell.run_line_magic("tinyml", "config board=nano33ble")
    capsys.readouterr()
    result = shell.run_cell("%%tinyml_deploy --run\nserial-driven default\n")
    assert result.success
    sketch = tmp_path / "firmware" / "tinyml_model"
    settings = (sketch / "model_settings.h").read_text()
    assert '"a"' in settings and (tmp_path / "firmware" / "platformio.ini").exists()
    assert "FullyConnected" in (sketch / "op_resolver.h").read_text()
    assert type(shell.user_ns["project"]).__name__ == "Project"
    assert "# tinyml deploy · offline recipe" in shell.rl_next_input
    assert "deploy_panel = DeployPanel(project, tflite_model, samples=x_test)" in shell.rl_next_input


def test_deploy_needs_a_board(shell, int8_model, capsys):
    shell.user_ns["tflite_model"] = int8_model
    shell.run_cell("%%tinyml_deploy\nflash it\n")
    assert "needs a board" in capsys.readouterr().err and shell.rl_next_input is None


def test_deploy_without_a_model_says_convert_first(shell, capsys):
    shell.run_cell("%%tinyml_deploy --board nano33ble\nheader\n")
    assert "convert one first" in capsys.readouterr().err and shell.rl_next_input is None


def test_fix_offline_installs_a_missing_module(shell):
    shell.run_cell("import not_a_module_for_tinyml_tests\n")
    shell.run_line_magic("tinyml_fix", "")
    assert "%pip install not_a_module_for_tinyml_tests" in shell.rl_next_input


def test_fix_offline_says_when_it_cannot_help(shell, capsys):
    shell.run_cell("1 / 0\n")
    shell.run_cell("%tinyml_fix")
    err = capsys.readouterr().err
    assert "ZeroDivisionError" in err and "configure a model" in err and shell.rl_next_input is None


def test_glue_repair_runs_through_the_stage_loop_bounded_by_max_repairs(int8_model, tmp_path):
    """A sketch whose build keeps failing: max_repairs rounds, each a completion with its usage line, then it stops;
    every round writes the project again with write_project(app=...), never edits the .ino."""
    from jupyter_tinyml import write_project
    from jupyter_tinyml.config import TinyML
    from jupyter_tinyml.hardware.results import BuildResult
    from jupyter_tinyml.stages.glue import repair_glue

    project = write_project(int8_model, board="nano33ble", out_dir=tmp_path / "fw",
                            app={"app-loop": "int reading = undefined_sensor_read();"})

    def build(ok: bool) -> BuildResult:
        output = "" if ok else f"{project.sketch}:40:5: error: 'undefined_sensor_read' was not declared in this scope"
        return BuildResult(ok=ok, tool="arduino-cli", board="nano33ble", command=["arduino-cli", "compile"],
                           output=output, returncode=0 if ok else 1, project_dir=project.root,
                           output_dir=tmp_path / "build")

    rebuilds: list[BuildResult] = []

    def rebuild() -> BuildResult:
        rebuilds.append(build(False))
        return rebuilds[-1]

    settings = TinyML(model="openai/gpt-4o-mini", stream=False, max_repairs=2,
                      mock_response="```python\napp = {'app-loop': 'int reading = analogRead(A0);'}\n```")
    outcome = repair_glue(project, build(False), rebuild, settings, tflite=int8_model)
    assert outcome.rounds == len(rebuilds) == len(outcome.completions) == 2 and not outcome.ok
    assert outcome.build is rebuilds[-1] and outcome.changed
    assert all("out tokens" in completion.usage_line() for completion in outcome.completions)
    assert "analogRead(A0)" in project.sketch.read_text()
    assert outcome.app == {"app-loop": "int reading = analogRead(A0);"}
    assert repair_glue(project, build(True), rebuild, settings, tflite=int8_model).rounds == 0 and len(rebuilds) == 2


def test_glue_repair_refuses_an_answer_that_deletes_the_application(int8_model, tmp_path):
    from jupyter_tinyml import write_project
    from jupyter_tinyml.config import TinyML
    from jupyter_tinyml.hardware.results import BuildResult
    from jupyter_tinyml.stages.glue import repair_glue

    project = write_project(int8_model, board="nano33ble", out_dir=tmp_path / "fw",
                            app={"app-loop": "int reading = undefined_sensor_read();"})
    before = project.sketch.read_text()
    failed = BuildResult(ok=False, tool="arduino-cli", board="nano33ble", command=["arduino-cli"],
                         output=f"{project.sketch}:40:5: error: 'undefined_sensor_read' was not declared",
                         returncode=1, project_dir=project.root, output_dir=tmp_path / "build")
    settings = TinyML(model="openai/gpt-4o-mini", stream=False, max_repairs=2, mock_response="```python\napp = {}\n```")
    outcome = repair_glue(project, failed, lambda: failed, settings, tflite=int8_model)
    assert outcome.rounds == 2 and not outcome.changed and project.sketch.read_text() == before
    assert any(problem.kind == "glue-deleted" and problem.blocking for problem in outcome.problems)
