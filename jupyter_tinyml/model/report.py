"""The quantization report as static HTML and plain text: what nbconvert, GitHub and terminals show.

Pure functions of a `QuantizationComparison` (plus an optional `ModelInspection` and `Board`) that return
strings. The widget shows the same fragments in its tabs; `report_html`/`report_text` stack them for
outputs without a widget frontend. No ipywidgets here, so a result object's `_repr_html_` can use them.

Everything is inline-styled (no CSS classes, scripts or fonts to load) and leaves the text colour to the
page, so it reads in JupyterLab's light and dark themes; badges carry their own background. Every figure
is written as text too, so the report still reads where a sanitizer strips the styles.
"""
from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from ..boards import Board
    from .quantize import LayerError, QuantizationComparison
    from .tflite import ModelInspection

IDEAL_STEPS = 1 / math.sqrt(12)  # RMSE of rounding to the nearest step: the best a quantized tensor can do
LOST_STEPS = 1.0  # around a whole step of error or more, a tensor loses information
TOP_LAYERS = 10
TIGHT_SHARE = 0.75  # above this share of flash or RAM, the program and stack may not fit beside the model

GREEN, AMBER, RED = "#1a7f37", "#9a6700", "#cf222e"  # white text on each has contrast >= 4.5
BLUE_RGB, RED_RGB = (47, 111, 222), (207, 34, 46)
CHANGED = "#8250df"  # outline of confusion cells where int8 differs from float
GRID = "rgba(128,128,128,0.28)"
TRACK = "rgba(128,128,128,0.18)"
MUTED = "opacity:0.72"
NUMBERS = "font-variant-numeric:tabular-nums"
# JupyterLab centres tables and fixes their layout in rendered HTML; these undo that.
TABLE = "border-collapse:collapse;margin:0;table-layout:auto;border:none"


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


def accuracy_delta_points(result: QuantizationComparison) -> float | None:
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


def size_ratio_text(float_bytes: int, quantized_bytes: int, times: str = "×") -> str:
    if quantized_bytes <= 0 or float_bytes <= 0:
        return ""
    ratio = float_bytes / quantized_bytes
    if ratio >= 1.05:
        return f"{ratio:.1f}{times} smaller"
    if ratio <= 0.95:
        return f"{1 / ratio:.1f}{times} larger"
    return "about the same size"


def quantized_label(result: QuantizationComparison) -> str:
    """What the quantized model is called in headers: its mode ("int8", "float16", ...)."""
    return result.quantization if result.quantization and result.quantization != "none" else "converted"


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


def class_names_of(result: QuantizationComparison) -> list[str]:
    count = len(result.per_class_float)
    if result.confusion_float is not None:
        count = max(count, len(result.confusion_float))
    names = [str(name) for name in result.class_names]
    return names + [str(index) for index in range(len(names), count)]


def class_counts(result: QuantizationComparison) -> list[int] | None:
    """Test samples per class (rows of the float confusion matrix)."""
    if result.confusion_float is None:
        return None
    return [int(sum(row)) for row in result.confusion_float]


def changed_cells(result: QuantizationComparison) -> list[tuple[int, int, int, int]]:
    """(true, predicted, float count, int8 count) for every confusion cell where the two models differ."""
    if result.confusion_float is None or result.confusion_quantized is None:
        return []
    cells = []
    for row, (float_row, quantized_row) in enumerate(zip(result.confusion_float, result.confusion_quantized)):
        for column, (before, after) in enumerate(zip(float_row, quantized_row)):
            if int(before) != int(after):
                cells.append((row, column, int(before), int(after)))
    return cells


def mistake_changes(result: QuantizationComparison) -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """Off-diagonal changes as (true, predicted, how many): mistakes int8 adds, and mistakes it no longer makes."""
    names = class_names_of(result)
    added, avoided = [], []
    for row, column, before, after in changed_cells(result):
        if row != column:
            (added if after > before else avoided).append((names[row], names[column], abs(after - before)))
    return sorted(added, key=lambda m: -m[2]), sorted(avoided, key=lambda m: -m[2])


