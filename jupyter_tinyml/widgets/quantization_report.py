"""QuantizationReport: a `QuantizationComparison` shown in the notebook, built from stock ipywidgets.

The widget computes nothing: `compare()` and `inspect()` did the work, and model/report's templates draw it,
section by section into the tabs here, and whole for nbconvert and plain viewers. State (the result, the
inspection, the board) lives in Python traits; changing one redraws the views, so picking another board in the
dropdown shows at once whether the same model, with the firmware beside it, fits that board.
"""
from __future__ import annotations

from typing import Any

import ipywidgets as widgets
import traitlets

from ..boards import Board, catalogue, find_board
from ..model import report
from ..model.inspection import ModelInspection

NO_BOARD = ""


class QuantizationReport(widgets.VBox):
    """Float vs quantized model at a glance: headline figures, then tabs with the details.

    `QuantizationReport(result, inspection=None, board=None)`: `result` from `compare()`, `inspection` from
    `inspect()` (for the arena, ops and unsupported ops), `board` a `Board` or a catalogue name ("nano33ble").
    Outside a widget frontend (nbconvert, GitHub, terminals) the output shows the same report as static
    HTML or plain text.
    """

    result = traitlets.Any(help="The QuantizationComparison shown.")
    inspection = traitlets.Any(None, allow_none=True, help="The ModelInspection of the quantized model, if any.")
    board = traitlets.Any(None, allow_none=True, help="The Board whose flash and RAM budget is shown, if any.")

    def __init__(self, result: report.Comparison, inspection: ModelInspection | None = None,
                 board: Board | str | None = None, **kwargs: Any) -> None:
        self._ready = False
        super().__init__(**kwargs)
        self._headline = widgets.HTML()
        self._confusion = widgets.HTML()
        self._per_class = widgets.HTML()
        self._layers = widgets.HTML()
        self._budget = widgets.HTML()
        self._boards: dict[str, Board] = {entry.id: entry for entry in catalogue()}
        self._board_picker = widgets.Dropdown(description="Board", style={"description_width": "initial"},
                                              layout=widgets.Layout(width="max-content"))
        self._board_page = widgets.VBox([self._board_picker, self._budget])
        self._tabs = widgets.Tab()
        self._notes = widgets.HTML()
        self._notes_box = widgets.Accordion(children=[self._notes], titles=("How these figures were obtained",))
        self._syncing_picker = False
        self._board_picker.observe(self._board_picked, names="value")
        self.result, self.inspection, self.board = result, inspection, board
        self._ready = True
        self._draw()

    @traitlets.validate("board")
    def _board_by_name(self, proposal: dict[str, Any]) -> Board | None:
        value = proposal["value"]
        if value is None or value == NO_BOARD:
            return None
        if isinstance(value, str):
            return find_board(value)  # ConfigError lists the known boards
        if not isinstance(value, Board):
            raise traitlets.TraitError(f"board must be a Board or a board name, not {type(value).__name__}")
        return value

    @traitlets.observe("result", "inspection", "board")
    def _changed(self, change: dict[str, Any]) -> None:
        if self._ready:
            self._draw()

    def _board_picked(self, change: dict[str, Any]) -> None:
        if not self._syncing_picker:
            self.board = self._boards.get(change["new"]) if change["new"] else None

    def _draw(self) -> None:
        result, inspection, board = self.result, self.inspection, self.board

        def section(name: str) -> str:
            return report.section_html(name, result, inspection, board, with_picker=name == "board")

        self._headline.value = section("headline")
        self._layers.value = section("layers")
        self._budget.value = section("board")
        self._show_board_in_picker(board)

        pages: list[tuple[str, widgets.Widget]] = []
        if result.task == "classification":
            self._confusion.value = section("confusion")
            self._per_class.value = section("per_class")
            pages += [("Confusion matrices", self._confusion), ("Per class", self._per_class)]
        pages += [("Per-layer error", self._layers),
                  ("Board", self._board_page)]
        self._tabs.children = [page for _, page in pages]
        self._tabs.titles = tuple(title for title, _ in pages)
        self._notes.value = section("notes")
        self.children = [self._headline, self._tabs, self._notes_box]

    def _show_board_in_picker(self, board: Board | None) -> None:
        # Setting options or value fires the picker's observer; it must not write the board back.
        self._syncing_picker = True
        try:
            if board is not None:
                self._boards[board.id] = board  # may be a Board made by hand, not from the catalogue
            options = [("none", NO_BOARD)] + [(entry.name, key) for key, entry in self._boards.items()]
            if list(self._board_picker.options) != options:
                self._board_picker.options = options
            self._board_picker.value = board.id if board is not None else NO_BOARD
        finally:
            self._syncing_picker = False

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view for live frontends, plus the static report for everything else."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        bundle["text/html"] = report.report_html(self.result, self.inspection, self.board)
        bundle["text/plain"] = report.report_text(self.result, self.inspection, self.board)
        return bundle

    def __repr__(self) -> str:
        return f"QuantizationReport({report.headline_text(self.result)})"
