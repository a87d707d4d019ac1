"""Compile errors in the application glue go back to the model for a bounded repair, as generated code does.

Only the sketch's marked regions are the model's to change: the exact parts (model bytes, op resolver,
arena, protocol) are computed and stay as written. Each round: errors + current regions -> the model ->
regions replaced -> rebuild; at most `max_repairs` rounds, through the stages' own loop (base.converse), and
what remains is returned, not hidden.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..config import TinyML
from ..errors import NoGlueRegionError
from ..firmware import REGION_NAMES, regions, replace_regions
from . import llm
from .base import converse, prompt_text

REGION_BLOCK = re.compile(r"```[ \t]*(?:c\+\+|cpp|c|arduino|ino)?[ \t]+(?P<name>app-[a-z]+)[ \t]*\n(?P<code>.*?)```",
                          re.DOTALL)


class Build(Protocol):
    """What the repair reads of a build (hardware's BuildResult); stages sit beside hardware, not above it."""

    @property
    def ok(self) -> bool: ...

    def error_text(self) -> str: ...


@dataclass
class GlueRepair:
    """What the repair did: the last build, and each round's answer."""

    build: Build
    rounds: int = 0
    completions: list[llm.Completion] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.build.ok)


def parse_regions(answer: str) -> dict[str, str]:
    """Region name -> code from an answer's fenced blocks; MalformedAnswerError when it holds none."""
    found = {match["name"]: match["code"].rstrip() + "\n" for match in REGION_BLOCK.finditer(answer)}
    unknown = sorted(set(found) - set(REGION_NAMES))
    if unknown or not found:
        raise NoGlueRegionError(unknown, list(REGION_NAMES))
    return found


def repair_message(sketch_text: str, errors: str) -> str:
    current = "\n\n".join(f"```cpp {name}\n{code.rstrip()}\n```" for name, code in regions(sketch_text).items())
    return f"Compiler output:\n{errors}\n\nCurrent regions:\n{current}"


def repair_glue(
    sketch: str | Path,
    failed_build: Build,
    rebuild: Callable[[], Build],
    settings: TinyML,
    *,
    on_text: Callable[[str], None] | None = None,
) -> GlueRepair:
    """Up to settings.max_repairs rounds of: compile errors -> model -> new regions -> `rebuild()`."""
    path = Path(sketch)
    system = prompt_text("glue_repair.md")
    outcome = GlueRepair(build=failed_build)

    def asking() -> list[llm.Message]:
        """Each round starts afresh from the sketch as it is now and the last build's errors."""
        text = path.read_text(encoding="utf-8")
        return [{"role": "system", "content": system},
                {"role": "user", "content": repair_message(text, outcome.build.error_text())}]

    def judge(completion: llm.Completion) -> list[llm.Message] | None:
        outcome.rounds += 1
        outcome.completions.append(completion)
        text = path.read_text(encoding="utf-8")
        path.write_text(replace_regions(text, parse_regions(completion.text)), encoding="utf-8")
        outcome.build = rebuild()
        return None if outcome.build.ok else asking()

    if not outcome.build.ok:
        converse(asking(), settings, judge, rounds=settings.max_repairs, on_text=on_text)
    return outcome
