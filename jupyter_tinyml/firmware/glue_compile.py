"""The application glue compiled before it is inserted: the sketch's .ino alone, syntax only, in a second or two.

A full build needs the board's Arduino core and minutes; the glue's mistakes show in the .ino alone. So the .ino is
compiled as the Arduino build sees it (Arduino.h first, `#line` so messages name the .ino) with `-fsyntax-only`
(C++17): with arm-none-eabi-g++ and the board's CPU and core defines where that compiler is installed, else the
host's g++; against the virtual board's Arduino shim (firmware/arduino_shim) and, for a real board, the stub
headers of the Arduino API the shim lacks (firmware/glue_stubs: String, Wire, PDM, ...); the real TFLite Micro
library headers and the person's installed Arduino libraries go on the include path when they are found.

For the Nano 33 BLE Sense this is the "compile check": the defines its mbed core sets, the Cortex-M4F flags.
Each error comes back with the region it belongs to (the markers of firmware/skeleton.py), all at once. What a model
cannot fix is told apart: a sensor library that is not installed (with the `arduino-cli lib install` line) and no
compiler at all (with the apt-get line); the glue is then not compiled (`skipped` says why).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..boards import Board, as_board
from ..errors import LibraryNotFoundError
from .glue_checks import SKELETON_HEADER
from .skeleton import REGION_NAMES
from .tflm_library import arduino_user_folders, find_library

COMPILER_INSTALL = "apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi (or any g++)"
TIMEOUT_S = 60
MAX_ERRORS = 20
# Flags of the compile: C++17 as the Arduino cores use it, no exceptions or RTTI (as the board build).
CXX_FLAGS = ("-fsyntax-only", "-std=gnu++17", "-fno-exceptions", "-fno-rtti", "-x", "c++")
# The Arm CPU flags by the words of boards.toml's `cpu`.
ARM_FLAGS = {
    "cortex-m0+": ("-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
    "cortex-m4": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
}
# What the Arduino build defines for a board: ARDUINO_<build.board> and ARDUINO_ARCH_<build.arch> (the boards.txt of
# its core); the mbed cores also define ARDUINO_ARCH_MBED, as hardware/virtual/archive.py compiles the library.
BOARD_DEFINES = {
    "nano33ble": ("ARDUINO_ARDUINO_NANO33BLE", "ARDUINO_ARCH_MBED_NANO", "ARDUINO_ARCH_MBED"),
    "nano33ble-rev2": ("ARDUINO_ARDUINO_NANO33BLE", "ARDUINO_ARCH_MBED_NANO", "ARDUINO_ARCH_MBED"),
    "nano-rp2040": ("ARDUINO_NANO_RP2040_CONNECT", "ARDUINO_ARCH_MBED_NANO", "ARDUINO_ARCH_MBED"),
    "virtual-cortex-m4": ("ARDUINO_ARCH_MBED",),
}
CORE_ARCH = {"mbed": "ARDUINO_ARCH_MBED", "rp2040": "ARDUINO_ARCH_RP2040", "esp32": "ARDUINO_ARCH_ESP32",
             "samd": "ARDUINO_ARCH_SAMD", "stm32": "ARDUINO_ARCH_STM32"}
ARDUINO_VERSION = "10819"
# Header -> the library the Arduino Library Manager installs it with (`arduino-cli lib install "<name>"`).
LIBRARY_OF_HEADER = {
    "Arduino_LSM9DS1.h": "Arduino_LSM9DS1", "Arduino_LSM6DS3.h": "Arduino_LSM6DS3",
    "Arduino_LSM6DSOX.h": "Arduino_LSM6DSOX", "Arduino_BMI270_BMM150.h": "Arduino_BMI270_BMM150",
    "Arduino_HTS221.h": "Arduino_HTS221", "Arduino_HS300x.h": "Arduino_HS300x", "Arduino_LPS22HB.h": "Arduino_LPS22HB",
    "Arduino_APDS9960.h": "Arduino_APDS9960", "Arduino_OV767X.h": "Arduino_OV767X", "ArduinoBLE.h": "ArduinoBLE",
    "Arduino_JSON.h": "Arduino_JSON", "ArduinoJson.h": "ArduinoJson", "arduinoFFT.h": "arduinoFFT",
    "Adafruit_Sensor.h": "Adafruit Unified Sensor", "Adafruit_NeoPixel.h": "Adafruit NeoPixel",
    "Adafruit_SSD1306.h": "Adafruit SSD1306", "Adafruit_GFX.h": "Adafruit GFX Library",
    "Adafruit_MPU6050.h": "Adafruit MPU6050", "Adafruit_BME280.h": "Adafruit BME280 Library",
    "DHT.h": "DHT sensor library", "Servo.h": "Servo", "SD.h": "SD", "MPU6050.h": "MPU6050",
    "SparkFunLSM9DS1.h": "SparkFun LSM9DS1 IMU", "Seeed_Arduino_LSM6DS3.h": "Seeed Arduino LSM6DS3",
    "LSM6DS3.h": "Seeed Arduino LSM6DS3", "TFT_eSPI.h": "TFT_eSPI",
}
_DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<column>\d+):)?\s*(?P<severity>fatal error|error):"
                         r"\s*(?P<message>.*)$")
_MISSING_HEADER = re.compile(r"^(?P<header>[^:]+): No such file or directory")
_INCLUDE = re.compile(r"^[ \t]*#[ \t]*include[ \t]*[<\"](?P<header>[^>\"]+)[>\"]", re.MULTILINE)
_MARKER = re.compile(r"^[ \t]*//[ \t]*(?P<kind>>>>|<<<)[ \t]*tinyml:(?P<name>[A-Za-z0-9_.-]+)[ \t]*$")


@dataclass(frozen=True)
class GlueError:
    """One compiler error: the region it is in (None: outside the regions, where the glue broke the skeleton), the
    line inside that region, the message and the source line it points at."""

    region: str | None
    line: int | None
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.region} line {self.line}" if self.region else (
            f"sketch line {self.line} (outside the regions)" if self.line else "the sketch")
        quoted = f" — `{self.source.strip()}`" if self.source.strip() else ""
        return f"{where}: {self.message}{quoted}"


@dataclass(frozen=True)
class MissingLibrary:
    """A header the glue includes that no installed library provides: the model cannot fix that, the person can."""

    header: str
    library: str | None  # the Library Manager's name, when the header is a known one

    @property
    def install(self) -> str:
        """The one line that installs it."""
        if self.library:
            name = f'"{self.library}"' if " " in self.library else self.library
            return f"arduino-cli lib install {name}"
        stem = Path(self.header).stem
        return f"arduino-cli lib search {stem}, then arduino-cli lib install <the library that has {self.header}>"

    def __str__(self) -> str:
        return f"{self.header} is not installed: {self.install} (the Arduino IDE's Library Manager works too)"


@dataclass
class GlueCompile:
    """What the compile check found. `ok`: it compiled; `skipped`: why it was not compiled (then `ok` is False and
    `errors` is empty); `missing_libraries`: headers no installed library provides (the compile is skipped)."""

    ok: bool
    errors: list[GlueError] = field(default_factory=list)
    missing_libraries: list[MissingLibrary] = field(default_factory=list)
    skipped: str = ""
    compiler: str = ""
    output: str = ""

    @property
    def compiled(self) -> bool:
        return not self.skipped


def compiler_for(board: Board) -> tuple[str, tuple[str, ...]] | None:
    """(compiler, CPU flags): arm-none-eabi-g++ with the board's CPU for an Arm board when it and newlib are
    installed, else the host's g++ (no CPU flags); None when there is neither."""
    arm = shutil.which("arm-none-eabi-g++")
    cpu = str(getattr(board, "cpu", "")).lower()
    flags = next((value for key, value in ARM_FLAGS.items() if key in cpu), None)
    if arm and flags is not None and _has_newlib(arm):
        return arm, flags
    host = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    return (host, ()) if host else None


