"""The quantization report: a comparison's figures as HTML (from the templates in templates/) and as text.

`report_html` draws the whole report for nbconvert, GitHub and a result's `_repr_html_`; the QuantizationReport
widget draws the same sections one by one (`section_html`) into its tabs; `report_text` is the plain-text form.
The templates are escaped by Jinja2's autoescape; this module computes what they show (figures, colours, rows)
and never imports the comparison module: it reads the result by its fields (`Comparison` below says which).

Everything is inline-styled (no CSS classes, scripts or fonts to load) and leaves the text colour to the
page, so it reads in JupyterLab's light and dark themes; badges carry their own background. Every figure
is written as text too, so the report still reads where a sanitizer strips the styles.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, Sequence

import jinja2

from ..boards import Board
from ..budget import Budget, check_budget
from .inspection import ModelInspection

IDEAL_STEPS = 1 / math.sqrt(12)  # RMSE of rounding to the nearest step: the best a quantized tensor can do
LOST_STEPS = 1.0  # around a whole step of error or more, a tensor loses information
TOP_LAYERS = 10
TIGHT_SHARE = 0.75  # above this share of flash or RAM, an estimate a little off would not fit

GREEN, AMBER, RED = "#1a7f37", "#9a6700", "#cf222e"  # white text on each has contrast >= 4.5
BLUE_RGB, RED_RGB = (47, 111, 222), (207, 34, 46)
CHANGED = "#8250df"  # outline of confusion cells where int8 differs from float
GRID = "rgba(128,128,128,0.28)"
TRACK = "rgba(128,128,128,0.18)"
MUTED = "opacity:0.72"
NUMBERS = "font-variant-numeric:tabular-nums"
# JupyterLab centres tables and fixes their layout in rendered HTML; these undo that.
TABLE = "border-collapse:collapse;margin:0;table-layout:auto;border:none"

# What the report's arena is, named wherever it is shown: the portable C target's "static memory plan" is another
# figure (no interpreter, buffers planned at compile time), and the DeployPanel names that one.
ARENA_NAME = "TFLite Micro tensor arena"

SECTIONS = ("headline", "confusion", "per_class", "layers", "board", "notes")


class LayerFigures(Protocol):
    """One tensor's error, as model.layer_errors.LayerError holds it."""

    @property
    def tensor(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def rmse_over_scale(self) -> float: ...
    @property
    def scale(self) -> float: ...
    @property
    def num_elements(self) -> int: ...
    @property
    def layer(self) -> str: ...  # the Keras layer's name ("" when not known)


class Comparison(Protocol):
    """The fields of model.compare.QuantizationComparison the report reads."""

    @property
    def task(self) -> str: ...
    @property
    def n_samples(self) -> int: ...
    @property
    def float_bytes(self) -> int: ...
    @property
    def quantized_bytes(self) -> int: ...
    @property
    def quantization(self) -> str: ...
    @property
    def float_accuracy(self) -> float | None: ...
    @property
    def quantized_accuracy(self) -> float | None: ...
    @property
    def agreement(self) -> float | None: ...
    @property
    def class_names(self) -> Sequence[str]: ...
    @property
    def per_class_float(self) -> Sequence[float]: ...
    @property
    def per_class_quantized(self) -> Sequence[float]: ...
    @property
    def confusion_float(self) -> Any: ...
    @property
    def confusion_quantized(self) -> Any: ...
    @property
    def float_mae(self) -> float | None: ...
    @property
    def quantized_mae(self) -> float | None: ...
    @property
    def float_rmse(self) -> float | None: ...
    @property
    def quantized_rmse(self) -> float | None: ...
    @property
    def layer_errors(self) -> Sequence[LayerFigures]: ...
    @property
    def notes(self) -> Sequence[str]: ...


# ---------------------------------------------------------------------------------------------- numbers

def format_bytes(count: int) -> str:
    """1536 -> '1.5 KB' (binary units, as the Arduino tools count)."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.2f} MB"


def percent(share: float | None) -> str:
    """0.975 -> '97.5%'; None or NaN (a class with no test sample) -> '—'."""
    if share is None or math.isnan(share):
        return "—"
    return f"{share * 100:.1f}%"


def signed(value: float, digits: int = 1, minus: str = "−") -> str:
    """-0.31 -> '−0.3', 2 -> '+2.0', 0.04 -> '±0.0' (no sign a reader would take for a change)."""
    text = f"{value:+.{digits}f}"
    if float(text) == 0:
        return "±" + text[1:]
    return text.replace("-", minus) if text.startswith("-") else text


def accuracy_delta_points(result: Comparison) -> float | None:
    """Quantized minus float accuracy in percentage points, rounded as shown (so colour and text agree)."""
    if result.float_accuracy is None or result.quantized_accuracy is None:
        return None
    return round((result.quantized_accuracy - result.float_accuracy) * 100, 1)


def accuracy_colour(delta_points: float) -> str:
    """Green when int8 loses at most 1 point, amber up to 3, red beyond. A gain is green."""
    drop = max(0.0, -delta_points)
    return GREEN if drop <= 1.0 else AMBER if drop <= 3.0 else RED


def error_change(float_value: float | None, quantized_value: float | None) -> float | None:
    """Relative change of a regression error (0.05 = 5% worse)."""
    if float_value is None or quantized_value is None:
        return None
    if float_value == 0:
        return 0.0 if quantized_value == 0 else math.inf
    return (quantized_value - float_value) / float_value


def error_colour(change: float) -> str:
    """Regression: green when the error grows at most 5%, amber up to 15%, red beyond."""
    return GREEN if change <= 0.05 else AMBER if change <= 0.15 else RED


def layer_colour(steps: float) -> str:
    return GREEN if steps < 0.5 else AMBER if steps < LOST_STEPS else RED


def costs_agreement(result: Comparison) -> bool:
    """Whether quantization changed any prediction: a classifier's agreement below 100% (a regression model has no
    agreement, so its error always counts)."""
    return result.task != "classification" or result.agreement is None or result.agreement < 1.0


def worst_layer_colour(result: Comparison, steps: float) -> str:
    """The headline's worst-layer badge, coloured by what the error costs: green when no prediction changed (a
    large error that flips nothing is a note, not an alarm), else by its size in steps."""
    return layer_colour(steps) if costs_agreement(result) else GREEN


def worst_layer_title(result: Comparison, steps: float) -> str:
    if not costs_agreement(result):
        return (f"{steps:.2f} steps of rounding error, and no prediction changed: int8 and float agree on every test "
                "sample")
    return "RMSE in quantization steps — green: below 0.5, amber: below 1, red: 1 step or more"


def share_colour(share: float) -> str:
    """A budget bar: red over the budget, amber when tight, else green."""
    return RED if share > 1 else AMBER if share > TIGHT_SHARE else GREEN


def size_ratio_text(float_bytes: int, quantized_bytes: int, times: str = "×") -> str:
    if quantized_bytes <= 0 or float_bytes <= 0:
        return ""
    ratio = float_bytes / quantized_bytes
    if ratio >= 1.05:
        return f"{ratio:.1f}{times} smaller"
    if ratio <= 0.95:
        return f"{1 / ratio:.1f}{times} larger"
    return "about the same size"


def quantized_label(result: Comparison) -> str:
    """What the quantized model is called in headers: its mode ("int8", "float16", ...)."""
    return result.quantization if result.quantization and result.quantization != "none" else "converted"


def layer_name(error: LayerFigures) -> str:
    """The name a student knows the layer by: the Keras layer (as model.summary() prints it) when the comparison
    found it, else the layer part of the TFLite tensor's name."""
    return getattr(error, "layer", "") or short_tensor_name(error.tensor)


