"""DeployPanel: pick a board, build, flash with progress, watch the serial line, run the on-device check.

State and work live in the library (hardware: build, flash, serial_link; boards); the panel only wires buttons
to them and shows what they report. What it says about flash and RAM is the project's own budget verdict (the one
write_project computed), never a sum of its own. Each action is also a plain method (`build()`, `flash()`, `check()`,
`monitor()`) that runs synchronously and returns the library's result, so code and tests drive the same path
the buttons do; a button runs its action on a worker thread so the notebook stays responsive.
"""
from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

import ipywidgets as widgets

from ..boards import Board, as_board, catalogue, detect_boards
from ..errors import TinyMLError
from ..hardware.build import build as build_project
from ..hardware.device_check import tolerance_for
from ..hardware.flash import upload
from ..hardware.reporter import Reporter
from ..hardware.serial_link import connect

LOG_LINES = 400  # the log keeps the last lines only: a build prints thousands


def notebook_magics() -> Any:
    """The jupyter_tinyml magics loaded in this IPython, if any: their settings (for the glue repair), their shell
    and lab link (to put the repaired deploy cell into the notebook)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell.magics_manager.registry.get("TinyMLMagics") if shell is not None else None


def notebook_settings() -> Any:
    """The settings of the jupyter_tinyml extension loaded in this IPython, if any (for the glue repair)."""
    return getattr(notebook_magics(), "settings", None)


class DeployPanel(widgets.VBox):
    """One panel a workshop student can drive: board, port, Build, Flash, Check, Monitor, with a log.

    project: what `firmware.write_project` returned (or its folder). tflite: the model bytes the firmware holds
    (the check compares the board with them). samples: test inputs for the check (float, shaped like the model
    input). ports: replaces the system's serial port list (tests, or a board reached through a pty).
    repair: the settings (config.TinyML) whose model repairs compile errors in the glue regions; "notebook" uses
    the model configured in this notebook (%tinyml config), None turns repair off. Offline, errors are shown.
    """

    def __init__(self, project: Any, tflite: Any = None, *, board: Board | str | None = None,
                 port: str | None = None, samples: Any = None, check_samples: int = 50,
                 ports: Iterable[Any] | None = None, repair: Any = "notebook") -> None:
        self.project = project
        # A folder (str or Path; a Path has a `root` attribute of its own) or a firmware.Project.
        self.project_dir = Path(project) if isinstance(project, (str, os.PathLike)) else Path(project.root)
        self.tflite = tflite
        self.samples = samples
        self.check_samples = check_samples
        self._ports = ports
        self.repair_settings = notebook_settings() if repair == "notebook" else repair
        self._busy = threading.Lock()
        self.build_result: Any = None
        self.upload_result: Any = None
        self.check_result: Any = None
        chosen = as_board(board or getattr(project, "board", None) or catalogue()[0])

        self.board_picker = widgets.Dropdown(description="Board", layout=widgets.Layout(width="60%"))
        self.port_picker = widgets.Combobox(description="Port", placeholder="/dev/ttyACM0", value=port or "",
                                            ensure_option=False, layout=widgets.Layout(width="40%"))
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", tooltip="Look for boards again")
        self.buttons = {
            name: widgets.Button(description=name.capitalize(), icon=icon, tooltip=tip)
            for name, icon, tip in (
                ("build", "wrench", "Compile the project (arduino-cli, else PlatformIO)"),
                ("flash", "upload", "Upload the firmware over USB"),
                ("check", "check", "Send test samples over serial and compare with the host TFLite model"),
                ("monitor", "terminal", "Show what the board prints for 10 s"),
            )
        }
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="60%"))
        self.status = widgets.HTML()
        self.log_view = widgets.Textarea(disabled=True, rows=10, layout=widgets.Layout(width="100%"))
        self.result = widgets.HTML()
        self.refresh(select=chosen)

        self.refresh_button.on_click(lambda _: self.refresh())
        self.board_picker.observe(self._board_changed, names="value")
        for name, button in self.buttons.items():
            button.on_click(lambda _, action=getattr(self, name): self._in_background(action))
        super().__init__([
            widgets.HTML(self._project_html()),
            widgets.HBox([self.board_picker, self.port_picker, self.refresh_button]),
            widgets.HBox(list(self.buttons.values())),
            widgets.HBox([self.progress, self.status]),
            self.log_view,
            self.result,
        ])

    # ---- the actions (buttons call these; so can code) ----------------------------------------------------
    @property
    def board(self) -> Board:
        return as_board(self.board_picker.value)

    @property
    def port(self) -> str | None:
        return self.port_picker.value.strip() or None

    def refresh(self, select: Board | None = None) -> list[Any]:
        """Detect attached boards: detected ones first in the picker, then the rest of the catalogue."""
        detected = detect_boards(self._ports)
        known = [entry for entry in detected if entry.board is not None]
        first = [entry.board for entry in known]
        rest = [board for board in catalogue() if board not in first]
        self.board_picker.options = [(f"● {entry}", entry.board.id) for entry in known] + [
            (board.name, board.id) for board in rest
        ]
        self.port_picker.options = tuple(entry.port for entry in detected)
        wanted = select or (first[0] if first else None)
        if wanted is not None:
            self.board_picker.value = wanted.id
        if not self.port_picker.value and known:
            self.port_picker.value = known[0].port
        self._say(f"{len(detected)} serial port{'s' if len(detected) != 1 else ''} found, "
                  f"{len(known)} known board{'s' if len(known) != 1 else ''}")
        return detected

    def build(self) -> Any:
        """Compile the project for the chosen board; a compile failure is shown with the tool's diagnostics."""
        self._start("Building")

        def compile_once() -> Any:
            return build_project(self.project_dir, self.board, on_output=self._log_line)

        result = self._attempt(compile_once)
        if result is not None and not result.ok and self._can_repair():
            result = self._repair(result, compile_once)
        if result is not None:
            self.build_result = result
            if result.ok:
                self._done(f"Built in {result.seconds:.0f} s with {result.tool}")
            else:
                self._fail(f"Build failed: {len(result.errors)} error(s). {result.hint}")
        return result

    def _can_repair(self) -> bool:
        settings = self.repair_settings
        return settings is not None and not settings.offline and hasattr(self.project, "sketch")

    def _repair(self, failed: Any, rebuild: Callable[[], Any]) -> Any:
        """Build errors -> the model rewrites the glue (read, checked and compiled as the deploy stage does) ->
        write_project(app=...) -> rebuild, bounded by max_repairs; the repaired glue goes into the notebook."""
        from ..stages.deploy import tflite_bytes
        from ..stages.glue import repair_glue

        self._say(f"Build failed: asking {self.repair_settings.model} to repair the application glue …")
        tflite = tflite_bytes(self.tflite)
        outcome = self._attempt(lambda: repair_glue(self.project, failed, rebuild, self.repair_settings,
                                                    tflite=tflite, values=self._cell_values()))
        if outcome is None:
            return failed
        if outcome.unfixable:
            self._log_line(f"--- glue repair not asked: {outcome.unfixable}")
            return failed
        for completion in outcome.completions:
            self._log_line(completion.usage_line())
        for problem in outcome.problems:
            self._log_line(f"check: {problem}")
        self._log_line(f"--- glue repair: {outcome.rounds} round(s), build {'ok' if outcome.ok else 'still failing'}")
        if outcome.changed:
            self._keep_in_notebook(outcome)
        return outcome.build

    def _cell_values(self) -> dict[str, str]:
        """The names the canonical deploy cell uses, from the notebook's namespace where the panel can see it."""
        magics = notebook_magics()
        namespace = getattr(getattr(magics, "shell", None), "user_ns", None) or {}
        model = next((name for name, value in namespace.items() if value is self.tflite and not name.startswith("_")),
                     "tflite_model")
        board = self.project.board
        root = self.project_dir
        try:
            out_dir = str(root.resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            out_dir = str(root)
        samples = next((name for name, value in namespace.items()
                        if self.samples is not None and value is self.samples and not name.startswith("_")), "None")
        return dict(model=model, model_name=model, board=board.id, board_name=board.name, out_dir=out_dir,
                    labels="class_names" if "class_names" in namespace else "None", samples=samples)

    def _keep_in_notebook(self, outcome: Any) -> None:
        """The repaired glue as the canonical deploy cell below, so re-running the notebook keeps it; where no
        notebook is reachable, the `app` dict to paste into the deploy cell."""
        from ..notebook.cells import Provenance, writer_for
        from ..stages.deploy import app_literal

        magics = notebook_magics()
        if magics is not None and getattr(magics, "shell", None) is not None and outcome.cells:
            provenance = Provenance(stage="deploy", model=str(self.repair_settings.model), request="glue repair",
                                    checks=[str(problem) for problem in outcome.problems])
            said = writer_for(magics.shell, getattr(magics, "link", None)).insert(outcome.cells, provenance)
            self._log_line(f"--- the repaired deploy cell: {said}")
        else:
            self._log_line("--- no notebook reachable: paste this `app` into the deploy cell, so running it again "
                           f"writes the repaired project:\napp = {app_literal(outcome.app)}")

    def flash(self) -> Any:
        """Upload the last build (or the project's images) with the board's method, with progress."""
        self._start("Flashing")
        image = self.build_result if self.build_result is not None and self.build_result.ok else self.project_dir
        reporter = Reporter(progress=self._progress, on_output=self._log_line)
        result = self._attempt(lambda: upload(image, self.board, self.port, reporter=reporter))
        if result is not None:
            self.upload_result = result
            if result.port:
                self.port_picker.value = result.port
            self._done(repr(result).splitlines()[0])
        return result

    def check(self, samples: Any = None, limit: int | None = None, tolerance_steps: int | None = None) -> Any:
        """Run test samples on the board and on the host TFLite model (int8 or float32 at its edges); show
        agreement, the largest output difference and latency. The check fails (red) when a top class differs or
        an output differs by more than `tolerance_steps` int8 steps (default: the stated tolerance of the project's
        target, device_check)."""
        if tolerance_steps is None:
            tolerance_steps = tolerance_for(getattr(self.project, "target", None))
        samples = self.samples if samples is None else samples
        if self.tflite is None or samples is None:
            self._fail("The check needs the model and test samples: DeployPanel(project, tflite_model, samples=x_test)")
            return None
        self._start("Checking on the board")

        def run() -> Any:
            with connect(self.board, self.port, ports=self._ports, on_text=self._log_line) as link:
                return link.check(self.tflite, samples, progress=self._progress, limit=limit or self.check_samples,
                                  tolerance_steps=tolerance_steps)

        result = self._attempt(run)
        if result is not None:
            self.check_result = result
            self.result.value = result._repr_html_()
            (self._done if result.ok else self._fail)(
                f"On-device check {'passed' if result.ok else 'FAILED'}: agreement {result.agreement:.1%}, largest "
                f"output difference {result.max_abs_diff} step{'' if result.max_abs_diff == 1 else 's'} (tolerance "
                f"{result.tolerance_steps}), median "
                f"{result.latency_us_median / 1000:.2f} ms" + ("" if result.ok else f" — {result.verdict()}"))
        return result

    def monitor(self, seconds: float = 10.0) -> list[str] | None:
        """Show what the board prints for `seconds` (its own lines, as a serial monitor would)."""
        self._start(f"Monitoring {self.port or self.board.name} for {seconds:g} s")

        def run() -> list[str]:
            with connect(self.board, self.port, ports=self._ports, wait_ready=False) as link:
                return link.monitor(seconds=seconds, on_line=self._log_line)

        lines = self._attempt(run)
        if lines is not None:
            self._done(f"{len(lines)} line{'s' if len(lines) != 1 else ''} received")
        return lines

    # ---- plumbing ----------------------------------------------------------------------------------------
    def _in_background(self, action: Callable[[], Any]) -> None:
        if not self._busy.acquire(blocking=False):
            self._say("Busy: wait for the current step to finish")
            return

        def run() -> None:
            for button in self.buttons.values():
                button.disabled = True
            try:
                action()
            finally:
                for button in self.buttons.values():
                    button.disabled = False
                self._busy.release()

        threading.Thread(target=run, daemon=True).start()

    def _attempt(self, step: Callable[[], Any]) -> Any:
        """Run a library step; its TinyMLError is the one line the person reads (nothing is raised at them)."""
        try:
            return step()
        except TinyMLError as error:
            self._fail(str(error))
            output = getattr(error, "output", "")
            if output:
                self._log_line(output)
            return None

    def _board_changed(self, change: dict[str, Any]) -> None:
        self.build_result = None  # a build is for one board

    def _start(self, what: str) -> None:
        self.progress.value, self.progress.bar_style = 0.0, "info"
        self._say(f"{what} …")
        self._log_line(f"--- {what} ({self.board.name}{', ' + self.port if self.port else ''})")

    def _progress(self, done: int, total: int, stage: str = "") -> None:
        self.progress.value = done / total if total else 0.0
        self.progress.description = stage[:12]

    def _done(self, message: str) -> None:
        self.progress.value, self.progress.bar_style = 1.0, "success"
        self._say(message)

    def _fail(self, message: str) -> None:
        self.progress.bar_style = "danger"
        self.status.value = f"<span style='color:#c62828'>{html.escape(message)}</span>"
        self._log_line(f"error: {message}")

    def _say(self, message: str) -> None:
        self.status.value = html.escape(message)

    def _log_line(self, line: str) -> None:
        lines = (self.log_view.value + line.rstrip("\n") + "\n").splitlines()[-LOG_LINES:]
        self.log_view.value = "\n".join(lines) + "\n"

    def _project_html(self) -> str:
        """The project's folder and ops, and its budget verdict (flash and RAM) when write_project computed one."""
        project = self.project
        header = f"<b>Firmware project</b> {html.escape(str(self.project_dir))}"
        if getattr(project, "target_reason", ""):
            header += f"<br>Target: {html.escape(project.target_reason)}"
        if not hasattr(project, "ops"):
            return header
        ops = ", ".join(getattr(op, "name", str(op)) for op in project.ops)
        budget = getattr(project, "budget", None)
        if budget is None:
            return f"{header} — ops: {html.escape(ops)}"
        verdict = str(budget).splitlines()[0]
        return (f"{header} — ops: {html.escape(ops)}<br>{html.escape(verdict)}: {html.escape(budget.flash_text())}; "
                f"{html.escape(budget.ram_text())}")
