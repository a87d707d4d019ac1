"""Finding the TFLite Micro Arduino library where a person's tools put it, and reading what it computes right."""
from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_tinyml.errors import LibraryNotFoundError, ToolNotFoundError
from jupyter_tinyml.firmware import tflm_library
from jupyter_tinyml.firmware.tflm_library import LIBRARY_ENV, find_library
from prerequisites import SHARED_TFLM_LIBRARY as SHARED
from prerequisites import unavailable



def fake_library(folder: Path, *, version: str = "2.0.0", per_channel: bool = False) -> Path:
    """A folder laid out as the Arduino library is (library.properties, src/...), with or without the per-channel
    FULLY_CONNECTED field."""
    header = folder / tflm_library.FULLY_CONNECTED_HEADER
    header.parent.mkdir(parents=True)
    header.write_text("struct OpDataFullyConnected {\n" + ("  bool is_per_channel;\n" if per_channel else "") + "};\n")
    (folder / "library.properties").write_text(f"name=Chirale_TensorFLowLite\nversion={version}\n# a comment\n")
    return folder




@pytest.fixture
def home(no_tflm_library: Path) -> Path:
    """The empty home folder of a person without the library (conftest.py): nothing is found unless a test puts it
    there."""
    return no_tflm_library

def test_found_in_the_arduino_libraries_folder_under_its_install_name(home: Path) -> None:
    fake_library(home / "Arduino" / "libraries" / "Chirale_TensorFLowLite")
    found = find_library()
    assert found.root == (home / "Arduino" / "libraries" / "Chirale_TensorFLowLite").resolve()
    assert (found.name, found.version) == ("Chirale_TensorFLowLite", "2.0.0")
    assert found.source_dir == found.root / "src"


def test_arduino_cli_user_directory_and_platformio_libdeps(home: Path, tmp_path: Path) -> None:
    (home / ".arduino15").mkdir()
    (home / ".arduino15" / "arduino-cli.yaml").write_text(f"directories:\n  user: '{tmp_path / 'sketchbook'}'\n")
    fake_library(tmp_path / "sketchbook" / "libraries" / "TFLM")
    assert find_library().root == (tmp_path / "sketchbook" / "libraries" / "TFLM").resolve()

    project = tmp_path / "firmware"
    fake_library(project / ".pio" / "libdeps" / "nano33ble" / "Chirale_TensorFLowLite", version="2.1.0")
    assert find_library(project).version == "2.1.0"  # the project's own copy comes first


def test_another_library_of_the_same_layout_is_not_taken(home: Path) -> None:
    other = home / "Arduino" / "libraries" / "Arduino_TensorFlowLite"
    fake_library(other)
    (other / "library.properties").write_text("name=Arduino_TensorFlowLite\nversion=1.0\n")
    with pytest.raises(LibraryNotFoundError) as error:
        find_library()
    assert isinstance(error.value, ToolNotFoundError)
    message = str(error.value)
    assert "arduino-cli lib install Chirale_TensorFLowLite" in message and LIBRARY_ENV in message
    assert str(home / "Arduino" / "libraries") in message


def test_a_setting_that_names_no_library_is_an_error_not_a_fallback(home: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake_library(home / "Arduino" / "libraries" / "Chirale_TensorFLowLite")
    monkeypatch.setenv(LIBRARY_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(LibraryNotFoundError, match="nowhere"):
        find_library()


def test_per_channel_fully_connected_is_read_from_the_kernel_source(home: Path, tmp_path: Path) -> None:
    assert not tflm_library.library_at(fake_library(tmp_path / "old")).per_channel_fully_connected
    assert tflm_library.library_at(fake_library(tmp_path / "new", per_channel=True)).per_channel_fully_connected


def test_the_shared_copy_is_found_through_the_setting_and_lacks_per_channel_dense(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not SHARED.is_dir():
        unavailable(f"no TFLite Micro Arduino library at {SHARED}")
    monkeypatch.setenv(LIBRARY_ENV, str(SHARED))
    found = find_library()
    assert found.version == "2.0.0" and (found.source_dir / "Chirale_TensorFlowLite.h").is_file()
    assert not found.per_channel_fully_connected  # the fact issue 10 reports, read from its source


def test_a_missing_prerequisite_skips_here_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one rule every hardware, library and browser test follows when the machine lacks something."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no such tool"):
        unavailable("no such tool")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true and no such tool"):
        unavailable("no such tool")