def per_class_rows(result: QuantizationComparison) -> list[tuple[str, int | None, float, float, float | None]]:
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


def unsupported_ops_of(inspection: ModelInspection | None) -> list[str]:
    if inspection is None:
        return []
    names = list(inspection.unsupported_ops)
    names += [op.name for op in inspection.ops if not op.supported_by_tflm and op.name not in names]
    return names


def budget_lines(result: QuantizationComparison, inspection: ModelInspection | None, board: Board
                 ) -> list[tuple[str, int | None, int, str]]:
    """(what, needed bytes or None, board bytes, note) for flash and RAM."""
    model_bytes = inspection.flash_bytes if inspection is not None else result.quantized_bytes
    arena = inspection.arena_bytes if inspection is not None else None
    if inspection is not None and inspection.arena_measured_bytes is not None and inspection.arena_margin_bytes:
        arena_note = (f"tensor arena: {format_bytes(inspection.arena_measured_bytes)} measured"
                      f" + {format_bytes(inspection.arena_margin_bytes)} margin")
    elif arena is not None:
        arena_note = "tensor arena"
    elif inspection is not None and inspection.arena_error:
        arena_note = f"tensor arena not measured: {inspection.arena_error}"
    else:
        arena_note = "tensor arena not measured: pass inspect(tflite_model) to see it"
    return [("Flash", model_bytes, board.flash_bytes, "model bytes"),
            ("RAM", arena, board.ram_bytes, arena_note)]


def budget_verdict(result: QuantizationComparison, inspection: ModelInspection | None, board: Board) -> tuple[str, str]:
    """(colour, one sentence) for the headline: fits, tight, or does not fit."""
    known = [(what, needed, budget) for what, needed, budget, _ in budget_lines(result, inspection, board) if needed is not None]
    over = [what for what, needed, budget in known if needed > budget]
    tight = [what for what, needed, budget in known if TIGHT_SHARE * budget < needed <= budget]
    if over:
        return RED, f"does not fit {board.name}: {' and '.join(over)} over budget"
    if tight:
        return AMBER, f"fits {board.name}, tight on {' and '.join(tight)}"
    return GREEN, f"fits {board.name}"


# ---------------------------------------------------------------------------------------------- HTML

def badge(text: str, colour: str, title: str = "") -> str:
    title_attr = f' title="{escape(title)}"' if title else ""
    return (f'<span{title_attr} style="display:inline-block;padding:1px 7px;border-radius:9px;background:{colour};'
            f'color:#fff;font-weight:600;font-size:0.92em;white-space:nowrap">{escape(text)}</span>')


def heading(text: str) -> str:
    return f'<div style="font-weight:600;font-size:1.08em;margin:10px 0 4px">{escape(text)}</div>'


def note(text: str) -> str:
    """A muted sentence; `text` is HTML (callers escape what they put in)."""
    return f'<div style="{MUTED};margin:4px 0">{text}</div>'


def box(html_text: str, colour: str) -> str:
    """A warning block: coloured left rule, text in the page's colour."""
    return (f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:6px 0;'
            f'background:rgba(128,128,128,0.08)">{html_text}</div>')


def root(inner: str) -> str:
    """The outer element: font and line height, no text colour (the theme's colour shows through)."""
    # ipywidgets' HTML widget sets a 28px line-height on its content; reset it for multi-line reports.
    return (f'<div class="jupyter-tinyml-report" style="font-family:var(--jp-ui-font-family,system-ui,-apple-system,'
            f'\'Segoe UI\',Roboto,sans-serif);font-size:13px;line-height:1.45;max-width:1100px">{inner}</div>')


def figure(label: str, value_html: str, detail_html: str = "", badge_html: str = "") -> str:
    detail = ""
    if detail_html or badge_html:
        detail = f'<div style="font-size:0.92em"><span style="{MUTED}">{detail_html}</span> {badge_html}</div>'
    return (f'<div style="min-width:150px"><div style="{MUTED};font-size:0.92em">{escape(label)}</div>'
            f'<div style="font-size:1.45em;font-weight:600;{NUMBERS};white-space:nowrap">{value_html}</div>{detail}</div>')


