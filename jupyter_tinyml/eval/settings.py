"""EvalSettings: what one evaluation was asked to do, as data saved beside its results (OUT/eval.json).

The fingerprint is the part that decides what a result means (which model, which notebooks, which bars a stage
must clear); runs recorded under one fingerprint cannot be mixed with runs of another, so a resume into the same
folder must match it. The run count and the token budget may change between resumes: they say how far to go,
not what a run measures.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import OFFLINE_NAMES

# The settings a recorded run depends on; a resume must give the same ones.
FINGERPRINT = ("model", "api_base", "notebooks", "accuracy_floor", "int8_margin", "check_samples")


@dataclass
class EvalSettings:
    """One evaluation's settings.

    `notebooks` are absolute paths; `timeout` is the longest one notebook cell may run, in seconds (a stage's
    magic, its generated code and its check each count as one cell). `max_repairs`, `token_budget` and
    `max_tokens` are the magics' own settings as the kernel will have them: recorded so the report and the
    token estimate say what the model was allowed. `max_tokens_total` None means no budget.
    """

    model: str
    api_base: str = ""
    runs: int = 5
    notebooks: list[str] = field(default_factory=list)
    out: str = ""
    accuracy_floor: float = 0.8
    int8_margin: float = 0.05
    check_samples: int = 50
    max_tokens_total: int | None = None
    max_repairs: int = 2
    token_budget: int = 2000
    max_tokens: int = 2048
    timeout: float = 900.0

    @property
    def offline(self) -> bool:
        """The offline recipes answer: no tokens, and no fallback (it would be the same recipe again)."""
        return self.model.strip().lower() in OFFLINE_NAMES

    @property
    def out_dir(self) -> Path:
        return Path(self.out)

    def fingerprint(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in FINGERPRINT}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "EvalSettings":
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def magic_defaults() -> dict[str, int]:
    """The magics' max_repairs, token_budget and max_tokens as a fresh kernel starts with them (the traits'
    defaults, so the estimate and the record agree with what the kernel's TinyML will use)."""
    from ..config import TinyML

    traits = TinyML.class_traits()
    return {name: traits[name].default_value for name in ("max_repairs", "token_budget", "max_tokens")}


def model_slug(model: str) -> str:
    """A folder name for a model: "openai/gpt-4o-mini" -> "openai-gpt-4o-mini"."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model.strip()).strip("-.")
    return slug or "offline"
