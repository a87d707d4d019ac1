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


def firmware_overhead(board: Any) -> tuple[int, int]:
    """(flash, RAM) bytes the firmware takes beside the model on `board`: estimates from budgets.toml, chosen by
    the board's `cpu` text (the first family whose `cpu_contains` occurs in it), else the defaults."""
    estimates = _estimates()
    cpu = str(getattr(board, "cpu", "") or "")
    for family in estimates.get("family", []):
        if family["cpu_contains"].lower() in cpu.lower():
            return int(family["flash_bytes"]), int(family["ram_bytes"])
    return int(estimates["default"]["flash_bytes"]), int(estimates["default"]["ram_bytes"])


def _kib(value: int) -> str:
    return f"~{value / 1024:,.0f} KiB"


@dataclass(frozen=True)
class Budget:
    """Flash and RAM a model needs on a board, part by part, and whether it fits."""

    board_name: str
    model_flash_bytes: int  # the .tflite (exact)
    firmware_flash_bytes: int  # estimate
    flash_available: int
    arena_bytes: int  # measured + margin
    line_buffer_bytes: int  # the serial protocol's request line (exact)
    firmware_ram_bytes: int  # estimate
    ram_available: int

    @property
    def flash_needed(self) -> int:
        return self.model_flash_bytes + self.firmware_flash_bytes

    @property
    def ram_needed(self) -> int:
        return self.arena_bytes + self.line_buffer_bytes + self.firmware_ram_bytes

    @property
    def flash_fits(self) -> bool:
        return self.flash_needed <= self.flash_available

    @property
    def ram_fits(self) -> bool:
        return self.ram_needed <= self.ram_available

    @property
    def fits(self) -> bool:
        return self.flash_fits and self.ram_fits

    def flash_text(self) -> str:
        share = self.flash_needed / self.flash_available if self.flash_available else float("inf")
        return (f"flash: {self.model_flash_bytes:,} B model + {_kib(self.firmware_flash_bytes)} firmware (estimate) = "
                f"{self.flash_needed:,} B of the {self.flash_available:,} B the {self.board_name} has ({share:.0%})")

    def ram_text(self) -> str:
        share = self.ram_needed / self.ram_available if self.ram_available else float("inf")
        return (f"RAM: {self.arena_bytes:,} B tensor arena (measured + margin) + {self.line_buffer_bytes:,} B serial "
                f"line + {_kib(self.firmware_ram_bytes)} stack, core and runtime (estimate) = {self.ram_needed:,} B of "
                f"the {self.ram_available:,} B it has ({share:.0%})")

    def problems(self) -> list[str]:
        """One sentence per budget that is exceeded, with the numbers and what to do."""
        found = []
        if not self.flash_fits:
            found.append(f"{self.flash_text()}: {self.flash_needed - self.flash_available:,} B too many — shrink the "
                         "model (fewer filters or units, fewer layers) or pick a board with more flash")
        if not self.ram_fits:
            found.append(f"{self.ram_text()}: {self.ram_needed - self.ram_available:,} B too many — shrink the "
                         "activations (fewer filters, a smaller input, pooling earlier) or pick a board with more RAM")
        return found

    def require(self) -> None:
        """Raises ConfigError, in one line with the numbers, when the model does not fit."""
        problems = self.problems()
        if problems:
            raise ConfigError(f"the model does not fit the {self.board_name}: " + "; ".join(problems))

    def __str__(self) -> str:
        verdict = "fits" if self.fits else "DOES NOT FIT"
        return f"{verdict} the {self.board_name}\n  {self.flash_text()}\n  {self.ram_text()}"


def check_budget(model_flash_bytes: int, arena_bytes: int, board: Any, *, line_buffer_bytes: int = 0) -> Budget:
    """The Budget of a model (its .tflite size and its tensor arena, measured + margin) on `board` (anything with
    name, flash_bytes, ram_bytes and cpu, such as a boards.Board). Pure: nothing is raised; see Budget.require."""
    firmware_flash, firmware_ram = firmware_overhead(board)
    return Budget(
        board_name=str(board.name), model_flash_bytes=int(model_flash_bytes), firmware_flash_bytes=firmware_flash,
        flash_available=int(board.flash_bytes), arena_bytes=int(arena_bytes),
        line_buffer_bytes=int(line_buffer_bytes), firmware_ram_bytes=firmware_ram,
        ram_available=int(board.ram_bytes))
