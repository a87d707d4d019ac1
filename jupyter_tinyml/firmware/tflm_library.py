"""The TFLite Micro Arduino library a person installs (Chirale_TensorFLowLite), found where their tools put it.

The generated project is built against this library, not against anything shipped here. It is looked for, in order:
`TINYML_TFLM_LIBRARY` (a folder holding library.properties), a PlatformIO project's `.pio/libdeps/<env>/`, the
Arduino user libraries folder (arduino-cli's `directories.user`, `ARDUINO_DIRECTORIES_USER`, or the default
~/Arduino or ~/Documents/Arduino) and PlatformIO's global library storage (~/.platformio/lib).

What the found library gets right is read from its sources, not from a version table, so a newer release that
fixes something is recognised without a change here.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import LibraryNotFoundError

LIBRARY_ENV = "TINYML_TFLM_LIBRARY"
ARDUINO_USER_ENV = "ARDUINO_DIRECTORIES_USER"
# TFLite Micro's FULLY_CONNECTED learned per-channel weight scales with this field of its op data; a library
# whose kernel header lacks it applies the first channel's multiplier to every channel.
PER_CHANNEL_FULLY_CONNECTED_MARK = "is_per_channel"
FULLY_CONNECTED_HEADER = Path("src", "tensorflow", "lite", "micro", "kernels", "fully_connected.h")


@lru_cache(maxsize=1)
def library_settings() -> dict[str, str]:
    """firmware/build.toml's [library]: the name the Arduino Library Manager knows, its header, its URL."""
    text = resources.files(__package__).joinpath("build.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["library"]


def install_hint() -> str:
    """How a person installs the library with the tools they have."""
    name = library_settings()["name"]
    return (f"install it with `arduino-cli lib install {name}` (or the Arduino IDE's Library Manager), build a "
            f"PlatformIO project that names it in lib_deps, or point {LIBRARY_ENV} at its folder")


def read_properties(path: Path) -> dict[str, str]:
    """An Arduino library.properties file as a dict (key=value lines; comments and blanks skipped)."""
    properties = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#"):
            properties[key.strip()] = value.strip()
    return properties


@dataclass(frozen=True)
class TFLMLibrary:
    """A TFLite Micro Arduino library on disk: its folder, name and version, and what its kernels compute right."""

    root: Path
    name: str
    version: str

    @property
    def source_dir(self) -> Path:
        """The folder that goes on the include path (Arduino's 1.5 library layout keeps everything in src/)."""
        return self.root / "src"

    @property
    def per_channel_fully_connected(self) -> bool:
        """Whether its FULLY_CONNECTED applies a scale per output channel (TensorFlow 2.16+ quantizes Dense weights
        per channel by default); without it, such a model runs with the wrong arithmetic on the board."""
        header = self.root / FULLY_CONNECTED_HEADER
        return header.is_file() and PER_CHANNEL_FULLY_CONNECTED_MARK in header.read_text(encoding="utf-8",
                                                                                          errors="replace")

    def __str__(self) -> str:
        return f"{self.name} {self.version} in {self.root}"


def library_at(folder: Path) -> TFLMLibrary | None:
    """The library in `folder` when it is the TFLite Micro Arduino library (its library.properties names it)."""
    properties_file = folder / "library.properties"
    if not properties_file.is_file():
        return None
    properties = read_properties(properties_file)
    if properties.get("name", "").lower() != library_settings()["name"].lower():
        return None
    return TFLMLibrary(root=folder.resolve(), name=properties["name"], version=properties.get("version", "unknown"))


def arduino_user_folders(home: Path) -> list[Path]:
    """Where arduino-cli and the Arduino IDE keep a person's libraries, most specific first."""
    folders = []
    if os.environ.get(ARDUINO_USER_ENV):
        folders.append(Path(os.environ[ARDUINO_USER_ENV]))
    config = home / ".arduino15" / "arduino-cli.yaml"
    if config.is_file():
        for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.strip().partition(":")
            if sep and key == "user" and value.strip():
                folders.append(Path(value.strip().strip("'\"")).expanduser())
    folders += [home / "Arduino", home / "Documents" / "Arduino"]
    return folders


def candidate_folders(project_dir: Path | None = None, home: Path | None = None) -> list[Path]:
    """Folders that may hold the library, in the order they are tried (the environment variable's first)."""
    home = home or Path.home()
    candidates = []
    if os.environ.get(LIBRARY_ENV):
        candidates.append(Path(os.environ[LIBRARY_ENV]).expanduser())
    if project_dir is not None:
        candidates += sorted(Path(project_dir).glob(".pio/libdeps/*/*"))
    for user in arduino_user_folders(home):
        candidates += sorted((user / "libraries").glob("*"))
    candidates += sorted((home / ".platformio" / "lib").glob("*"))
    return candidates


def find_library(project_dir: str | os.PathLike[str] | None = None) -> TFLMLibrary:
    """The TFLite Micro Arduino library a build uses; LibraryNotFoundError saying how to install it when absent.

    A `TINYML_TFLM_LIBRARY` that does not hold the library is an error of its own, not a reason to look elsewhere:
    the person asked for that folder."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        found = library_at(Path(explicit).expanduser())
        if found is None:
            raise LibraryNotFoundError(library_settings()["name"], install_hint(), looked_in=[explicit])
        return found
    project = Path(project_dir) if project_dir is not None else None
    candidates = candidate_folders(project)
    for folder in candidates:
        found = library_at(folder)
        if found is not None:
            return found
    home = Path.home()
    looked_in = ([str(project / ".pio" / "libdeps")] if project is not None else []) + [
        str(user / "libraries") for user in arduino_user_folders(home)] + [str(home / ".platformio" / "lib")]
    raise LibraryNotFoundError(library_settings()["name"], install_hint(), looked_in=looked_in)