def short_tensor_name(name: str) -> str:
    """The layer a TFLite tensor belongs to: 'sequential/conv2d_1/Relu;sequential/...' -> 'conv2d_1'.

    TFLite joins the names of fused ops with ';' and prefixes the model's scope; students know the layer name.
    """
    first = name.split(";")[0]
    parts = [part for part in first.split("/") if part]
    if len(parts) >= 3:
        return "/".join(parts[1:-1])
    if len(parts) == 2:
        return parts[0]
    return first or name


def worst_layer(result: Comparison) -> LayerFigures | None:
    return result.layer_errors[0] if result.layer_errors else None


def class_names_of(result: Comparison) -> list[str]:
    count = len(result.per_class_float)
    if result.confusion_float is not None:
        count = max(count, len(result.confusion_float))
    names = [str(name) for name in result.class_names]
    return names + [str(index) for index in range(len(names), count)]


def class_counts(result: Comparison) -> list[int] | None:
    """Test samples per class (rows of the float confusion matrix)."""
    if result.confusion_float is None:
        return None
    return [int(sum(row)) for row in result.confusion_float]


def changed_cells(result: Comparison) -> list[tuple[int, int, int, int]]:
    """(true, predicted, float count, int8 count) for every confusion cell where the two models differ."""
    if result.confusion_float is None or result.confusion_quantized is None:
        return []
    cells = []
    for row, (float_row, quantized_row) in enumerate(zip(result.confusion_float, result.confusion_quantized)):
        for column, (before, after) in enumerate(zip(float_row, quantized_row)):
            if int(before) != int(after):
                cells.append((row, column, int(before), int(after)))
    return cells