def headline_html(result: QuantizationComparison, inspection: ModelInspection | None = None,
                  board: Board | None = None) -> str:
    """The figures a student reads first: accuracy (or MAE/RMSE), agreement, size; one line on layers and board."""
    label = escape(quantized_label(result))
    figures = []
    if result.task == "classification":
        delta = accuracy_delta_points(result)
        if delta is not None:
            colour = accuracy_colour(delta)
            figures.append(figure(
                f"Accuracy on {result.n_samples} test samples",
                f"{percent(result.float_accuracy)} → {percent(result.quantized_accuracy)}",
                f"float → {label}", badge(f"{signed(delta)} points", colour,
                                          "green: within 1 point, amber: within 3, red: beyond")))
        if result.agreement is not None:
            same = round(result.agreement * result.n_samples)
            figures.append(figure("Agreement", percent(result.agreement),
                                  f"same class on {same} of {result.n_samples} samples"))
    else:
        for name, before, after in (("MAE", result.float_mae, result.quantized_mae),
                                    ("RMSE", result.float_rmse, result.quantized_rmse)):
            change = error_change(before, after)
            if change is None:
                continue
            figures.append(figure(
                f"{name} on {result.n_samples} test samples", f"{before:.4g} → {after:.4g}",
                f"float → {label}", badge(f"{signed(change * 100)}%", error_colour(change),
                                          "error growth — green: within 5%, amber: within 15%, red: beyond")))
    figures.append(figure("Size", f"{format_bytes(result.float_bytes)} → {format_bytes(result.quantized_bytes)}",
                          escape(size_ratio_text(result.float_bytes, result.quantized_bytes))))

    facts = []
    worst = result.worst_layer
    if worst is not None:
        facts.append(f"Worst layer: <b>{escape(short_tensor_name(worst.tensor))}</b> ({escape(worst.op)}) "
                     + badge(f"{worst.rmse_over_scale:.2f} steps", layer_colour(worst.rmse_over_scale)))
    if board is not None:
        colour, sentence = budget_verdict(result, inspection, board)
        facts.append(badge(sentence, colour))
    unsupported = unsupported_ops_of(inspection)
    if unsupported:
        facts.append(badge(f"{len(unsupported)} op(s) not supported by TFLite Micro", RED, ", ".join(unsupported)))
    facts_html = (f'<div style="margin-top:6px;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center">'
                  f'{"".join(f"<span>{fact}</span>" for fact in facts)}</div>') if facts else ""
    title = (f'<div style="font-weight:600;font-size:1.1em;margin-bottom:4px">Quantization report: {label} vs float '
             f'<span style="{MUTED};font-weight:400">· {escape(result.task)}</span></div>')
    return (title + f'<div style="display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start">{"".join(figures)}</div>'
            + facts_html)


def _cell_style(count: int, row_total: int, diagonal: bool) -> str:
    share = count / row_total if row_total else 0.0
    if count == 0:
        return f"{MUTED};opacity:0.35"
    if diagonal:
        alpha, (r, g, b) = 0.15 + 0.75 * share, BLUE_RGB
    else:
        alpha, (r, g, b) = 0.22 + 0.68 * min(1.0, share * 4), RED_RGB  # mistakes are rare: make them show
    text = "color:#fff;" if alpha > 0.55 else ""
    return f"background:rgba({r},{g},{b},{alpha:.2f});{text}"


