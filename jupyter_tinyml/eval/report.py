"""The evaluation's results for people and programs: a terminal table, a README table, an HTML report, a JSON.

All four are drawn from the same stage rows (summary.stage_rows) and the evaluation's settings (the eval.json
dict), so they cannot disagree. The HTML page is one self-contained file (inline CSS and SVG, no script, nothing
fetched) that opens from disk or a CI artifact; every text that came from a run (first error lines are lines of
model-written code's tracebacks) is escaped by Jinja2's autoescape.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import Any, Mapping, Sequence

import jinja2

from .records import FAILURE_KINDS, OK, STAGES, RunRecord
from ..stages.outcome import first_line
from .summary import PUBLISHED, PUBLISHED_NOTE, PUBLISHED_SOURCE, Published, StageRow

TEXT_WIDTH = 119  # a terminal table that fits 120 columns without wrapping
NOT_REACHED = "not reached"
UNKNOWN_COST = "unknown"
DASH = "—"

# One colour per outcome, told apart on white; failures are also drawn as squares, so colour is not the only cue.
KIND_COLOURS: dict[str, str] = {
    OK: "#1a7f37",
    "no_code": "#6e7781",
    "model_error": "#8250df",
    "check_failure": "#bf8700",
    "runtime_error": "#cf222e",
    "missing_result": "#fb8500",
    "accuracy_floor": "#0969da",
    "build_error": "#953800",
    "device_disagreement": "#bf3989",
}
OTHER_COLOUR = "#24292f"  # a kind this version does not know (a newer runs.jsonl)


# ---------------------------------------------------------------------------------------------- figures as text

def kind_label(kind: str) -> str:
    return "ok" if kind == OK else FAILURE_KINDS.get(kind, kind.replace("_", " "))


def percent(share: float) -> str:
    """A share as a whole percentage; never 0% or 100% unless it is exactly that (29/30 is not "100%")."""
    if 0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1:
        return ">99%"
    return f"{share * 100:.0f}%"


def interval(ci: Sequence[float]) -> str:
    low, high = ci
    return f"{low * 100:.0f}–{high * 100:.0f}%"


def tokens(count: float) -> str:
    return f"{round(count):,}"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def cost(value: float | None) -> str:
    if value is None:
        return UNKNOWN_COST
    if 0 < value < 0.0001:
        return "<$0.0001"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def published_text(published: Published) -> str:
    return (f"{percent(published.success_rate)} · {published.seconds:.1f} s · ~{published.tokens:,} tokens "
            f"(their {published.their_stage}, {published.runs} runs)")


def cut(text: str, width: int) -> str:
    """`text` on one line of at most `width` characters, an ellipsis where it was cut."""
    line = " ".join(text.split())
    return line if len(line) <= width else line[:max(width - 1, 0)] + "…"


def settings_parts(settings: Mapping[str, Any]) -> list[str]:
    """The settings a reader needs beside the figures, as short "name value" parts."""
    parts = [f"model {settings.get('model', '?')}"]
    if settings.get("api_base"):
        parts.append(f"api_base {settings['api_base']}")
    parts.append(f"runs {settings.get('runs', '?')}")
    notebooks = [PurePath(str(path)).stem for path in settings.get("notebooks") or []]
    if notebooks:
        parts.append("notebooks " + ", ".join(notebooks))
    if "accuracy_floor" in settings:
        parts.append(f"accuracy floor {settings['accuracy_floor']:g}")
    if "int8_margin" in settings:
        parts.append(f"int8 margin {settings['int8_margin']:g}")
    return parts


def wrap_parts(parts: Sequence[str], width: int, separator: str = " · ") -> list[str]:
    """Parts joined by `separator` into lines of at most `width`, breaking only between parts."""
    lines: list[str] = []
    for part in (cut(part, width) for part in parts):
        if lines and len(lines[-1]) + len(separator) + len(part) <= width:
            lines[-1] += separator + part
        else:
            lines.append(part)
    return lines


# The table's columns, shared by the README table and the HTML report (the terminal has its own, shorter heads).
COLUMNS = ("Stage", "Success", "95% interval", "Repairs (mean/max)", "Prompt tokens", "Completion tokens",
           "Model latency", "Stage time", "Cost per run")


def row_cells(row: StageRow) -> list[str]:
    """One row of COLUMNS: means per run that reached the stage."""
    if not row.reached:
        return [row.stage, NOT_REACHED] + [DASH] * (len(COLUMNS) - 2)
    return [row.stage, f"{row.successes}/{row.n} ({percent(row.rate)})", interval(row.ci),
            f"{row.repairs_mean:.1f} / {row.repairs_max}", tokens(row.prompt_tokens_mean),
            tokens(row.completion_tokens_mean), seconds(row.model_seconds_mean), seconds(row.stage_seconds_mean),
            cost(row.cost_mean)]


# ---------------------------------------------------------------------------------------------- terminal

# (head, width, right-aligned) per terminal column; the widths hold the widest expected value.
TEXT_COLUMNS = (("stage", 8, False), ("success", 11, True), ("95% CI", 9, True), ("repairs", 8, True),
                ("prompt", 8, True), ("completion", 10, True), ("model s", 8, True), ("stage s", 8, True),
                ("cost/run", 9, True))


def _text_line(cells: Sequence[str]) -> str:
    out = []
    for text, (_, width, right) in zip(cells, TEXT_COLUMNS):
        out.append(text.rjust(width) if right else text.ljust(width))
    return "  ".join(out).rstrip()


def text_table(rows: Sequence[StageRow], settings: Mapping[str, Any]) -> str:
    """The table for a terminal (under 120 columns): settings, one line per stage with the published figures
    under it, then each stage's failures with their most common first error line."""
    lines = wrap_parts(settings_parts(settings), TEXT_WIDTH)
    lines.append("")
    lines.append(_text_line([head for head, _, _ in TEXT_COLUMNS]))
    stage_width = TEXT_COLUMNS[0][1] + 2
    for row in rows:
        if row.reached:
            lines.append(_text_line([row.stage, f"{row.successes}/{row.n} {percent(row.rate)}", interval(row.ci),
                                     f"{row.repairs_mean:.1f}/{row.repairs_max}", tokens(row.prompt_tokens_mean),
                                     tokens(row.completion_tokens_mean), f"{row.model_seconds_mean:.1f}",
                                     f"{row.stage_seconds_mean:.1f}", cost(row.cost_mean)]))
        else:
            lines.append(f"{row.stage:<{stage_width}}{NOT_REACHED}")
        if row.published is not None:
            lines.append(" " * stage_width + cut("published: " + published_text(row.published),
                                                 TEXT_WIDTH - stage_width))
    lines.append("repairs: mean/max answers after the first; tokens, seconds (model latency, whole stage) and cost: "
                 "means per run")
    lines += [f"published: {PUBLISHED_SOURCE}.", PUBLISHED_NOTE]
    failed = [row for row in rows if row.failures]
    if failed:
        lines.append("")
        lines.append("failures (count, most common first error line)")
    for row in failed:
        for index, (kind, count) in enumerate(row.failures.items()):
            head = f"{row.stage if index == 0 else '':<{TEXT_COLUMNS[0][1]}}  {kind_label(kind):<27} {count:>4}  "
            lines.append(head + cut(row.first_errors.get(kind, ""), TEXT_WIDTH - len(head)))
        if row.fallbacks:
            lines.append(f"{'':<{stage_width}}{row.fallbacks} run(s) went on with the offline recipe for this stage")
    return "\n".join(_wrap_long(line) for line in lines) + "\n"


