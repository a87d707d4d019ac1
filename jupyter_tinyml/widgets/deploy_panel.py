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
from ..errors import TinyMLError, VirtualBoardNotRunningError
from ..hardware.build import build as build_project
from ..hardware.device_check import tolerance_for
from ..hardware.flash import upload
from ..hardware.reporter import Reporter
from ..hardware.serial_link import connect
from ..hardware.virtual import qemu
from ..model.inspection import inspect as inspect_model
from ..model.report import ARENA_NAME

LOG_LINES = 400  # the log keeps the last lines only: a build prints thousands
VIRTUAL_TEXT = "emulated Cortex-M4 (QEMU), no hardware needed"
PORT_PLACEHOLDER = "/dev/ttyACM0"
STATUS_WAIT_S = 5.0  # how long Monitor waits for the virtual board's INFO answer (emulated, on a busy host)
# Button tooltips per kind of board: a USB board, and the virtual one (compiled for and started in QEMU).
TOOLTIPS = {
    "usb": {"build": "Compile the project (arduino-cli, else PlatformIO)", "flash": "Upload the firmware over USB",
            "check": "Send test samples over serial and compare with the host TFLite model",
            "monitor": "Show what the board prints for 10 s"},
    "virtual": {"build": "Compile the firmware for the emulated Cortex-M4 (arm-none-eabi-gcc)",
                "flash": "Start the emulated board (QEMU) with the firmware",
                "check": "Send test samples to the emulated board and compare with the host TFLite model",
                "monitor": "Show the firmware's status lines (its READY line from boot, then INFO) and what it prints "
                           "for 10 s"},
}


def is_virtual(board: Board) -> bool:
    """The emulated board: it has no USB port to pick and nothing to plug in."""
    return board.upload == "qemu"


