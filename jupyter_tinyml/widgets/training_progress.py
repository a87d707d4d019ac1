"""TrainingProgress: a Keras callback that shows training as it runs, an epoch bar and the loss/accuracy curves.

In a kernel it displays a small ipywidgets view (bar, one status line, the curves as inline SVG) through a display
handle whose bundle also holds the curves as `image/svg+xml` and a `text/plain` line; at the end (or when the cell
stops with an error) the handle is updated, so a saved notebook, nbconvert or GitHub's viewer keep the final
curves. Without a kernel (plain python, terminal IPython) it prints one line per epoch instead.
"""
from __future__ import annotations

import time
from numbers import Integral
from typing import Any

import ipywidgets as widgets
import keras

from ..errors import PlannedEpochsError
from .curves_svg import VALIDATION_PREFIX, curves_svg

REDRAW_SECONDS = 0.2  # the view redraws at most this often (and always at the end): fast epochs stay fast
SHOWN_FIGURES = ("loss", "val_loss", "accuracy", "val_accuracy")  # the figures the status line names, if logged


def running_kernel_shell() -> Any:
    """The IPython shell when it runs in a kernel (a frontend that can show widgets and keep outputs), else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


class TrainingProgress(keras.callbacks.Callback):
    """Pass to `model.fit(..., callbacks=[TrainingProgress()], verbose=0)` to see the epochs and curves live.

    `epochs`: the planned epoch count shown as "epoch k of N" (None: the `epochs` given to `fit`). After `fit`,
    `history` holds (epoch, value) pairs per logged figure, `epochs_run` the epochs this fit ran, `last_epoch` the
    last one's number (the bar's value), `status` the last line, `view` the widget and `svg` the curves it draws.
    """

    def __init__(self, epochs: int | None = None) -> None:
        super().__init__()
        if epochs is not None and (not isinstance(epochs, Integral) or isinstance(epochs, bool) or epochs < 1):
            raise PlannedEpochsError(epochs)
        self.planned_epochs = int(epochs) if epochs is not None else None
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.epochs_run = 0
        self.last_epoch = 0
        self.status = ""
        self.svg = ""
        self._new_view()
        self._shell: Any = None
        self._handle: Any = None
        self._finished = True
        self._epoch_started = 0.0
        self._epoch_seconds: list[float] = []
        self._last_draw = 0.0

    @property
    def epochs(self) -> int:
        """The planned epoch count: the one given here, else fit's."""
        return self.planned_epochs or int((self.params or {}).get("epochs") or 1)

    # Keras hooks: no batch hooks on purpose, so Keras keeps dispatching batches without waiting for us.

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if not self._finished:  # an earlier fit with this callback raised and was caught in the same cell
            self._stopped_by(None)
        self.history, self.epochs_run, self._epoch_seconds = {}, 0, []
        self.last_epoch = 0  # Keras does not pass initial_epoch to callbacks; the first epoch's end sets it
        self._finished = False
        self._new_view()  # a fresh view per fit: an earlier fit's output keeps showing that fit
        self._draw(f"Training: {self.epochs} epochs planned")
        self._shell = running_kernel_shell()
        if self._shell is not None:
            from IPython.display import display

            self._handle = display(self._bundle(), raw=True, display_id=True)
            # Keras calls no hook when fit raises (or is interrupted): the cell's end tells us instead.
            if self._cell_finished not in self._shell.events.callbacks["post_run_cell"]:
                self._shell.events.register("post_run_cell", self._cell_finished)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_seconds.append(time.perf_counter() - self._epoch_started)
        self.epochs_run += 1
        self.last_epoch = epoch + 1
        for name, value in (logs or {}).items():
            try:
                self.history.setdefault(name, []).append((epoch + 1, float(value)))
            except (TypeError, ValueError):
                continue  # a log entry that is not a number has no curve
        line = f"Epoch {epoch + 1} of {self.epochs} · {self._seconds_per_epoch()}{self._figures()}"
        now = time.perf_counter()
        if self._shell is None:
            print(line, flush=True)
            self.status = line
        elif now - self._last_draw >= REDRAW_SECONDS:
            self._draw(line)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        stopped_early = self.last_epoch < self.epochs
        if stopped_early:
            line = f"Stopped early after {self.epochs_run} of {self.epochs} epochs"
            if getattr(self.model, "stop_training", False):
                line += " (a callback such as EarlyStopping ended it)"
            self.bar.bar_style = "warning"
        else:
            line = f"Done: {self.epochs_run} epochs"
            self.bar.bar_style = "success"
        self._finish(f"{line} · {self._seconds_per_epoch()}{self._figures()}")

    # Drawing and the display handle

    def _new_view(self) -> None:
        self.bar = widgets.IntProgress(min=0, max=self.epochs, value=0,
                                       description="Training", style={"description_width": "initial"})
        self.label = widgets.Label()
        self.curves = widgets.HTML()
        # The status line wraps below the bar rather than being cut off in a narrow notebook.
        status_row = widgets.HBox([self.bar, self.label], layout=widgets.Layout(flex_flow="row wrap"))
        self.view = widgets.VBox([status_row, self.curves])

    def _cell_finished(self, result: Any) -> None:
        """After the cell that ran fit: if fit never reached on_train_end, it raised or was interrupted."""
        self._shell.events.unregister("post_run_cell", self._cell_finished)
        if not self._finished:
            self._stopped_by(getattr(result, "error_in_exec", None))

    def _stopped_by(self, error: BaseException | None) -> None:
        self.bar.bar_style = "danger"
        reason = f"{type(error).__name__}: {error}" if error is not None else "fit did not finish"
        self._finish(f"Stopped by an error after {self.epochs_run} of {self.epochs} epochs ({reason})"[:300])

    def _finish(self, line: str) -> None:
        self._finished = True
        self._draw(line)
        if self._shell is None:
            print(line, flush=True)
        elif self._handle is not None:
            self._handle.update(self._bundle(), raw=True)

    def _draw(self, line: str) -> None:
        self.status = line
        self.svg = curves_svg(self.history, self.epochs)
        self.bar.value = self.last_epoch
        self.label.value = line
        self.curves.value = self.svg
        self._last_draw = time.perf_counter()

    def _bundle(self) -> dict[str, Any]:
        """The widget view for live frontends, the curves as an image and the status line for everything else."""
        bundle = dict(self.view._repr_mimebundle_() or {})
        bundle["image/svg+xml"] = curves_svg(self.history, self.epochs, caption=self.status)
        bundle["text/plain"] = self.status
        return bundle

    def _seconds_per_epoch(self) -> str:
        if not self._epoch_seconds:
            return "no epoch run"
        return f"{sum(self._epoch_seconds) / len(self._epoch_seconds):.2f} s/epoch"

    def _figures(self) -> str:
        latest = {name: series[-1][1] for name, series in self.history.items() if series}
        names = [name for name in SHOWN_FIGURES if name in latest] or [
            name for name in latest if not name.startswith(VALIDATION_PREFIX)][:2]
        return "".join(f" · {name} {latest[name]:.4g}" for name in names)

    def __repr__(self) -> str:
        return f"TrainingProgress({self.status or 'not started'})"