def _wrap_long(line: str) -> str:
    """A prose line broken at spaces to fit the terminal (table lines already fit)."""
    if len(line) <= TEXT_WIDTH:
        return line
    return "\n".join(wrap_parts(line.split(" "), TEXT_WIDTH, separator=" "))


# ---------------------------------------------------------------------------------------------- README

def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[StageRow], settings: Mapping[str, Any]) -> str:
    """The table as GitHub markdown (for the README), with the published figures in their own column and their
    source under the table."""
    heads = (*COLUMNS, "Published¹")
    lines = [_markdown_cell(" · ".join(settings_parts(settings))), "",
             "| " + " | ".join(heads) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(heads) - 2) + [":---"]) + "|"]
    for row in rows:
        published = published_text(row.published) if row.published is not None else DASH
        lines.append("| " + " | ".join(_markdown_cell(cell) for cell in [*row_cells(row), published]) + " |")
    lines += ["", _markdown_cell(f"¹ {PUBLISHED_SOURCE}. {PUBLISHED_NOTE}")]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- HTML

@dataclass(frozen=True)
class Mark:
    x: float
    y: float
    colour: str
    failed: bool
    title: str


@dataclass(frozen=True)
class Failure:
    run: int  # the run's place in the records, as on the plot's x axis
    label: str
    kind: str
    first_error: str
    fallback: bool


@dataclass(frozen=True)
class Plot:
    """One stage's plot, in SVG user units: the marks and axes are computed here, drawn by the template."""

    stage: str
    row: StageRow
    marks: list[Mark]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str]]
    legend: list[tuple[str, str, int]]  # (label, colour, count)
    failures: list[Failure]
    rate_x: float
    ci_x: tuple[float, float]
    published_x: float | None


