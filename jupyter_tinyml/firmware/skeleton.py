"""The fixed firmware skeleton (templates/) and its application-glue regions.

A region is the text between two marker lines of the sketch, each a comment alone on its line:

    // >>> tinyml:app-setup
    ...the glue...
    // <<< tinyml:app-setup

`regions` reads them, `replace_regions` puts new glue inside them and leaves every other character as it was.
Both are pure: text in, text out.
"""
from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from string import Template

from ..errors import ConfigError

# The regions of templates/sketch.ino, in order (its header comment says what each is for).
REGION_NAMES = ("app-includes", "app-globals", "app-setup", "app-loop")

# The template of the sketch itself, the file that holds the regions.
SKETCH_TEMPLATE = "sketch.ino"

_MARKER = re.compile(r"^(?P<indent>[ \t]*)//[ \t]*(?P<kind>>>>|<<<)[ \t]*tinyml:(?P<name>[A-Za-z0-9_.-]+)[ \t]*$")
# Anything that looks like a marker must be one: a marker with text after it would silently not count.
_MARKER_LIKE = re.compile(r"(>>>|<<<)[ \t]*tinyml:")


def template(name: str) -> str:
    """The text of templates/<name>."""
    return resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")


def fill(name: str, **values: object) -> str:
    """templates/<name> with its `$placeholders` filled; a missing value raises KeyError."""
    return Template(template(name)).substitute({key: str(value) for key, value in values.items()})


@dataclass(frozen=True)
class _Region:
    name: str
    indent: str
    start: int  # index of the first line inside the region
    end: int  # index of the closing marker line


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _find(lines: list[str]) -> list[_Region]:
    found: list[_Region] = []
    open_name: str | None = None
    open_indent, open_line = "", 0
    for number, line in enumerate(lines):
        match = _MARKER.match(line.rstrip("\r\n"))
        if match is None:
            if _MARKER_LIKE.search(line):
                raise ConfigError(f"malformed skeleton: line {number + 1} looks like a region marker but is not one "
                                  f"({line.strip()!r}); a marker is `// >>> tinyml:<name>` alone on its line")
            continue
        name, kind = match["name"], match["kind"]
        if kind == ">>>":
            if open_name is not None:
                raise ConfigError(f"malformed skeleton: region {name!r} opens on line {number + 1} inside region "
                                  f"{open_name!r} (opened on line {open_line + 1}); regions do not nest")
            if any(region.name == name for region in found):
                raise ConfigError(f"malformed skeleton: region {name!r} appears twice (again on line {number + 1})")
            open_name, open_indent, open_line = name, match["indent"], number
        else:
            if open_name is None:
                raise ConfigError(f"malformed skeleton: region {name!r} closes on line {number + 1} but was never "
                                  "opened")
            if name != open_name:
                raise ConfigError(f"malformed skeleton: line {number + 1} closes region {name!r} but region "
                                  f"{open_name!r} (line {open_line + 1}) is open")
            found.append(_Region(name, open_indent, open_line + 1, number))
            open_name = None
    if open_name is not None:
        raise ConfigError(f"malformed skeleton: region {open_name!r} opened on line {open_line + 1} is never closed "
                          f"(`// <<< tinyml:{open_name}`)")
    return found


def regions(text: str) -> dict[str, str]:
    """The application regions of a sketch, in order: name -> the text between its two marker lines.

    A malformed skeleton (a marker alone, regions nested or repeated, a broken marker line) raises ConfigError.
    """
    lines = _lines(text)
    return {region.name: "".join(lines[region.start:region.end]) for region in _find(lines)}


def replace_regions(text: str, app: Mapping[str, str]) -> str:
    """`text` with each region named in `app` holding that code instead; everything else stays as it was.

    The code is dedented, then indented like the region's markers (so `setup()` glue lines up inside setup()).
    A name the skeleton lacks raises ConfigError naming the regions it has; code that contains a marker line too.
    """
    lines = _lines(text)
    found = {region.name: region for region in _find(lines)}
    unknown = [name for name in app if name not in found]
    if unknown:
        raise ConfigError(f"unknown region{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
                          f"the skeleton has {', '.join(found) or 'no regions'}")
    for name, code in app.items():
        if not isinstance(code, str):
            raise ConfigError(f"the code for region {name!r} is a {type(code).__name__}, not text")
        if _MARKER_LIKE.search(code):
            raise ConfigError(f"the code for region {name!r} contains a region marker (`>>> tinyml:` or "
                              "`<<< tinyml:`); give only the code that goes inside the region")
    # Replace from the last region up, so the earlier regions' line numbers stay valid.
    for region in sorted((found[name] for name in app), key=lambda region: region.start, reverse=True):
        lines[region.start:region.end] = _indented(app[region.name], region.indent)
    return "".join(lines)


def _indented(code: str, indent: str) -> list[str]:
    body = textwrap.dedent(code.replace("\r\n", "\n")).strip("\n")
    if not body.strip():
        return []
    return [(indent + line.rstrip() if line.strip() else "") + "\n" for line in body.split("\n")]


def default_app() -> dict[str, str]:
    """The regions as the skeleton ships them: the serial-driven default, where the protocol is the application."""
    return regions(template(SKETCH_TEMPLATE))