def _has_newlib(compiler: str) -> bool:
    found = subprocess.run([compiler, "-print-file-name=libc.a"], capture_output=True, text=True).stdout.strip()
    return os.path.isabs(found)


def board_defines(board: Board) -> list[str]:
    """-D flags of the board's Arduino core (see BOARD_DEFINES), -DARDUINO first."""
    names = BOARD_DEFINES.get(board.id)
    if names is None:
        core = str(getattr(board, "arduino_core", "") or "").lower()
        names = tuple(define for key, define in CORE_ARCH.items() if key in core)
    return [f"-DARDUINO={ARDUINO_VERSION}", *(f"-D{name}" for name in names)]


def region_lines(text: str) -> dict[str, tuple[int, int]]:
    """Region name -> (first line inside it, last line inside it), 1-based, from the marker lines of a sketch."""
    found: dict[str, tuple[int, int]] = {}
    opened: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _MARKER.match(line)
        if match is None:
            continue
        if match["kind"] == ">>>":
            opened[match["name"]] = number
        elif match["name"] in opened:
            found[match["name"]] = (opened.pop(match["name"]) + 1, number - 1)
    return found


def stub_headers() -> Path:
    """firmware/glue_stubs: the Arduino API beyond the virtual board's shim, for the compile check of real boards."""
    return Path(str(resources.files(__package__).joinpath("glue_stubs")))


def shim_headers() -> Path:
    return Path(str(resources.files(__package__).joinpath("arduino_shim")))


def installed_libraries() -> dict[str, Path]:
    """Header file name -> the include folder of an installed Arduino library that provides it (user folders)."""
    headers: dict[str, Path] = {}
    for user in arduino_user_folders(Path.home()):
        for library in sorted((user / "libraries").glob("*")):
            folder = library / "src" if (library / "src").is_dir() else library
            for header in folder.glob("*.h"):
                headers.setdefault(header.name, folder)
    return headers


