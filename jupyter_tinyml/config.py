"""Settings: one place that lists each, its type, default and help.

Resolution, later wins: trait defaults <- traitlets config (``c.TinyML.model = ...`` in ipython_config.py)
<- environment (TINYML_MODEL, TINYML_API_BASE, TINYML_API_KEY, TINYML_BOARD, TINYML_SPEND_LIMIT)
<- ``%tinyml config key=value`` <- per-cell arguments (``--model``). API keys are read from the environment at
call time by litellm (or TINYML_API_KEY) and are never stored in a notebook, a prompt or a log.
"""
from __future__ import annotations

import math
import os
from typing import Any

from traitlets import Bool, Float, Int, TraitError, TraitType, Unicode, validate
from traitlets.config import Configurable

from .errors import BadSettingValueError, KeyNotSettableError, SettingOutOfRangeError, UnknownSettingError

# Environment variables read once when settings are created, mapped to trait names.
ENVIRONMENT = {
    "TINYML_MODEL": "model",
    "TINYML_API_BASE": "api_base",
    "TINYML_BOARD": "board",
    "TINYML_SPEND_LIMIT": "spend_limit",
}

# The range of each numeric setting, checked whenever it is set (config file, %tinyml config, code, a magic's
# option): a value outside would only fail later with a message about something else (a budget of 0 leaves no
# context, a timeout of -1 or nan makes every call fail, max_repairs=-1 inserts an empty cell).
RANGES: dict[str, tuple[float, float]] = {
    "token_budget": (100, 1_000_000),
    "max_repairs": (0, 10),
    "timeout": (1, 3600),
    "temperature": (0, 2),
    "max_tokens": (16, 1_000_000),
    "recent_cells": (0, 100),
    "spend_limit": (0, 1_000_000_000),
}


def check_range(name: str, value: float, kept: object = None) -> float:
    """`value` when it is a finite number within `name`'s range; SettingOutOfRangeError (naming the value that
    stays, `kept`) otherwise. Names without a range pass."""
    if name not in RANGES:
        return value
    low, high = RANGES[name]
    if not (math.isfinite(value) and low <= value <= high):
        raise SettingOutOfRangeError(name, value, low, high, kept)
    return value


# Values that mean "no model: use the offline recipes".
OFFLINE_NAMES = {"", "offline", "recipe", "recipes", "none"}


class Switch(Bool):
    """A Bool that also reads the words people type for on and off (yes/no, on/off)."""

    WORDS = {"yes": "true", "on": "true", "no": "false", "off": "false"}

    def from_string(self, s: str) -> bool | None:
        return super().from_string(self.WORDS.get(s.strip().lower(), s.strip()))


def kind_of(trait: TraitType) -> str:
    """The trait's traitlets type in words ("int", "float", "bool"), for a message about a wrong value."""
    traitlets_class = next(cls for cls in type(trait).__mro__ if cls.__module__.startswith("traitlets"))
    return traitlets_class.__name__.lower()


class TinyML(Configurable):
    """jupyter-tinyml settings (``c.TinyML.<name>`` in ipython_config.py)."""

    model = Unicode(
        "",
        help="litellm model name, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
        "ollama/qwen2.5-coder. Empty: offline recipes.",
    ).tag(config=True)
    api_base = Unicode(
        "", help="Base URL of an OpenAI-compatible server (use with model='openai/<name>')."
    ).tag(config=True)
    board = Unicode("", help="Target board name or alias; its flash/RAM limits go into the context.").tag(
        config=True
    )
    token_budget = Int(2000, help="Token budget for the notebook context in a prompt.").tag(config=True)
    max_repairs = Int(2, help="Rounds in which check problems go back to the model before insertion.").tag(
        config=True
    )
    timeout = Float(60.0, help="Seconds to wait for the model before giving up.").tag(config=True)
    temperature = Float(0.2, help="Sampling temperature for code generation.").tag(config=True)
    max_tokens = Int(2048, help="Most tokens the model may answer with.").tag(config=True)
    stream = Switch(True, help="Show the answer in the cell output while it arrives.").tag(config=True)
    recent_cells = Int(5, help="How many recent cells go into the context.").tag(config=True)
    spend_limit = Int(
        0,
        help="Most tokens (prompt + answer) the model may spend in this process, all asks together; a call that "
        "could pass it is refused before it is sent. 0: no limit.",
    ).tag(config=True)
    mock_response = Unicode(
        "",
        help="For tests and demos: litellm returns this text instead of calling the model (mock_response).",
    ).tag(config=True)

    @validate(*RANGES)
    def _within_range(self, proposal: Any) -> Any:
        # A TraitError lets traitlets roll back and keep the old value, also when a config file sets it. While
        # traitlets holds a batch of assignments (config loading) the value is already in place when it is
        # checked: the old one is not known here, so the message does not name it.
        name = proposal["trait"].name
        current = getattr(self, name)
        try:
            return check_range(name, proposal["value"], None if current is proposal["value"] else current)
        except SettingOutOfRangeError as error:
            raise TraitError(str(error)) from None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for variable, name in ENVIRONMENT.items():
            if os.environ.get(variable):
                # Text for a text setting as it is; a number through its trait's from_string and range check.
                if isinstance(self.traits()[name], Unicode):
                    setattr(self, name, os.environ[variable])
                else:
                    self.set(name, os.environ[variable])

    @property
    def offline(self) -> bool:
        """True when no model is configured: stages use their built-in recipes."""
        return self.model.strip().lower() in OFFLINE_NAMES

    def settable(self) -> list[str]:
        """Names that ``%tinyml config`` may change."""
        return sorted(self.class_trait_names(config=True))

    def set(self, name: str, value: str) -> None:
        """Set one setting from text through its trait's own from_string; ConfigError says what is allowed."""
        if name in {"api_key", "key"}:
            raise KeyNotSettableError()
        if name not in self.settable():
            raise UnknownSettingError(name, self.settable())
        trait = self.traits()[name]
        try:
            converted = trait.from_string(value)
        except ValueError:
            raise BadSettingValueError(name, kind_of(trait), value) from None
        if name in RANGES:
            check_range(name, converted, getattr(self, name))
        setattr(self, name, converted)

    def with_overrides(self, **changes: Any) -> "TinyML":
        """A copy for one cell (e.g. --model), leaving the session's settings as they are."""
        copy = TinyML(config=self.config)
        for name in self.settable():
            setattr(copy, name, getattr(self, name))
        for name, value in changes.items():
            if value is not None:
                setattr(copy, name, value)
        return copy

    def describe(self) -> dict[str, Any]:
        """Current settings for display; says whether a key is present without ever showing it."""
        shown = {name: getattr(self, name) for name in self.settable() if name != "mock_response"}
        shown["model"] = self.model or "offline recipes"
        shown["api_key"] = "set" if api_key_from_environment() else "not set (providers' variables are used)"
        return shown


def api_key_from_environment() -> str | None:
    """TINYML_API_KEY, if set; otherwise litellm finds the provider's own variable (OPENAI_API_KEY, ...)."""
    return os.environ.get("TINYML_API_KEY") or None