def confusion_table(matrix: Any, names: Sequence[str], title: str, kind: str, reference: Any = None) -> str:
    """One confusion matrix as an HTML heatmap (rows: true class, columns: predicted).

    With `reference` (the float matrix), cells whose count differs get an outline and the change in small print.
    """
    short = [name if len(name) <= 6 else name[:5] + "…" for name in names]
    cell = f"border:1px solid {GRID};padding:1px 4px;text-align:right;min-width:1.7em;{NUMBERS}"
    header = (f'<tr><th style="padding:2px 6px;font-weight:400;font-size:0.85em;{MUTED};text-align:right">true ↓ '
              f'pred →</th>' + "".join(f'<th title="{escape(name)}" style="padding:2px 4px;font-weight:600;text-align:center">'
                                        f'{escape(label)}</th>' for name, label in zip(names, short)) + "</tr>")
    rows = []
    for i, row in enumerate(matrix):
        total = int(sum(row))
        cells = []
        for j, value in enumerate(row):
            count = int(value)
            style = cell + ";" + _cell_style(count, total, i == j)
            extra = ""
            tip = f"true {names[i]}, predicted {names[j]}: {count}"
            changed = reference is not None and int(reference[i][j]) != count
            if changed:
                before = int(reference[i][j])
                style += f";outline:2px dashed {CHANGED};outline-offset:-2px"
                extra = f'<sup style="font-size:0.72em;font-weight:600">{escape(signed(count - before, 0))}</sup>'
                tip += f" (float: {before})"
            if i == j:
                style += ";font-weight:700"
            marker = ' data-changed="1"' if changed else ""
            cells.append(f'<td data-row="{i}" data-col="{j}"{marker} title="{escape(tip)}" style="{style}">'
                         f'{count}{extra}</td>')
        rows.append(f'<tr><th style="padding:2px 6px;text-align:right;font-weight:600;white-space:nowrap">'
                    f'{escape(names[i])}</th>{"".join(cells)}</tr>')
    return (f'<div><div style="font-weight:600;margin-bottom:2px">{escape(title)}</div>'
            f'<table data-matrix="{escape(kind)}" style="{TABLE};font-size:12px">'
            f'<thead>{header}</thead><tbody>{"".join(rows)}</tbody></table></div>')


def confusion_html(result: QuantizationComparison) -> str:
    """Float and quantized confusion matrices side by side, with what changed."""
    if result.confusion_float is None or result.confusion_quantized is None:
        return note("No confusion matrices in this result.")
    names = class_names_of(result)
    label = quantized_label(result)
    pair = (f'<div style="display:flex;flex-wrap:wrap;gap:12px 28px;align-items:flex-start">'
            + confusion_table(result.confusion_float, names, "float", "float")
            + confusion_table(result.confusion_quantized, names, label, "quantized", reference=result.confusion_float)
            + "</div>")
    added, avoided = mistake_changes(result)
    if changed_cells(result):
        def listed(mistakes: list[tuple[str, str, int]]) -> str:
            return ", ".join(f"true <b>{escape(true)}</b> predicted as <b>{escape(predicted)}</b>"
                             + (f" ×{count}" if count > 1 else "") for true, predicted, count in mistakes)
        sentences = []
        if added:
            sentences.append(f"Mistakes only {escape(label)} makes: {listed(added)}.")
        if avoided:
            sentences.append(f"Mistakes float makes and {escape(label)} does not: {listed(avoided)}.")
        sentences.append(f'Changed cells are <span style="outline:2px dashed {CHANGED};outline-offset:0;padding:0 3px">'
                         "outlined</span>, with the change in small print.")
        summary = " ".join(sentences)
    else:
        summary = f"Both matrices are identical: {escape(label)} makes the same mistakes as float."
    legend = ("Rows: true class, columns: predicted class. Blue diagonal: correct; red: mistakes "
              "(the stronger the colour, the larger the share of that class).")
    return pair + note(summary) + note(legend)