def mistake_changes(result: Comparison) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """Off-diagonal changes as (true, predicted, how many): mistakes int8 adds, and mistakes it no longer makes."""
    names = class_names_of(result)
    added, avoided = [], []
    for row, column, before, after in changed_cells(result):
        if row != column:
            (added if after > before else avoided).append((names[row], names[column], abs(after - before)))
    return sorted(added, key=lambda m: -m[2]), sorted(avoided, key=lambda m: -m[2])


def per_class_rows(result: Comparison) -> list[tuple[str, int | None, float, float, float | None]]:
    """(class, samples, float, int8, delta points) per class, the largest drop first.

    A class without test samples has NaN recall and no delta; it goes last.
    """
    names = class_names_of(result)
    counts = class_counts(result)
    rows = []
    for index, (before, after) in enumerate(zip(result.per_class_float, result.per_class_quantized)):
        count = counts[index] if counts and index < len(counts) else None
        measured = not (math.isnan(before) or math.isnan(after))
        rows.append((names[index], count, before, after, round((after - before) * 100, 1) if measured else None))
    return sorted(rows, key=lambda row: (row[4] is None, row[4] or 0.0, 0.0 if math.isnan(row[2]) else row[2]))


def typical_class_size(rows: Sequence[tuple[str, int | None, float, float, float | None]]) -> int | None:
    """The median number of test samples per class, for the "one sample is N points" hint."""
    counts = sorted(count for _, count, *_ in rows if count)
    return counts[len(counts) // 2] if counts else None


def confusion_cell_style(count: int, row_total: int, diagonal: bool) -> str:
    """Heatmap colour of one confusion cell: blue for correct, red for mistakes, by share of the true class."""
    share = count / row_total if row_total else 0.0
    if count == 0:
        return f"{MUTED};opacity:0.35"
    if diagonal:
        alpha, (r, g, b) = 0.15 + 0.75 * share, BLUE_RGB
    else:
        alpha, (r, g, b) = 0.22 + 0.68 * min(1.0, share * 4), RED_RGB  # mistakes are rare: make them show
    text = "color:#fff;" if alpha > 0.55 else ""
    return f"background:rgba({r},{g},{b},{alpha:.2f});{text}"


def unsupported_ops_of(inspection: ModelInspection | None) -> list[str]:
    if inspection is None:
        return []
    names = list(inspection.unsupported_ops)
    names += [op.name for op in inspection.ops if not op.supported_by_tflm and op.name not in names]
    return names


def op_labels(inspection: ModelInspection) -> list[tuple[str, bool]]:
    """(text, unsupported) per op kind: "CONV_2D ×2"; unsupported ops the op list lacks come last."""
    unsupported = unsupported_ops_of(inspection)
    labels = [(op.name + (f" ×{op.count}" if op.count > 1 else ""), op.name in unsupported) for op in inspection.ops]
    listed = {op.name for op in inspection.ops}
    return labels + [(name, True) for name in unsupported if name not in listed]


def worst_layers_sentence(layer_errors: Sequence[LayerFigures], result: Comparison | None = None) -> str:
    """One plain sentence naming the worst layers and what their numbers mean (and, given the comparison, whether
    the error changed any prediction)."""
    if not layer_errors:
        return ""
    worst = layer_errors[0]
    named = [error for error in layer_errors[:3] if error.rmse_over_scale >= 0.5] or [worst]
    listed = ", ".join(f"{layer_name(error)} ({error.op}) {error.rmse_over_scale:.2f} steps"
                       for error in named)
    if worst.rmse_over_scale < 0.5:
        return (f"Worst: {listed} — every layer is close to the ideal rounding error ({IDEAL_STEPS:.2f} steps); "
                "values around 1 step or more would lose information.")
    sentence = (f"Worst: {listed} — values around 1 step or more lose information; "
                f"{IDEAL_STEPS:.2f} is the ideal rounding error.")
    if worst.rmse_over_scale >= LOST_STEPS:
        if result is not None and not costs_agreement(result):
            return sentence + " It changed no prediction here (agreement 100%)."
        sentence += (" Large errors usually come from values outside the calibrated range or error carried from "
                     "earlier layers: calibrate with more representative samples (a few hundred, every class).")
    return sentence


# ---------------------------------------------------------------------------------------------- budget

@dataclass(frozen=True)
class BudgetRow:
    """Flash or RAM of the one budget verdict, as the report draws it.

    needed: the model's part plus the firmware's (None when the part is unknown: an unmeasured arena);
    part: "model" or "tensor arena", part_bytes its exact size; rest_bytes the firmware's estimate.
    """

    what: str  # "Flash" | "RAM"
    needed: int | None
    available: int
    part: str
    part_bytes: int | None
    rest_bytes: int
    detail: str  # how the part was obtained, or why it is unknown

    @property
    def share(self) -> float:
        return self.needed / self.available if self.needed is not None and self.available else math.inf

    @property
    def part_share(self) -> float:
        return self.part_bytes / self.available if self.part_bytes is not None and self.available else math.inf

    @property
    def over(self) -> bool:
        return self.needed is not None and self.needed > self.available

    @property
    def tight(self) -> bool:
        return self.needed is not None and not self.over and self.needed > TIGHT_SHARE * self.available


def board_budget(result: Comparison, inspection: ModelInspection | None, board: Board) -> Budget:
    """The one budget verdict (the same `write_project` applies): the model and the firmware on `board`."""
    if inspection is not None:
        return inspection.budget_on(board)
    # Without an inspection the arena (and the input the serial line carries) is unknown: RAM stays unknown.
    return check_budget(result.quantized_bytes, None, board, input_bytes=0)


def budget_rows(result: Comparison, inspection: ModelInspection | None, board: Board) -> list[BudgetRow]:
    """Flash and RAM from `board_budget`, each split into the model's exact part and the firmware's estimate."""
    budget = board_budget(result, inspection, board)
    flash = BudgetRow("Flash", budget.flash_needed, budget.flash_available, "model", budget.model_flash_bytes,
                      budget.flash_needed - budget.model_flash_bytes, "exact")
    arena = budget.arena_bytes
    if inspection is not None and inspection.arena_measured_bytes is not None and inspection.arena_margin_bytes:
        detail = (f"{format_bytes(inspection.arena_measured_bytes)} measured"
                  f" + {format_bytes(inspection.arena_margin_bytes)} margin")
    elif arena is not None:
        detail = "measured"
    elif inspection is not None and inspection.arena_error:
        detail = f"tensor arena not measured: {inspection.arena_error}"
    else:
        detail = "tensor arena not measured: pass inspect(tflite_model) to see it"
    needed = None if arena is None else budget.ram_needed
    ram = BudgetRow("RAM", needed, budget.ram_available, ARENA_NAME, arena,
                    0 if needed is None or arena is None else needed - arena, detail)
    return [flash, ram]


def budget_verdict(rows: Sequence[BudgetRow], board: Board) -> tuple[str, str]:
    """(colour, one sentence) for the headline: fits, tight, fits in flash with the RAM unknown, or does not fit."""
    over = [row.what for row in rows if row.over]
    tight = [row.what for row in rows if row.tight]
    unknown = [row.what for row in rows if row.needed is None]
    if over:
        return RED, f"does not fit {board.name}: {' and '.join(over)} over budget"
    if unknown:
        tight_text = f" (tight on {' and '.join(tight)})" if tight else ""
        return AMBER, f"fits {board.name}{tight_text}; {' and '.join(unknown)} unknown until the arena is measured"
    if tight:
        return AMBER, f"fits {board.name}, tight on {' and '.join(tight)}"
    return GREEN, f"fits {board.name}"


# ---------------------------------------------------------------------------------------------- how obtained

def how_obtained(result: Comparison, inspection: ModelInspection | None = None, board: Board | None = None
                 ) -> list[str]:
    """How each figure was obtained, one sentence each: which runtime and kernels computed it, on how many samples,
    and the arena's measurement and margin."""
    label = quantized_label(result)
    what = "Accuracy and agreement" if result.task == "classification" else "MAE and RMSE"
    lines = [f"{what}: the float model run by Keras and the {label} .tflite by LiteRT (TensorFlow Lite's Python "
             f"interpreter, its optimized CPU kernels) on the same {result.n_samples} test samples"]
    lines += [note[:1].upper() + note[1:] for note in result.notes]
    if inspection is not None and inspection.arena_measured_bytes is not None:
        margin = inspection.arena_margin_bytes or 0
        scratch = inspection.kernel_scratch_bytes
        lines.append(
            f"{ARENA_NAME}: {inspection.arena_measured_bytes:,} B measured by running the model with TFLite Micro's "
            f"reference kernels (its Python runtime) on this computer, + a {margin:,} B margin ({margin - scratch:,} B "
            "for a board library a little older or newer than the host's and for alignment"
            + (f", {scratch:,} B for the scratch of the board's optimized CMSIS-NN kernels" if scratch else "") + ")")
    if board is not None:
        lines.append(f"Firmware beside the model on the {board.name}: an estimate for its family (the TFLite Micro "
                     "library, the Arduino core, stack and serial protocol); the model's own parts are exact")
    return lines


# ---------------------------------------------------------------------------------------------- HTML

@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    environment.filters.update(bytes=format_bytes, percent=percent, signed=signed, short=short_tensor_name)
    environment.globals.update(
        GREEN=GREEN, AMBER=AMBER, RED=RED, CHANGED=CHANGED, GRID=GRID, TRACK=TRACK, MUTED=MUTED, NUMBERS=NUMBERS,
        TABLE=TABLE, IDEAL_STEPS=IDEAL_STEPS, LOST_STEPS=LOST_STEPS, TOP_LAYERS=TOP_LAYERS,
        accuracy_delta_points=accuracy_delta_points, accuracy_colour=accuracy_colour, error_change=error_change,
        error_colour=error_colour, layer_colour=layer_colour, share_colour=share_colour,
        size_ratio_text=size_ratio_text, quantized_label=quantized_label, worst_layer=worst_layer,
        class_names_of=class_names_of, changed_cells=changed_cells, mistake_changes=mistake_changes,
        per_class_rows=per_class_rows, typical_class_size=typical_class_size,
        confusion_cell_style=confusion_cell_style, unsupported_ops_of=unsupported_ops_of, op_labels=op_labels,
        worst_layers_sentence=worst_layers_sentence, budget_rows=budget_rows, budget_verdict=budget_verdict,
        worst_layer_colour=worst_layer_colour, worst_layer_title=worst_layer_title, layer_name=layer_name,
        how_obtained=how_obtained, ARENA_NAME=ARENA_NAME,
        isnan=math.isnan, min=min, max=max, round=round)
    return environment


def _render(template: str, result: Comparison, inspection: ModelInspection | None, board: Board | None,
            *, with_picker: bool = False, **values: Any) -> str:
    rows = budget_rows(result, inspection, board) if board is not None else []
    return _templates().get_template(template).render(
        result=result, inspection=inspection, board=board, budget=rows, with_picker=with_picker, **values)


def section_html(section: str, result: Comparison, inspection: ModelInspection | None = None,
                 board: Board | None = None, *, with_picker: bool = False) -> str:
    """One section of the report (one of SECTIONS) in the report's outer element: what a widget tab shows.
    with_picker: the section sits under the widget's board dropdown, so it points there instead of at `board=`."""
    if section not in SECTIONS:
        raise ValueError(f"Unknown report section {section!r}: use one of {', '.join(SECTIONS)}")
    return _render("root.html.j2", result, inspection, board, section=f"{section}.html.j2", with_picker=with_picker)


def report_html(result: Comparison, inspection: ModelInspection | None = None, board: Board | None = None) -> str:
    """The whole report as one self-contained HTML fragment (inline styles only, no scripts)."""
    return _render("report.html.j2", result, inspection, board)


# ---------------------------------------------------------------------------------------------- text

def headline_text(result: Comparison) -> str:
    """One line: 'int8 vs float: accuracy 97.5% -> 97.2% (-0.3 points), agreement 99.2%, 71.7 KB -> 20.6 KB'."""
    label = quantized_label(result)
    parts = []
    delta = accuracy_delta_points(result)
    if result.task == "classification" and delta is not None:
        parts.append(f"accuracy {percent(result.float_accuracy)} -> {percent(result.quantized_accuracy)} "
                     f"({signed(delta, minus='-')} points)")
        if result.agreement is not None:
            parts.append(f"agreement {percent(result.agreement)}")
    elif result.float_mae is not None and result.quantized_mae is not None:
        parts.append(f"MAE {result.float_mae:.4g} -> {result.quantized_mae:.4g}")
    parts.append(f"{format_bytes(result.float_bytes)} -> {format_bytes(result.quantized_bytes)}")
    return f"{label} vs float: " + ", ".join(parts)


def report_text(result: Comparison, inspection: ModelInspection | None = None, board: Board | None = None) -> str:
    """The report for terminals and plain-text outputs: headline, what changed, worst layers, board budget."""
    label = quantized_label(result)
    lines = [f"Quantization report: {label} vs float ({result.task}, {result.n_samples} test samples)"]
    if result.task == "classification":
        delta = accuracy_delta_points(result)
        if delta is not None:
            verdict = {GREEN: "within 1 point", AMBER: "within 3 points", RED: "more than 3 points lost"}[accuracy_colour(delta)]
            lines.append(f"  accuracy   float {percent(result.float_accuracy)}  {label} {percent(result.quantized_accuracy)}"
                         f"  ({signed(delta, minus='-')} points, {verdict})")
        if result.agreement is not None:
            same = round(result.agreement * result.n_samples)
            lines.append(f"  agreement  {percent(result.agreement)} (same class on {same} of {result.n_samples})")
    else:
        for name, before, after in (("MAE", result.float_mae, result.quantized_mae),
                                    ("RMSE", result.float_rmse, result.quantized_rmse)):
            change = error_change(before, after)
            if change is not None:
                lines.append(f"  {name:<10} float {before:.4g}  {label} {after:.4g}  ({signed(change * 100, minus='-')}%)")
    lines.append(f"  size       {format_bytes(result.float_bytes)} -> {format_bytes(result.quantized_bytes)}"
                 f" ({size_ratio_text(result.float_bytes, result.quantized_bytes, times='x')})")

    drops = [row for row in per_class_rows(result) if row[4] is not None and row[4] < 0]
    if drops:
        lines.append("  per class  largest drops: " + ", ".join(f"{name} {signed(delta, minus='-')} points"
                                                                for name, _, _, _, delta in drops[:3]))
    elif result.per_class_float:
        lines.append("  per class  no class lost accuracy")
    added, avoided = mistake_changes(result)
    for heading_text, mistakes in ((f"mistakes {label} adds", added), (f"mistakes {label} avoids", avoided)):
        if mistakes:
            listed = ", ".join(f"{true}->{predicted}" + (f" x{count}" if count > 1 else "")
                               for true, predicted, count in mistakes[:6])
            more = f", {len(mistakes) - 6} more" if len(mistakes) > 6 else ""
            lines.append(f"  {heading_text} (true->predicted): {listed}{more}")
    if result.layer_errors:
        lines.append(f"  layer error (RMSE in quantization steps; ideal {IDEAL_STEPS:.2f}, around 1 or more loses information):")
        for error in result.layer_errors[:5]:
            lines.append(f"    {error.rmse_over_scale:5.2f}  {layer_name(error)} ({error.op}, TFLite "
                         f"{short_tensor_name(error.tensor)})")
        if len(result.layer_errors) > 5:
            lines.append(f"    ... {len(result.layer_errors) - 5} more")
        lines.append("  " + worst_layers_sentence(result.layer_errors, result))
    else:
        lines.append("  layer error: not measured")

    if board is not None:
        rows = budget_rows(result, inspection, board)
        lines.append(f"  board      {budget_verdict(rows, board)[1]}")
        lines += [f"    {budget_line_text(row)}" for row in rows]
    unsupported = unsupported_ops_of(inspection)
    if unsupported:
        lines.append(f"  NOT SUPPORTED by TFLite Micro: {', '.join(unsupported)} (the firmware cannot run this model)")
    lines.append("  how these figures were obtained:")
    lines += [f"    - {text}" for text in how_obtained(result, inspection, board)]
    return "\n".join(lines)


def budget_line_text(row: BudgetRow) -> str:
    """'Flash 182.1 KB of 1.00 MB (17.8%): model 22.1 KB of 1.00 MB (2.2%) + firmware ~160.0 KB (estimate)'."""
    if row.needed is None or row.part_bytes is None:
        return f"{row.what:<5} {row.detail}"
    over = "  OVER BUDGET" if row.over else ""
    return (f"{row.what:<5} {format_bytes(row.needed)} of {format_bytes(row.available)} ({percent(row.share)}){over}: "
            f"{row.part} {format_bytes(row.part_bytes)} of {format_bytes(row.available)} ({percent(row.part_share)}) "
            f"+ firmware ~{format_bytes(row.rest_bytes)} (estimate)")
