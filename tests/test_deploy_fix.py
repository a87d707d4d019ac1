"""The deploy and fix stages, offline, on real objects: an int8 TFLite model made here, real failing cells."""
from __future__ import annotations

import re

import numpy as np
import pytest


@pytest.fixture(scope="module")
def int8_model() -> bytes:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    samples = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)

    def representative():
        for sample in samples:
            yield [sample[None]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def header_bytes(text: str) -> bytes:
    body = text[text.index("{") + 1 : text.index("};")]
    return bytes(int(value, 16) for value in re.findall(r"0x([0-9a-f]{2})", body))


def test_deploy_writes_the_exact_model_bytes_and_its_ops(shell, int8_model, capsys, tmp_path):
    shell.user_ns["tflite_model"] = int8_model
    shell.run_line_magic("tinyml", "config board=nano33ble")
    capsys.readouterr()
    result = shell.run_cell("%%tinyml_deploy --run\nC header for the Nano\n")
    assert result.success
    header = (tmp_path / "model_data.h").read_text()
    assert "alignas(16)" in header and f"g_model_len = {len(int8_model)};" in header
    assert header_bytes(header) == int8_model
    out = capsys.readouterr().out
    assert "FULLY_CONNECTED" in out and "of the board's flash" in out and "1,048,576" in out
    assert "# tinyml deploy · offline recipe" in shell.rl_next_input


def test_deploy_without_a_model_says_convert_first(shell, capsys):
    shell.run_cell("%%tinyml_deploy\nheader\n")
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
