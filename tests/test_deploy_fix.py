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
