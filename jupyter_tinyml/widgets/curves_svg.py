"""Training curves as one small SVG: a chart per metric (loss first), train solid, validation dashed.

Pure: a history in, SVG text out. The same picture is the live widget's drawing and the static image a saved
notebook keeps, so nbconvert, GitHub's viewer and a reopened notebook show what the person saw. ElementTree
builds it, so metric names are escaped by the XML writer, not by hand.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Mapping, Sequence

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
VALIDATION_PREFIX = "val_"
# Keys Keras (or a scheduler) adds to the epoch logs that are settings, not results worth a curve.
NOT_CURVES = frozenset({"learning_rate", "lr"})
MAX_CHARTS = 3

CHART_WIDTH, CHART_HEIGHT = 300, 190
CAPTION_HEIGHT = 18
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 46, 12, 24, 40
TRAIN_COLOUR, VALIDATION_COLOUR = "#1f77b4", "#ff7f0e"
TEXT_STYLE = {"font-family": "sans-serif", "font-size": "10", "fill": "#333"}

# A series: (epoch number counted from 1, value) for each epoch that logged it.
Series = Sequence[tuple[int, float]]


def chart_metrics(history: Mapping[str, Series]) -> list[str]:
    """The metrics that get a chart, in order: loss first, then the others as the logs name them."""
    names: list[str] = []
    for key in history:
        name = key.removeprefix(VALIDATION_PREFIX)
        if name not in names and name not in NOT_CURVES:
            names.append(name)
    names.sort(key=lambda name: name != "loss")  # stable: the others keep their order
    return names[:MAX_CHARTS]


def curves_svg(history: Mapping[str, Series], epochs: int, caption: str = "") -> str:
    """The SVG text of the training curves so far; `epochs` is the planned count (the x axis runs 1..epochs).

    `caption`, if any, is a line above the charts: the static image carries what the live widget's label said
    (how many epochs ran, whether training stopped early or failed).
    """
    metrics = chart_metrics(history) or ["loss"]
    width = CHART_WIDTH * len(metrics)
    top = CAPTION_HEIGHT if caption else 0
    height = CHART_HEIGHT + top
    svg = ET.Element("svg", {"xmlns": SVG_NAMESPACE, "width": str(width), "height": str(height),
                             "viewBox": f"0 0 {width} {height}", "role": "img"})
    ET.SubElement(svg, "title").text = "Training curves: " + ", ".join(metrics)
    if caption:
        text(svg, caption, 6, CAPTION_HEIGHT - 6, css_class="caption")
    for index, metric in enumerate(metrics):
        chart = ET.SubElement(svg, "g", {"class": f"chart chart-{metric}",
                                          "transform": f"translate({index * CHART_WIDTH},{top})"})
        draw_chart(chart, metric, history.get(metric, ()), history.get(VALIDATION_PREFIX + metric, ()),
                   max(epochs, 1))
    return ET.tostring(svg, encoding="unicode")


def draw_chart(chart: ET.Element, metric: str, train: Series, validation: Series, epochs: int) -> None:
    """One metric's chart: frame, title, a few tick labels, the two curves and their legend."""
    left, right = MARGIN_LEFT, CHART_WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, CHART_HEIGHT - MARGIN_BOTTOM
    low, high = value_range([value for _, value in list(train) + list(validation)])

    def x_of(epoch: float) -> float:
        return left + (right - left) * ((epoch - 1) / (epochs - 1) if epochs > 1 else 0.5)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * (value - low) / (high - low)

    text(chart, metric, (left + right) / 2, 14, anchor="middle", weight="bold")
    ET.SubElement(chart, "rect", {"x": str(left), "y": str(top), "width": str(right - left),
                                  "height": str(bottom - top), "fill": "none", "stroke": "#999"})
    for value in (low, (low + high) / 2, high):
        text(chart, f"{value:.3g}", left - 4, y_of(value) + 3, anchor="end")
    for epoch in sorted({1, (epochs + 1) // 2, epochs}):
        text(chart, str(epoch), x_of(epoch), bottom + 12, anchor="middle")
    text(chart, "epoch", (left + right) / 2, bottom + 24, anchor="middle")

    for series, colour, dash, label in ((train, TRAIN_COLOUR, None, "train"),
                                         (validation, VALIDATION_COLOUR, "5,3", "validation")):
        points = [(epoch, value) for epoch, value in series if math.isfinite(value)]
        if not points:
            continue
        style = {"fill": "none", "stroke": colour, "stroke-width": "1.5"} | ({"stroke-dasharray": dash} if dash else {})
        ET.SubElement(chart, "polyline", {"class": label, **style, "points": " ".join(
            f"{x_of(epoch):.1f},{y_of(value):.1f}" for epoch, value in points)})
        legend_x = left + (0 if label == "train" else 70)
        ET.SubElement(chart, "line", {"x1": str(legend_x), "y1": str(CHART_HEIGHT - 6), "x2": str(legend_x + 18),
                                      "y2": str(CHART_HEIGHT - 6), **style})
        text(chart, label, legend_x + 22, CHART_HEIGHT - 3)


def value_range(values: Sequence[float]) -> tuple[float, float]:
    """The y axis range: the finite values with a little room, never empty (a flat curve sits mid-chart)."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    room = (high - low) * 0.05 or max(abs(high) * 0.05, 0.05)
    return low - room, high + room


def text(parent: ET.Element, content: str, x: float, y: float, *, anchor: str = "start",
         weight: str = "normal", css_class: str = "") -> None:
    attributes = {"x": f"{x:.1f}", "y": f"{y:.1f}", "text-anchor": anchor, "font-weight": weight, **TEXT_STYLE}
    label = ET.SubElement(parent, "text", attributes | ({"class": css_class} if css_class else {}))
    label.text = content
