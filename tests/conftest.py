"""Shared fixtures: a real IPython shell with the extension, a real kernel, a real loopback chat server."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import openai_server as a plain module

from openai_server import ChatServer  # noqa: E402
from prerequisites import SHARED_TFLM_LIBRARY  # noqa: E402
from trained_models import Trained  # noqa: E402

# Nothing in a test may reach a provider or the price map online.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
for variable in ("TINYML_MODEL", "TINYML_API_BASE", "TINYML_API_KEY", "TINYML_BOARD", "OPENAI_API_KEY"):
    os.environ.pop(variable, None)
# As `make test` does: the shared copy of the TFLite Micro library, unless the machine names its own.
if (SHARED_TFLM_LIBRARY / "library.properties").is_file():
    os.environ.setdefault("TINYML_TFLM_LIBRARY", str(SHARED_TFLM_LIBRARY))


@pytest.fixture
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A real IPython InteractiveShell with jupyter_tinyml loaded, a clean namespace, cwd in tmp_path."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.rl_next_input = None
    ip.run_line_magic("load_ext", "jupyter_tinyml")
    magics = ip.magics_manager.registry["TinyMLMagics"]
    magics.settings.model = ""
    magics.settings.api_base = ""
    magics.settings.board = ""
    magics.settings.mock_response = ""
    magics.failures.last = None
    yield ip
    ip.run_line_magic("unload_ext", "jupyter_tinyml")


@pytest.fixture
def chat_server() -> Iterator[ChatServer]:
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    """One loopback chat server for a whole test file (the browser tests keep theirs across a page's lifetime)."""
    server = ChatServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def digits() -> Trained:
    """The digits CNN (tests/trained_models.py), trained once per test process and shared by every file that needs
    a real trained image classifier. Tests must not change its weights."""
    pytest.importorskip("keras")
    from trained_models import digits_cnn

    return digits_cnn()


@pytest.fixture(scope="session")
def digits_int8(digits: Trained) -> bytes:
    """The digits CNN as a full-integer int8 .tflite (int8 input and output), calibrated on its training split."""
    from jupyter_tinyml.model.convert import convert

    return convert(digits.model, digits.x_train)


@pytest.fixture
def no_tflm_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A person who has not installed the TFLite Micro library: no TINYML_TFLM_LIBRARY, no Arduino folder setting,
    an empty home folder (returned). A test puts a library where it wants one."""
    from jupyter_tinyml.firmware import tflm_library

    monkeypatch.delenv(tflm_library.LIBRARY_ENV, raising=False)
    monkeypatch.delenv(tflm_library.ARDUINO_USER_ENV, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def no_stray_qemu() -> Iterator[None]:
    """Fails the test that leaves a QEMU virtual board running (and stops it)."""
    from jupyter_tinyml.hardware.virtual import qemu

    yield
    left = qemu.running()
    for board in left:
        board.stop()
    assert not left, f"a test left QEMU running: {left}"