def size_line(built: Any, board: Board) -> str:
    """'flash 16,056 of 4,194,304 B (0.4%), RAM 21,024 of 4,194,304 B (0.5%)': what the image takes of the board's
    budget, for builds that measured their image (the virtual board's); "" for others (arduino-cli prints its own)."""
    flash, ram = getattr(built, "flash_bytes", 0), getattr(built, "ram_bytes", 0)
    if not flash:
        return ""
    return (f"flash {flash:,} of {board.flash_bytes:,} B ({flash / board.flash_bytes:.1%}), "
            f"RAM {ram:,} of {board.ram_bytes:,} B ({ram / board.ram_bytes:.1%})")


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
        self.port_picker = widgets.Combobox(description="Port", placeholder=PORT_PLACEHOLDER, value=port or "",
                                            ensure_option=False, layout=widgets.Layout(width="40%"))
        self.virtual_note = widgets.HTML(f"<i>{html.escape(VIRTUAL_TEXT)}</i>")
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", tooltip="Look for boards again")
        self.buttons = {
            name: widgets.Button(description=name.capitalize(), icon=icon)
            for name, icon in (("build", "wrench"), ("flash", "upload"), ("check", "check"), ("monitor", "terminal"))
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
        self.header = widgets.HTML(self._project_html())
        self.where_row = widgets.HBox([self.board_picker, self.port_picker, self.refresh_button])
        self._show_kind_of_board()
        super().__init__([
            self.header,
            self.where_row,
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
        """Detect attached boards: detected ones first in the picker, then the rest of the catalogue. The virtual
        board needs no port: the panel says so instead of counting serial ports."""
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
        if not self.port_picker.value and known and not is_virtual(self.board):
            self.port_picker.value = known[0].port
        if is_virtual(self.board):
            self._say(f"{self.board.name}: {VIRTUAL_TEXT} — Build, then Flash starts it")
            return detected
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
                sizes = size_line(result, self.board)
                if sizes:
                    self._log_line(f"--- image: {sizes}")
                self._done(f"Built in {result.seconds:.0f} s with {result.tool}" + (f": {sizes}" if sizes else ""))
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
        from ..notebook.cells import Provenance
        from ..notebook.writers import writer_for
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
            with connect(self.board, self._link_port(), ports=self._ports, on_text=self._log_line) as link:
                return link.check(self.tflite, samples, progress=self._progress, limit=limit or self.check_samples,
                                  tolerance_steps=tolerance_steps)

        result = self._attempt(run)
        if result is not None:
            self.check_result = result
            self.result.value = result._repr_html_()
            (self._done if result.ok else self._fail)(
                f"On-device check {'passed' if result.ok else 'FAILED'}: agreement {result.agreement:.1%}, largest "
                f"output difference {result.max_abs_diff} step{'' if result.max_abs_diff == 1 else 's'} (tolerance "
                f"{result.tolerance_steps}), {result.latency_text()}"
                + ("" if result.ok else f" — {result.verdict()}"))
        return result

    def monitor(self, seconds: float = 10.0) -> list[str] | None:
        """Show what the board prints for `seconds` (its own lines, as a serial monitor would). The virtual board's
        firmware prints its READY line once, at boot, and then only answers: the monitor shows that boot line and
        asks INFO, so its status lines are there to read."""
        virtual = is_virtual(self.board)
        self._start(f"Monitoring {self.board.name if virtual else self.port or self.board.name} for {seconds:g} s")

        def run() -> list[str]:
            port = self._link_port()
            with connect(self.board, port, ports=self._ports, wait_ready=False) as link:
                shown: list[str] = []
                if virtual:
                    booted = qemu.boot_line(port)
                    if booted:
                        self._log_line(f"{booted}    (printed at boot)")
                        shown.append(booted)
                    link.write_line("INFO")  # its answer is the firmware's status: wait for it, however short `seconds`
                    shown += link.monitor(lines=1, seconds=max(seconds, STATUS_WAIT_S), on_line=self._log_line)
                return shown + link.monitor(seconds=seconds, on_line=self._log_line)

        lines = self._attempt(run)
        if lines is not None:
            self._done(f"{len(lines)} line{'s' if len(lines) != 1 else ''} from the firmware"
                       + (" (the emulated board)" if virtual else ""))
        return lines

    def _link_port(self) -> str | None:
        """The port to talk to: the one picked, or on the virtual board the one QEMU runs (after Flash)."""
        if self.port or not is_virtual(self.board):
            return self.port
        port = qemu.running_port()
        if port is None:
            raise VirtualBoardNotRunningError(self.board.name)
        return port

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
        if hasattr(self, "where_row"):
            self._show_kind_of_board()
            if is_virtual(self.board):
                self._say(f"{self.board.name}: {VIRTUAL_TEXT} — Build, then Flash starts it")
            else:
                self._say(f"{self.board.name}: plug it in and pick its port (Refresh looks for boards again)")

    def _show_kind_of_board(self) -> None:
        """A USB board gets the port picker; the virtual board a line saying it needs no hardware (no port list, no
        placeholder port). Tooltips say what each button does for that kind of board."""
        virtual = is_virtual(self.board)
        self.port_picker.placeholder = "" if virtual else PORT_PLACEHOLDER
        if virtual and self.port_picker.value.startswith("/dev/tty"):
            self.port_picker.value = ""
        self.where_row.children = ([self.board_picker, self.virtual_note] if virtual
                                   else [self.board_picker, self.port_picker, self.refresh_button])
        for name, button in self.buttons.items():
            button.tooltip = TOOLTIPS["virtual" if virtual else "usb"][name]

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
        arena = self._arena_text()
        return (f"{header} — ops: {html.escape(ops)}<br>{html.escape(verdict)}: {html.escape(budget.flash_text())}; "
                f"{html.escape(budget.ram_text())}" + (f"<br>{html.escape(arena)}" if arena else ""))

    def _arena_text(self) -> str:
        """The project's arena by its name, one line: TFLite Micro's tensor arena (the QuantizationReport's figure),
        or the C target's static memory plan, then why the report shows another figure for the same model."""
        project = self.project
        arena = getattr(project, "arena_bytes", None)
        if arena is None:
            return ""
        if getattr(project, "target", "tflm") != "c":
            return f"Arena: {arena:,} B {ARENA_NAME} (measured + margin), the figure the QuantizationReport shows."
        text = f"Arena: {arena:,} B C target static memory plan (exact)."
        tflm = self._tflm_arena()
        if tflm is not None:
            text += (f" The QuantizationReport's {tflm:,} B is the {ARENA_NAME} for the same model: the TFLite Micro "
                     "sketch's interpreter, its tensor structures and a margin; the C target has no interpreter and "
                     "plans its buffers when it is generated.")
        return text

    def _tflm_arena(self) -> int | None:
        """The TFLite Micro arena of the panel's model (inspect caches the measurement), None when unknown."""
        if self.tflite is None:
            return None
        try:
            return inspect_model(self.tflite).arena_bytes
        except TinyMLError:
            return None
