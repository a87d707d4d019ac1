"""Code templates of the offline recipes: the notebook code itself, kept as text files people can review.

Each `<name>.py.txt` is a `string.Template`: `$name` placeholders are filled by the recipe from what it found
in the notebook (variable names, shapes, chosen sizes); everything else is copied as written.
"""
from __future__ import annotations

from importlib import resources
from string import Template


def render(name: str, **values: object) -> str:
    """The template `name` (without `.py.txt`) with its placeholders filled; a missing value raises KeyError."""
    text = resources.files(__package__).joinpath(f"{name}.py.txt").read_text(encoding="utf-8")
    return Template(text).substitute({key: str(value) for key, value in values.items()}).strip() + "\n"
