"""Does a model fit a board? Flash and RAM, from the model's exact figures and stated firmware estimates.

The model's parts are exact: its flatbuffer sits in flash as it is, and its tensor arena is measured with
TFLite Micro (plus a stated margin). What the rest of the firmware takes is an estimate per board family, kept
in budgets.toml with its reasons; every message says which figure is which.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import ConfigError


@lru_cache(maxsize=1)
def _estimates() -> dict[str, Any]:
    return tomllib.loads(resources.files(__package__).joinpath("budgets.toml").read_text(encoding="utf-8"))


def firmware_overhead(board: Any, target: str = "tflm") -> tuple[int, int]:
    """(flash, RAM) bytes the firmware takes beside the model on `board`: estimates from budgets.toml. For the
    TFLite Micro firmware they are chosen by the board's `cpu` text (the first family whose `cpu_contains` occurs
    in it), else the defaults; the portable C target (`target="c"`) carries no interpreter or core and has its own."""
    estimates = _estimates()
    if target == "c":
        return int(estimates["c_target"]["flash_bytes"]), int(estimates["c_target"]["ram_bytes"])
    cpu = str(getattr(board, "cpu", "") or "")
    for family in estimates.get("family", []):
        if family["cpu_contains"].lower() in cpu.lower():
            return int(family["flash_bytes"]), int(family["ram_bytes"])
    return int(estimates["default"]["flash_bytes"]), int(estimates["default"]["ram_bytes"])


def _kib(value: int) -> str:
    return f"~{value / 1024:,.0f} KiB"


def serial_line_bytes(input_bytes: int) -> int:
    """RAM of the serial protocol's request line for a model with `input_bytes` of input: an INFER line carries two
    hex digits per byte plus the command (16 characters at most) and a terminating NUL (PROTOCOL.md; the firmware's
    kLineCapacity = 2 * kInputBytes + 16 + 1)."""
    return 2 * int(input_bytes) + 16 + 1


@dataclass(frozen=True)
class Budget:
    """Flash and RAM a model needs on a board, part by part, and whether it fits.

    `arena_bytes` is None when the tensor arena was not measured: then the RAM needed is unknown, `ram_fits` is
    None, and the budget does not claim the model fits (`fits` is False, `problems` says why).
    """

    board_name: str
    model_flash_bytes: int  # the .tflite (exact)
    firmware_flash_bytes: int  # estimate
    flash_available: int
    arena_bytes: int | None  # measured + margin; None when not measured
    line_buffer_bytes: int  # the serial protocol's request line (exact)
    firmware_ram_bytes: int  # estimate
    ram_available: int
    # What the two exact parts are: the .tflite and TFLite Micro's arena, or the C target's constants and its
    # static memory plan; the texts name them so a figure is never mistaken for the other target's.
    model_part: str = "model"
    arena_part: str = "TFLite Micro tensor arena (measured + margin)"

    @property
    def flash_needed(self) -> int:
        return self.model_flash_bytes + self.firmware_flash_bytes

    @property
    def ram_needed(self) -> int | None:
        if self.arena_bytes is None:
            return None
        return self.arena_bytes + self.line_buffer_bytes + self.firmware_ram_bytes

    @property
    def flash_share(self) -> float:
        """Flash needed / flash the board has (above 1 it does not fit)."""
        return self.flash_needed / self.flash_available if self.flash_available else float("inf")

    @property
    def ram_share(self) -> float | None:
        """RAM needed / RAM the board has; None when the arena is unknown."""
        needed = self.ram_needed
        if needed is None:
            return None
        return needed / self.ram_available if self.ram_available else float("inf")

    @property
    def flash_fits(self) -> bool:
        return self.flash_needed <= self.flash_available

    @property
    def ram_fits(self) -> bool | None:
        """None when the arena is unknown."""
        needed = self.ram_needed
        return None if needed is None else needed <= self.ram_available

    @property
    def fits(self) -> bool:
        """Both fit, as far as known: False when the RAM is unknown."""
        return self.flash_fits and self.ram_fits is True

    def flash_text(self) -> str:
        return (f"flash: {self.model_flash_bytes:,} B {self.model_part} + {_kib(self.firmware_flash_bytes)} firmware "
                f"(estimate) = "
                f"{self.flash_needed:,} B of the {self.flash_available:,} B the {self.board_name} has "
                f"({self.flash_share:.0%})")

    def ram_text(self) -> str:
        rest = (f"{self.line_buffer_bytes:,} B serial line + {_kib(self.firmware_ram_bytes)} stack, core and runtime "
                "(estimate)")
        if self.ram_needed is None:
            return (f"RAM: tensor arena not measured + {rest} = unknown, of the {self.ram_available:,} B it has")
        return (f"RAM: {self.arena_bytes:,} B {self.arena_part} + {rest} = {self.ram_needed:,} B of "
                f"the {self.ram_available:,} B it has ({self.ram_share:.0%})")

    def problems(self) -> list[str]:
        """One sentence per budget that is exceeded or cannot be checked, with the numbers and what to do."""
        found = []
        if not self.flash_fits:
            found.append(f"{self.flash_text()}: {self.flash_needed - self.flash_available:,} B too many — shrink the "
                         "model (fewer filters or units, fewer layers) or pick a board with more flash")
        if self.ram_needed is None:
            found.append(f"{self.ram_text()} — measure the tensor arena (inspect the model) to know whether it fits")
        elif not self.ram_fits:
            found.append(f"{self.ram_text()}: {self.ram_needed - self.ram_available:,} B too many — shrink the "
                         "activations (fewer filters, a smaller input, pooling earlier) or pick a board with more RAM")
        return found

    def require(self) -> None:
        """Raises ConfigError, in one line with the numbers, when the model does not fit or the RAM is unknown."""
        problems = self.problems()
        if problems:
            raise ConfigError(f"the model does not fit the {self.board_name}: " + "; ".join(problems))

    def __str__(self) -> str:
        if self.fits:
            verdict = "fits the"
        elif self.ram_fits is None and self.flash_fits:
            verdict = "RAM UNKNOWN on the"
        else:
            verdict = "DOES NOT FIT the"
        return f"{verdict} {self.board_name}\n  {self.flash_text()}\n  {self.ram_text()}"


def check_budget(model_flash_bytes: int, arena_bytes: int | None, board: Any, *, input_bytes: int,
                 target: str = "tflm") -> Budget:
    """The Budget of a model on `board` (anything with name, flash_bytes, ram_bytes and cpu, such as a
    boards.Board): its .tflite size, its tensor arena (measured + margin; None when not measured) and its input
    bytes per sample, which size the serial protocol's line buffer. Pure: nothing is raised; see Budget.require.
    ModelInspection.budget_on(board) calls this with the inspection's figures; the C target calls it with its
    constants and its static memory plan (`target="c"`), so both targets are judged by the same rule."""
    firmware_flash, firmware_ram = firmware_overhead(board, target)
    return Budget(
        board_name=str(board.name), model_flash_bytes=int(model_flash_bytes), firmware_flash_bytes=firmware_flash,
        flash_available=int(board.flash_bytes), arena_bytes=None if arena_bytes is None else int(arena_bytes),
        line_buffer_bytes=serial_line_bytes(input_bytes), firmware_ram_bytes=firmware_ram,
        ram_available=int(board.ram_bytes),
        **({"model_part": "weights and constants", "arena_part": "C target static memory plan (exact)"} if target == "c" else {}))