def per_class_html(result: QuantizationComparison) -> str:
    """Per-class accuracy (recall), float vs quantized, the largest drop first."""
    rows = per_class_rows(result)
    if not rows:
        return note("No per-class accuracy in this result.")
    label = escape(quantized_label(result))
    cell = f"padding:2px 10px;text-align:right;border-bottom:1px solid {GRID};{NUMBERS}"
    body = []
    for name, count, before, after, delta in rows:
        flag = " ⚠" if delta is not None and accuracy_colour(delta) != GREEN else ""
        if delta is None:
            delta_html = f'<span style="{MUTED}" title="no test sample of this class">—</span>'
        elif delta:
            delta_html = badge(signed(delta), accuracy_colour(delta))
        else:
            delta_html = f'<span style="{MUTED}">±0</span>'
        body.append(f'<tr><th style="{cell};font-weight:600">{escape(name)}{flag}</th>'
                    f'<td style="{cell}">{"" if count is None else count}</td>'
                    f'<td style="{cell}">{percent(before)}</td><td style="{cell}">{percent(after)}</td>'
                    f'<td style="{cell}">{delta_html}</td></tr>')
    head = (f'<tr>' + "".join(f'<th style="padding:2px 10px;text-align:right;border-bottom:1px solid {GRID}">{h}</th>'
                              for h in ("class", "samples", "float", label, "Δ points")) + "</tr>")
    counts = [count for _, count, *_ in rows if count]
    hint = ""
    if counts:
        typical = sorted(counts)[len(counts) // 2]
        hint = (f" With about {typical} test samples per class, one sample is {100 / typical:.1f} points: "
                "small changes may be a single sample.")
    return (note("Share of each class's test samples classified correctly, largest drop first; ⚠ marks a drop of "
                 f"more than 1 point.{escape(hint)}")
            + f'<table data-table="per-class" style="{TABLE}"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')


def worst_layers_sentence(layer_errors: Sequence[LayerError]) -> str:
    """One plain sentence naming the worst layers and what their numbers mean."""
    if not layer_errors:
        return ""
    worst = layer_errors[0]
    named = [error for error in layer_errors[:3] if error.rmse_over_scale >= 0.5] or [worst]
    listed = ", ".join(f"{short_tensor_name(error.tensor)} ({error.op}) {error.rmse_over_scale:.2f} steps"
                       for error in named)
    if worst.rmse_over_scale < 0.5:
        return (f"Worst: {listed} — every layer is close to the ideal rounding error ({IDEAL_STEPS:.2f} steps); "
                "values around 1 step or more would lose information.")
    sentence = (f"Worst: {listed} — values around 1 step or more lose information; "
                f"{IDEAL_STEPS:.2f} is the ideal rounding error.")
    if worst.rmse_over_scale >= LOST_STEPS:
        sentence += (" Large errors usually come from values outside the calibrated range or error carried from "
                     "earlier layers: calibrate with more representative samples (a few hundred, every class).")
    return sentence


def layers_html(result: QuantizationComparison, top: int = TOP_LAYERS) -> str:
    """Horizontal bars of RMSE in quantization steps per tensor, worst first, ideal and 1-step marks drawn."""
    errors = result.layer_errors
    if not errors:
        return note("Per-layer error was not measured for this model.")
    shown = errors[:top]
    axis = max(1.5, max(error.rmse_over_scale for error in shown) * 1.1)

    def at(value: float) -> str:
        return f"{min(100.0, value / axis * 100):.1f}%"

    marks = (f'<div title="ideal rounding error {IDEAL_STEPS:.2f}" style="position:absolute;left:{at(IDEAL_STEPS)};'
             f'top:-3px;bottom:-3px;border-left:2px dashed {GREEN}"></div>'
             f'<div title="1 step" style="position:absolute;left:{at(LOST_STEPS)};top:-3px;bottom:-3px;'
             f'border-left:2px dotted {RED}"></div>')
    cell = "padding:3px 8px;vertical-align:middle"
    rows = []
    for error in shown:
        steps = error.rmse_over_scale
        bar = (f'<div style="position:relative;height:12px;min-width:180px;background:{TRACK};border-radius:2px">'
               f'<div style="width:{at(steps)};height:100%;background:{layer_colour(steps)};border-radius:2px"></div>'
               f'{marks}</div>')
        rows.append(f'<tr title="{escape(error.tensor)} — scale {error.scale:.4g}, {error.num_elements} values">'
                    f'<td style="{cell};text-align:right;font-weight:600;white-space:nowrap">'
                    f'{escape(short_tensor_name(error.tensor))}</td>'
                    f'<td style="{cell};{MUTED};font-size:0.9em;white-space:nowrap">{escape(error.op)}</td>'
                    f'<td style="{cell};width:55%">{bar}</td>'
                    f'<td style="{cell};text-align:right;{NUMBERS};white-space:nowrap">{steps:.2f}</td></tr>')
    more = f" Showing the worst {len(shown)} of {len(errors)} tensors." if len(errors) > len(shown) else ""
    legend = (f'RMSE between float and {escape(quantized_label(result))} values, in quantization steps (scale). '
              f'<span style="border-left:2px dashed {GREEN};padding-left:4px">{IDEAL_STEPS:.2f}</span> ideal rounding '
              f'error, <span style="border-left:2px dotted {RED};padding-left:4px">1 step</span> loses information.{more}')
    return (f'<div style="margin:2px 0 6px">{escape(worst_layers_sentence(errors))}</div>'
            f'<table data-table="layers" style="{TABLE};width:100%;max-width:900px"><tbody>{"".join(rows)}</tbody></table>'
            + note(legend))


def _budget_bar(what: str, needed: int | None, budget: int, detail: str) -> str:
    cell = "padding:3px 8px;vertical-align:middle"
    if needed is None:
        return (f'<tr><th style="{cell};text-align:right">{escape(what)}</th><td style="{cell}" colspan="3">'
                f'<span style="{MUTED}">{escape(detail)}</span></td></tr>')
    share = needed / budget if budget else math.inf
    colour = RED if share > 1 else AMBER if share > TIGHT_SHARE else GREEN
    bar = (f'<div style="position:relative;height:14px;min-width:180px;background:{TRACK};border-radius:2px">'
           f'<div style="width:{min(100.0, share * 100):.1f}%;height:100%;background:{colour};border-radius:2px"></div>'
           f'</div>')
    return (f'<tr><th style="{cell};text-align:right">{escape(what)}</th><td style="{cell};width:40%">{bar}</td>'
            f'<td style="{cell};text-align:right">{badge(percent(share), colour)}</td>'
            f'<td style="{cell};{NUMBERS}"><span style="white-space:nowrap">{format_bytes(needed)} of {format_bytes(budget)}'
            f'</span><br><span style="{MUTED};font-size:0.9em">{needed:,} of {budget:,} bytes · {escape(detail)}</span></td></tr>')


def model_html(inspection: ModelInspection) -> str:
    """Ops (unsupported in red), inputs and outputs with their quantization: what the firmware must match."""
    unsupported = set(unsupported_ops_of(inspection))
    ops = []
    for op in inspection.ops:
        text = op.name + (f" ×{op.count}" if op.count > 1 else "")
        ops.append(badge(text, RED, "not supported by TFLite Micro") if op.name in unsupported
                   else f'<code style="white-space:nowrap">{escape(text)}</code>')
    ops += [badge(name, RED, "not supported by TFLite Micro") for name in unsupported
            if name not in {op.name for op in inspection.ops}]

    def tensors(items: Sequence[Any]) -> str:
        parts = []
        for tensor in items:
            quant = (f", scale {tensor.scale:.6g}, zero point {tensor.zero_point}" if tensor.scale is not None else "")
            parts.append(f"<code>{escape(tensor.name)}</code> {escape(tensor.dtype)} "
                         f"{escape(str(list(tensor.shape)))}{escape(quant)}")
        return "; ".join(parts) or "—"

    lines = [f"<b>Ops:</b> {' · '.join(ops) or '—'}",
             f"<b>Input:</b> {tensors(inspection.inputs)}",
             f"<b>Output:</b> {tensors(inspection.outputs)}"]
    return "".join(f'<div style="margin:2px 0">{line}</div>' for line in lines)


def board_html(result: QuantizationComparison, inspection: ModelInspection | None = None,
               board: Board | None = None) -> str:
    """Flash and RAM against the board's budget, warnings, unsupported ops, and the model's ops and tensors."""
    parts = []
    unsupported = unsupported_ops_of(inspection)
    if unsupported:
        parts.append(box(f'<b style="color:{RED}">Not supported by TFLite Micro:</b> '
                         + " ".join(badge(name, RED) for name in unsupported)
                         + "<br>The firmware cannot run this model as it is: replace the layers that produce these ops "
                           "and convert again.", RED))
    if board is None:
        parts.append(note('No board chosen: pass <code>board="nano33ble"</code> (or another board of the catalogue) '
                          "to see flash and RAM against its budget."))
    else:
        lines = budget_lines(result, inspection, board)
        parts.append(heading(f"{board.name} — {format_bytes(board.flash_bytes)} flash, {format_bytes(board.ram_bytes)} RAM"))
        parts.append(f'<table data-table="budget" style="{TABLE};width:100%;max-width:900px"><tbody>'
                     + "".join(_budget_bar(*line) for line in lines) + "</tbody></table>")
        for what, needed, budget, _ in lines:
            if needed is None:
                continue
            thing = "the model" if what == "Flash" else "the tensor arena"
            if needed > budget:
                advice = ("make the model smaller (fewer filters or units)" if what == "Flash"
                          else "shrink the largest activations (smaller input, fewer filters early on)")
                parts.append(box(f'<b style="color:{RED}">Over budget:</b> {thing} needs {format_bytes(needed)} of '
                                 f'{what}, {escape(board.name)} has {format_bytes(budget)} ({percent(needed / budget)}). '
                                 f'To fit, {advice}, or choose a board with more {what}.', RED))
            elif needed > TIGHT_SHARE * budget:
                parts.append(box(f"<b>Tight:</b> {thing} uses {percent(needed / budget)} of {what}; the rest of the "
                                 "program needs room too.", AMBER))
        parts.append(note("The model is only part of it: the TFLite Micro runtime and your sketch need flash too, "
                          "and the stack and libraries need RAM."))
    if inspection is not None:
        parts.append(heading("Model"))
        parts.append(model_html(inspection))
    return "".join(parts)


def notes_html(result: QuantizationComparison) -> str:
    """How the figures were obtained (the library's notes), muted, or nothing."""
    if not result.notes:
        return ""
    return note("How these figures were obtained: " + "; ".join(escape(text) for text in result.notes) + ".")


def report_html(result: QuantizationComparison, inspection: ModelInspection | None = None,
                board: Board | None = None) -> str:
    """The whole report as one self-contained HTML fragment (inline styles only, no scripts)."""
    sections = [headline_html(result, inspection, board)]
    if result.task == "classification":
        sections += [heading("Confusion matrices"), confusion_html(result),
                     heading("Per class"), per_class_html(result)]
    sections += [heading("Per-layer error"), layers_html(result)]
    if board is not None or inspection is not None:
        sections += [heading("On the board" if board is not None else "Model"),
                     board_html(result, inspection, board)]
    sections.append(notes_html(result))
    return root("".join(sections))


# ---------------------------------------------------------------------------------------------- text

def headline_text(result: QuantizationComparison) -> str:
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


def report_text(result: QuantizationComparison, inspection: ModelInspection | None = None,
                board: Board | None = None) -> str:
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
            lines.append(f"    {error.rmse_over_scale:5.2f}  {short_tensor_name(error.tensor)} ({error.op})")
        if len(result.layer_errors) > 5:
            lines.append(f"    ... {len(result.layer_errors) - 5} more")
        lines.append("  " + worst_layers_sentence(result.layer_errors))
    else:
        lines.append("  layer error: not measured")

    if board is not None:
        _, verdict = budget_verdict(result, inspection, board)
        lines.append(f"  board      {verdict}")
        for what, needed, budget, detail in budget_lines(result, inspection, board):
            if needed is None:
                lines.append(f"    {what:<5} {detail}")
            else:
                over = "  OVER BUDGET" if needed > budget else ""
                lines.append(f"    {what:<5} {format_bytes(needed)} of {format_bytes(budget)} ({percent(needed / budget)}){over}")
    unsupported = unsupported_ops_of(inspection)
    if unsupported:
        lines.append(f"  NOT SUPPORTED by TFLite Micro: {', '.join(unsupported)} (the firmware cannot run this model)")
    lines += [f"  note: {text}" for text in result.notes]
    return "\n".join(lines)
