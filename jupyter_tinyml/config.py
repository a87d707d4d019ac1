"""Settings: one place that lists each, its type, default and help.

Resolution, later wins: trait defaults <- traitlets config (``c.TinyML.model = ...`` in ipython_config.py)
<- environment (TINYML_MODEL, TINYML_API_BASE, TINYML_API_KEY, TINYML_BOARD) <- ``%tinyml config key=value``
<- per-cell arguments (``--model``). API keys are read from the environment at call time by litellm (or
TINYML_API_KEY) and are never stored in a notebook, a prompt or a log.
"""
from __future__ import annotations

import os
from typing import Any

from traitlets import Bool, Float, Int, Unicode
from traitlets.config import Configurable

from .errors import ConfigError

# Environment variables read once when settings are created, mapped to trait names.
ENVIRONMENT = {
    "TINYML_MODEL": "model",
    "TINYML_API_BASE": "api_base",
    "TINYML_BOARD": "board",
}

# Values that mean "no model: use the offline recipes".
OFFLINE_NAMES = {"", "offline", "recipe", "recipes", "none"}


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
    stream = Bool(True, help="Show the answer in the cell output while it arrives.").tag(config=True)
    recent_cells = Int(5, help="How many recent cells go into the context.").tag(config=True)
    mock_response = Unicode(
        "",
        help="For tests and demos: litellm returns this text instead of calling the model (mock_response).",
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for variable, name in ENVIRONMENT.items():
            if os.environ.get(variable):
                setattr(self, name, os.environ[variable])

    @property
    def offline(self) -> bool:
        """True when no model is configured: stages use their built-in recipes."""
        return self.model.strip().lower() in OFFLINE_NAMES

    def settable(self) -> list[str]:
        """Names that ``%tinyml config`` may change."""
        return sorted(self.class_trait_names(config=True))

    def set(self, name: str, value: str) -> None:
        """Set one setting from text, converting to the trait's type; ConfigError says what is allowed."""
        if name in {"api_key", "key"}:
            raise ConfigError(
                "API keys are not set here (they would end up in the notebook): "
                "set TINYML_API_KEY or the provider's variable (e.g. OPENAI_API_KEY) before starting Jupyter."
            )
        if name not in self.settable():
            raise ConfigError(f"Unknown setting {name!r}; settable: {', '.join(self.settable())}.")
        trait = self.traits()[name]
        try:
            if isinstance(trait, Bool):
                converted: Any = value.strip().lower() in {"1", "true", "yes", "on"}
            elif isinstance(trait, Int):
                converted = int(value)
            elif isinstance(trait, Float):
                converted = float(value)
            else:
                converted = value
        except ValueError:
            raise ConfigError(f"{name} needs a {type(trait).__name__.lower()}, got {value!r}.") from None
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
