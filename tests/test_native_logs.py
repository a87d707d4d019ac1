"""TensorFlow's native log lines stay out of the notebook (issue 13): the switches and the held descriptors."""
from __future__ import annotations

import ctypes
import logging
import os
import subprocess
import sys

from jupyter_tinyml.native_logs import QUIET_ENVIRONMENT, native_output_kept


def test_native_writes_to_both_descriptors_are_kept_and_the_descriptors_come_back(capfd) -> None:
    libc = ctypes.CDLL(None)
    with native_output_kept() as kept:
        libc.printf(b"fully_quantize: 0 (buffered C stdio)\n")
        os.write(2, b"W0000 00:00:1 flatbuffer_export.cc:3851] Skipping runtime version metadata\n")
        print("Saved artifact at /tmp/x")  # Python-level, Keras 3's line
        logging.getLogger("tensorflow").info("Assets written to: /tmp/x/assets")
    os.write(1, b"after\n")
    out, err = capfd.readouterr()
    assert "fully_quantize" in kept.text and "W0000" in kept.text
    assert out == "after\n" and err == ""
    assert logging.getLogger("tensorflow").level == logging.NOTSET  # the logger's level is put back


def test_the_switches_are_set_before_tensorflow_loads_and_a_persons_own_value_is_kept() -> None:
    code = (
        "import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'\n"
        "from jupyter_tinyml.native_logs import quiet_tensorflow; quiet_tensorflow()\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['GRPC_VERBOSITY'])"
    )
    env = {key: value for key, value in os.environ.items() if key not in QUIET_ENVIRONMENT}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split() == ["0", "ERROR"]


def test_importing_tensorflow_after_the_switches_prints_no_native_line() -> None:
    code = "from jupyter_tinyml.native_logs import quiet_tensorflow; quiet_tensorflow()\nimport tensorflow as tf\ntf.constant(1)"
    env = {key: value for key, value in os.environ.items() if key not in QUIET_ENVIRONMENT}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "cpu_feature_guard" not in result.stderr and "I0000" not in result.stderr, result.stderr