WIDTH, HEIGHT = 720, 264
LEFT, RIGHT, TOP, BOTTOM = 64, 704, 14, 180  # the plot area
STRIP_Y, STRIP_HEIGHT = 224, 12  # the success-rate strip under the x axis


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value` (at least 10, so the middle tick is a whole
    number of tokens): a round top for the y axis."""
    if value <= 10:
        return 10.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _strip_x(share: float) -> float:
    return LEFT + share * (RIGHT - LEFT)


def stage_plot(stage: str, records: Sequence[RunRecord], row: StageRow) -> Plot:
    """Per run that reached `stage`: x its place among all runs (the same run sits at the same x on every
    stage's plot), y the tokens of the stage's ask, colour its outcome."""
    count = max(len(records), 1)
    reached = [(place, record, result) for place, record in enumerate(records, 1)
               if (result := record.stage(stage)) is not None]
    top = nice_ceiling(max((result.tokens for _, _, result in reached), default=0))

    def x_of(place: int) -> float:
        return LEFT + (place - 0.5) / count * (RIGHT - LEFT)

    def y_of(value: float) -> float:
        return BOTTOM - value / top * (BOTTOM - TOP)

    marks: list[Mark] = []
    failures: list[Failure] = []
    counts = dict.fromkeys([OK, *FAILURE_KINDS], 0)  # the legend's order: ok, then the failure kinds' order
    for place, record, result in reached:
        label = f"{record.notebook} #{record.run}"
        colour = KIND_COLOURS.get(result.kind, OTHER_COLOUR)
        marks.append(Mark(x_of(place), y_of(result.tokens), colour, not result.ok,
                          f"run {place} ({label}): {kind_label(result.kind)}, {result.tokens:,} tokens"
                          + (f", {result.repairs} repair(s)" if result.repairs else "")))
        counts[result.kind] = counts.get(result.kind, 0) + 1
        if not result.ok:
            failures.append(Failure(place, label, result.kind, first_line(result.first_error), result.fallback))
    x_ticks = sorted({(x_of(place), str(place)) for place in (1, count) if records})
    return Plot(
        stage=stage, row=row, marks=marks,
        y_ticks=[(y_of(value), tokens(value)) for value in (0, top / 2, top)],
        x_ticks=x_ticks,
        legend=[(kind_label(kind), KIND_COLOURS.get(kind, OTHER_COLOUR), number) for kind, number in counts.items()
                if number],
        failures=failures,
        rate_x=_strip_x(row.rate), ci_x=(_strip_x(row.ci[0]), _strip_x(row.ci[1])),
        published_x=_strip_x(row.published.success_rate) if row.published is not None else None,
    )


def _setting_text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    return str(value)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    environment = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=True,
                                     trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters.update(percent=percent, interval=interval, kind_label=kind_label)
    return environment.get_template("report.html.j2")


def html_report(records: Sequence[RunRecord], rows: Sequence[StageRow], settings: Mapping[str, Any]) -> str:
    """One self-contained HTML page: the settings, the table, and per stage a plot of every run's tokens coloured
    by outcome, with the success rate and its interval, and each failure's first error line under it."""
    by_stage = {row.stage: row for row in rows}
    plots = [stage_plot(stage, records, by_stage[stage]) for stage in STAGES if stage in by_stage]
    return _template().render(
        title=f"jupyter-tinyml evaluation: {settings.get('model', '?')}",
        settings=[(name, _setting_text(value)) for name, value in settings.items()],
        heads=(*COLUMNS, "Published¹"),
        table=[(*row_cells(row), published_text(row.published) if row.published is not None else DASH)
               for row in rows],
        plots=plots, runs=len(records), source=PUBLISHED_SOURCE, note=PUBLISHED_NOTE,
        W=WIDTH, H=HEIGHT, LEFT=LEFT, RIGHT=RIGHT, TOP=TOP, BOTTOM=BOTTOM, STRIP_Y=STRIP_Y,
        STRIP_HEIGHT=STRIP_HEIGHT, OK_COLOUR=KIND_COLOURS[OK], NOT_REACHED=NOT_REACHED)




# ---------------------------------------------------------------------------------------------- JSON

def results_json(records: Sequence[RunRecord], rows: Sequence[StageRow], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Everything the report shows, as JSON-serialisable data: the settings, the stage rows, every run and the
    published figures with their source."""
    return {
        "settings": dict(settings),
        "stages": [row.to_json() for row in rows],
        "runs": [record.to_json() for record in records],
        "published": {"source": PUBLISHED_SOURCE, "note": PUBLISHED_NOTE,
                      "stages": {stage: asdict(figures) for stage, figures in PUBLISHED.items()}},
    }
