"""Compile errors in the application glue go back to the model for a bounded repair, as generated code does.

Only the sketch's marked regions are the model's to change: the exact parts (model bytes, op resolver,
arena, protocol) are computed and stay as written. Each round: errors + current regions -> the model ->
regions replaced -> rebuild; at most `max_rounds` rounds, and what remains is returned, not hidden.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import llm
from ..config import TinyML, api_key_from_environment
from ..errors import MalformedAnswerError
from ..firmware import REGION_NAMES, regions, replace_regions
from .base import prompt_text

REGION_BLOCK = re.compile(r"```[ \t]*(?:c\+\+|cpp|c|arduino|ino)?[ \t]+(?P<name>app-[a-z]+)[ \t]*\n(?P<code>.*?)```",
                          re.DOTALL)


@dataclass
class GlueRepair:
    """What the repair did: the last build, and each round's answer."""

    build: Any  # flash.BuildResult of the last build
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
        raise MalformedAnswerError(
            f"The model's repair named no glue region ({', '.join(unknown) or 'no region blocks'}); "
            f"regions are {', '.join(REGION_NAMES)}. The sketch was left as it was."
        )
    return found


def repair_message(sketch_text: str, errors: str) -> str:
    current = "\n\n".join(f"```cpp {name}\n{code.rstrip()}\n```" for name, code in regions(sketch_text).items())
    return f"Compiler output:\n{errors}\n\nCurrent regions:\n{current}"


def repair_glue(
    sketch: str | Path,
    failed_build: Any,
    rebuild: Callable[[], Any],
    settings: TinyML,
    *,
    on_text: Callable[[str], None] | None = None,
) -> GlueRepair:
    """Up to settings.max_repairs rounds of: compile errors -> model -> new regions -> `rebuild()`."""
    path = Path(sketch)
    system = prompt_text("glue_repair.md")
    outcome = GlueRepair(build=failed_build)
    for _ in range(settings.max_repairs):
        if outcome.build.ok:
            break
        text = path.read_text(encoding="utf-8")
        completion = llm.complete(
            [{"role": "system", "content": system},
             {"role": "user", "content": repair_message(text, outcome.build.error_text())}],
            model=settings.model, api_base=settings.api_base or None, api_key=api_key_from_environment(),
            timeout=settings.timeout, temperature=settings.temperature, max_tokens=settings.max_tokens,
            stream=settings.stream, on_text=on_text, mock_response=settings.mock_response or None,
        )
        outcome.completions.append(completion)
        outcome.rounds += 1
        path.write_text(replace_regions(text, parse_regions(completion.text)), encoding="utf-8")
        outcome.build = rebuild()
    return outcome