def compile_glue(sketch_path: str | os.PathLike[str], board_id: Board | str) -> GlueCompile:
    """Compile the sketch's .ino (the glue in its regions) for `board_id`, syntax only; see the module docstring.

    Never raises for the glue: errors, a missing library or a missing compiler are in the result."""
    sketch = Path(sketch_path)
    board = as_board(board_id)
    text = sketch.read_text(encoding="utf-8")
    virtual = board.id == "virtual-cortex-m4"
    shim, stubs = shim_headers(), stub_headers()
    include_dirs = ([] if virtual else [stubs]) + [sketch.parent, shim]
    available = {path.name for folder in include_dirs for path in folder.glob("*.h")}
    try:
        library = find_library(sketch.parent.parent)
        include_dirs.append(library.source_dir)
        available |= {"TensorFlowLite.h", "Chirale_TensorFlowLite.h"} & {p.name for p in library.source_dir.glob("*.h")}
    except LibraryNotFoundError:
        pass
    installed = installed_libraries()
    missing: list[MissingLibrary] = []
    for header in dict.fromkeys(match["header"].strip() for match in _INCLUDE.finditer(_glue_text(text))):
        name = Path(header).name
        if header in available or "/" in header or SKELETON_HEADER.match(header) or _is_system_header(header):
            continue
        if name in installed:
            include_dirs.append(installed[name])
        else:
            missing.append(MissingLibrary(header, LIBRARY_OF_HEADER.get(name)))
    if missing:
        return GlueCompile(False, missing_libraries=missing,
                           skipped="not compiled: " + "; ".join(str(library) for library in missing))
    found = compiler_for(board)
    if found is None:
        return GlueCompile(False, skipped=f"not compiled: no C++ compiler found — {COMPILER_INSTALL}")
    compiler, cpu_flags = found
    unit = f'#include <Arduino.h>\n#line 1 "{sketch}"\n{text}'
    with tempfile.TemporaryDirectory(prefix="tinyml-glue-") as work:
        source = Path(work) / f"{sketch.stem}.ino.cpp"
        source.write_text(unit, encoding="utf-8")
        command = [compiler, *cpu_flags, *CXX_FLAGS, f"-fmax-errors={MAX_ERRORS}", *board_defines(board),
                   *(f"-I{folder}" for folder in include_dirs), str(source)]
        try:
            run = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return GlueCompile(False, skipped=f"not compiled: {Path(compiler).name} took more than {TIMEOUT_S} s",
                               compiler=compiler)
    output = run.stdout + run.stderr
    errors = errors_of(output, sketch, text)
    if run.returncode != 0 and not errors:
        errors = [GlueError(None, None, output.strip().splitlines()[-1] if output.strip() else "the compile failed")]
    return GlueCompile(run.returncode == 0, errors, compiler=compiler, output=output)


def _glue_text(text: str) -> str:
    """The regions' text of a sketch (the glue), for its includes."""
    lines = text.splitlines()
    return "\n".join("\n".join(lines[first - 1:last]) for first, last in region_lines(text).values())


def _is_system_header(header: str) -> bool:
    """A C/C++ standard header (<math.h>, <cstdint>, <vector>): the compiler's own."""
    return header.endswith(".h") and header[:-2] in {
        "math", "stdint", "stdlib", "string", "stdio", "stddef", "stdbool", "limits", "float", "ctype", "assert",
        "inttypes", "time", "errno", "stdarg"} or "." not in header


def errors_of(output: str, sketch: Path, text: str) -> list[GlueError]:
    """The compiler's errors as GlueErrors: each placed in its region by its .ino line, without repeats."""
    spans = region_lines(text)
    lines = text.splitlines()
    found: list[GlueError] = []
    seen: set[tuple[str | None, int | None, str]] = set()
    for raw in output.splitlines():
        match = _DIAGNOSTIC.match(raw.strip())
        if match is None:
            continue
        number = int(match["line"])
        message = match["message"].strip()
        missing = _MISSING_HEADER.match(message)
        if missing and SKELETON_HEADER.match(missing["header"].strip()):
            message = (f"{missing['header']} not found: delete the include — the skeleton already includes the "
                       "TFLite Micro library and the model (tinyml_model.h)")
        if Path(match["file"]).name != sketch.name:
            error = GlueError(None, None, f"{Path(match['file']).name}:{number}: {message}")
        else:
            region = next((name for name, (first, last) in spans.items() if first <= number <= last), None)
            source = lines[number - 1] if 0 < number <= len(lines) else ""
            line = number - spans[region][0] + 1 if region else number
            above = [(last, name) for name, (first, last) in spans.items() if last < number <= last + 4]
            if region is None and above:
                # Reported on the skeleton's next line (a missing `;` or `}`): the region just above it is the cause.
                last, region = max(above)
                line = last - spans[region][0] + 1
                message = f"{message} (reported just after the region, at `{source.strip()}`)"
                source = lines[last - 1]
            error = GlueError(region, line, message, source)
        key = (error.region, error.line, error.message)
        if key not in seen:
            seen.add(key)
            found.append(error)
    order = {name: index for index, name in enumerate(REGION_NAMES)}
    return sorted(found, key=lambda error: (order.get(error.region or "", len(order)), error.line or 0))


__all__ = ["COMPILER_INSTALL", "GlueCompile", "GlueError", "LIBRARY_OF_HEADER", "MissingLibrary", "board_defines",
           "compile_glue", "compiler_for", "errors_of", "region_lines"]
