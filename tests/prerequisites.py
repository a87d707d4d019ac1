"""What a test needs from the machine (the Arm tools, QEMU, the TFLite Micro library, node, Chromium), and the one
rule for its absence: skip with the reason and what to install, except under CI=true, where `make test` has
installed everything and an absence is a failure."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from jupyter_tinyml.firmware.tflm_library import TFLMLibrary

# The unchanged copy of the library beside the repository (../shared/third_party), which `make test` and CI use.
SHARED_TFLM_LIBRARY = Path(__file__).resolve().parents[2] / "shared" / "third_party" / "Chirale_TensorFlowLite"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason`; under CI=true fail it instead."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}: CI installs it (make test), so the test must run there")
    pytest.skip(reason)


def require_host_compiler(name: str) -> None:
    """The host's own C or C++ compiler (`gcc`, `g++`), for tests that compile and run generated headers here."""
    import shutil

    if shutil.which(name) is None:
        unavailable(f"{name} not installed (apt-get install g++, as root; make test installs it)")


def require_arm_tools(*names: str) -> None:
    """The Arm cross compiler, newlib, libstdc++ and QEMU programs `names` (default: what the C target's virtual
    board needs)."""
    from jupyter_tinyml.hardware.virtual import toolchain

    missing = toolchain.missing_tools(*names)
    if missing:
        unavailable(f"{', '.join(missing)} not installed ({toolchain.INSTALL}, as root)")


def require_tflm_library(*, with_board: bool = False) -> TFLMLibrary:
    """The TFLite Micro Arduino library as the product finds it; with_board: also what runs it on the virtual board
    (arm-none-eabi-g++ and QEMU)."""
    from jupyter_tinyml.errors import LibraryNotFoundError
    from jupyter_tinyml.firmware.tflm_library import find_library

    if with_board:
        require_arm_tools("arm-none-eabi-gcc", "arm-none-eabi-g++", "arm-none-eabi-size", "qemu-system-arm")
    try:
        return find_library()
    except LibraryNotFoundError as error:
        unavailable(str(error))
