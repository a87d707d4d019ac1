"""The board catalogue (boards.toml): names, aliases and the limits a model must fit."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class Board:
    """One catalogue entry."""

    id: str
    name: str
    cpu: str
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int
    aliases: tuple[str, ...] = ()
    sensors: tuple[str, ...] = field(default_factory=tuple)

    def limits(self) -> dict[str, Any]:
        """What the context tells a model about the target."""
        return {
            "id": self.id,
            "board": self.name,
            "cpu": self.cpu,
            "clock_mhz": self.clock_mhz,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "sensors": list(self.sensors),
        }


@lru_cache(maxsize=1)
def catalogue() -> tuple[Board, ...]:
    text = resources.files("jupyter_tinyml").joinpath("boards.toml").read_text(encoding="utf-8")
    entries = tomllib.loads(text)["board"]
    return tuple(
        Board(**{**entry, "aliases": tuple(entry.get("aliases", ())), "sensors": tuple(entry.get("sensors", ()))})
        for entry in entries
    )


def normalise(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def find_board(name: str) -> Board:
    """The board called `name` (id, name or alias, ignoring case and punctuation); ConfigError lists the choices."""
    wanted = normalise(name)
    for board in catalogue():
        if wanted in {normalise(board.id), normalise(board.name), *(normalise(alias) for alias in board.aliases)}:
            return board
    choices = ", ".join(board.id for board in catalogue())
    raise ConfigError(f"Unknown board {name!r}; known boards: {choices}.")
