"""TinyMLMagics: the IPython face of jupyter-tinyml — parse arguments, run a stage, hand the cells on.

A thin shell over stages/: the arguments become a StageRequest (stages/request.py), which the lab extension's
Regenerate builds too, and everything that matters is plain Python that knows nothing of IPython.
Errors a person can act on are raised as IPython's UsageError, which prints one line and no traceback;
the notebook is left as it was.
"""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import TYPE_CHECKING, Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .config import TinyML, check_range
from .errors import TinyMLError
from .notebook.cells import Provenance
from .notebook.writers import writer_for
from .notebook.comm import LabLink, lab_status
from .notebook.failures import CellWatcher
from .stages import outcome
from .stages.request import STAGE_NAMES, StageRequest

if TYPE_CHECKING:  # numpy (context), litellm's wrapper and the checks load on first use: %load_ext stays fast
    from .notebook.context import NotebookContext
    from .stages import base

HELP = """jupyter-tinyml: each stage's cell body is your request in plain words; the code comes back as new cells
below, unreviewed. Nothing runs until you run it.

  %%tinyml_prep     data preparation          %%tinyml_train    model design and training
  %%tinyml_convert  int8 TFLite conversion    %%tinyml_deploy   deployment to a board
  %tinyml_fix       repair the last failing cell (optionally: a note on what you want)
  %tinyml config [key=value ...]   show or change settings (model, api_base, board, token_budget, ...)
  %tinyml status                   model, board, what the context would send
  %tinyml boards                   the board catalogue, and the boards attached now (USB VID/PID)
  %tinyml eval --model M [...]     evaluate a model on the lifecycle notebooks (--help for the options)
  %tinyml help                     this text

Options of every stage: --model M, --board B, --run (also execute the cells), --no-insert (only show),
--budget N (context tokens). `%%tinyml_prep?` shows them in full.
Model: TINYML_MODEL / TINYML_API_BASE in the environment, c.TinyML.model in ipython_config.py, or
%tinyml config model=openai/gpt-4o-mini. No model set: the built-in offline recipes."""


# The review bar's decisions (labextension/src/protocol.ts), as `%tinyml status` counts them.
REVIEW_DECISIONS = {"accept": "accepted", "discard": "discarded", "ran_unreviewed": "ran unreviewed"}


def budget(text: str) -> int:
    """--budget's value: a whole number within token_budget's range, else argparse's one-line usage error."""
    try:
        return int(check_range("token_budget", int(text)))
    except (ValueError, TinyMLError) as error:
        problem = str(error) if isinstance(error, TinyMLError) else f"needs a whole number, got {text!r}"
        raise argparse.ArgumentTypeError(problem.replace("token_budget ", "", 1)) from None


def words_of(line: str) -> list[str]:
    """The line split as a shell would; an unbalanced quote is a one-line UsageError, not a traceback."""
    try:
        return shlex.split(line)
    except ValueError as error:
        raise UsageError(unbalanced(error, line)) from None


def unbalanced(error: ValueError, line: str) -> str:
    """The one line for a magic line that shlex could not split (an unbalanced quote, a trailing backslash)."""
    shown = line.strip() if len(line.strip()) <= 80 else line.strip()[:77] + "..."
    return f"tinyml: {str(error).lower()} in {shown!r}: close the quote and run the cell again."


def stage_arguments(function: Callable[..., None]) -> Callable[..., None]:
    """The options every generating magic shares."""
    for decorator in reversed(
        [
            # IPython's usage line puts one % before the name it is given: a cell magic's name carries the other.
            magic_arguments(name="%" + function.__name__),
            argument("--model", "-m", default=None, help="litellm model for this cell (overrides the setting)."),
            argument("--board", "-b", default=None,
                     help="target board id for this cell, e.g. nano33ble or virtual-cortex-m4 (%%tinyml boards lists them)."),
            argument("--run", action="store_true", help="also execute the generated cells (off by default)."),
            argument("--no-insert", action="store_true", help="show the code in the output, insert nothing."),
            argument("--budget", type=budget, default=None, help="token budget for the notebook context."),
        ]
    ):
        function = decorator(function)
    return function


@magics_class
class TinyMLMagics(Magics):
    """%%tinyml_prep, %%tinyml_train, %%tinyml_convert, %%tinyml_deploy, %tinyml_fix and %tinyml."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self.settings = TinyML(parent=shell)
        self.failures = CellWatcher()
        self.failures.register(shell)
        # The comm to the lab extension, opened by load_ipython_extension when running in a kernel.
        self.link: LabLink | None = None
        self.runs: dict[str, StageRequest] = {}  # magic cell id -> its last request, for Regenerate
        self.reviews: dict[str, str] = {}  # generated cell id -> the reviewer's last decision (REVIEW_DECISIONS)
        self.asks: list[outcome.AskRecord] = []  # what every stage ask came to, in order (read by eval/probe.py)

    # ---- generating magics -------------------------------------------------------------------------------
    @stage_arguments
    @cell_magic
    def tinyml_prep(self, line: str, cell: str) -> None:
        """Data preparation: turn the data in the notebook into x_train/x_test/y_train/y_test."""
        self.run_stage("prep", line, cell, self.tinyml_prep)

    @stage_arguments
    @cell_magic
    def tinyml_train(self, line: str, cell: str) -> None:
        """Model design and training: a small Keras model for the board, trained on x_train."""
        self.run_stage("train", line, cell, self.tinyml_train)

    @stage_arguments
    @cell_magic
    def tinyml_convert(self, line: str, cell: str) -> None:
        """Conversion: the trained model to a full-integer int8 TFLite model, evaluated against float."""
        self.run_stage("convert", line, cell, self.tinyml_convert)

    @stage_arguments
    @cell_magic
    def tinyml_deploy(self, line: str, cell: str) -> None:
        """Deployment: the int8 model as firmware parts for the target board."""
        self.run_stage("deploy", line, cell, self.tinyml_deploy)

    @magic_arguments()
    @argument("--model", "-m", default=None, help="litellm model for this repair.")
    @argument("--run", action="store_true", help="also execute the corrected cell.")
    @argument("--no-insert", action="store_true", help="show the corrected cell, insert nothing.")
    @argument("note", nargs="*", help="what you want, in plain words (optional).")
    @line_magic
    def tinyml_fix(self, line: str) -> None:
        """Repair the last failing cell: its source and traceback go to the model; the fix comes back below."""
        arguments = self.parse(self.tinyml_fix, line)
        failed = self.failures.last
        if failed is None:
            raise UsageError("tinyml: no cell has failed since the extension was loaded; nothing to fix.")
        from .stages.fix import request_for

        self.generate(
            StageRequest(
                "fix",
                request_for(failed.source, " ".join(arguments.note)),
                model=arguments.model,
                run=arguments.run,
                insert=not arguments.no_insert,
                cell_id=self.failures.running_id or "",
                last_error=failed.error,
            )
        )

    # ---- %tinyml -----------------------------------------------------------------------------------------
    @line_magic
    def tinyml(self, line: str) -> None:
        """%tinyml config [key=value ...] | status | boards | eval [options] | help"""
        words = words_of(line)
        command, rest = (words[0], words[1:]) if words else ("help", [])
        if command == "help":
            print(HELP)
        elif command == "config":
            self.configure(rest)
        elif command == "status":
            self.status()
        elif command == "boards":
            self.show_boards()
        elif command == "eval":
            self.evaluate(rest)
        else:
            raise UsageError(f"tinyml: unknown subcommand {command!r}; use config, status, boards, eval or help.")

    def evaluate(self, arguments: list[str]) -> None:
        """%tinyml eval: the evaluation's command line, run here (its runs start kernels of their own). An
        evaluation that stops early has said why in its own line, so its exit code adds no traceback."""
        from .eval.cli import main

        main(arguments)

    def show_boards(self) -> None:
        """The attached boards and the catalogue: a table under 100 columns as text, the full table as HTML."""
        from html import escape

        from IPython.display import display

        from .boards import CATALOGUE_COLUMNS, catalogue_rows, describe_catalogue, detect_boards

        text = describe_catalogue(detect_boards())
        attached, _, _ = text.partition("Catalogue")
        head = "".join(f"<th>{escape(heading)}</th>" for heading, _ in CATALOGUE_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in catalogue_rows())
        html = (f"<pre>{escape(attached.rstrip())}</pre><p>Catalogue: choose one with "
                f"<code>%tinyml config board=&lt;id&gt;</code>, or <code>--board &lt;id&gt;</code> on a stage.</p>"
                f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        display({"text/plain": text, "text/html": html}, raw=True)

    def configure(self, assignments: list[str]) -> None:
        for assignment in assignments:
            name, equals, value = assignment.partition("=")
            if not equals:
                raise UsageError(f"tinyml: write settings as key=value (got {assignment!r}).")
            try:
                if name.strip() == "board" and value.strip():
                    from .boards import find_board

                    find_board(value)
                self.settings.set(name.strip(), value.strip())
            except TinyMLError as error:
                raise UsageError(f"tinyml: {error}") from None
        for name, value in self.settings.describe().items():
            print(f"  {name:<13} {value}")
        if assignments and self.link is not None:
            self.link.send_status()

    def lab_status(self) -> dict[str, Any]:
        """Model and board for the lab extension's status item."""
        return lab_status(self.settings.model, self.settings.board, self.settings.offline)

    def status(self) -> None:
        settings = self.settings
        print(f"model:   {settings.model or 'none: offline recipes'}" + (f" at {settings.api_base}" if settings.api_base else ""))
        print(f"board:   {settings.board or 'none set'}")
        from .notebook.context import estimate_tokens

        snapshot = self.capture(request="", budget=settings.token_budget, board_name=settings.board or None)
        rendered = snapshot.render()
        print(
            f"context: {len(snapshot.variables)} variables, {len(snapshot.recent_cells)} recent cells, "
            f"~{estimate_tokens(rendered)} of {settings.token_budget} tokens"
            + (f"; left out: {len(snapshot.dropped)}" if snapshot.dropped else "")
        )
        failed = self.failures.last
        print("last error: " + (failed.error_line if failed else "none"))
        if self.reviews:
            decided = list(self.reviews.values())
            print("reviews: " + ", ".join(f"{decided.count(kind)} {kind}" for kind in dict.fromkeys(REVIEW_DECISIONS.values())))
        print(f"loaded:  litellm {'yes' if 'litellm' in sys.modules else 'not yet'}, "
              f"tensorflow {'yes' if 'tensorflow' in sys.modules else 'not yet'}")

    # ---- shared ------------------------------------------------------------------------------------------
    def parse(self, magic: Callable[..., None], line: str) -> argparse.Namespace:
        try:
            return parse_argstring(magic, line)
        except UsageError as error:
            raise UsageError(f"tinyml: {error} (see {magic.__name__}? for the options)") from None
        except ValueError as error:  # IPython's split of the line: an unbalanced quote
            raise UsageError(unbalanced(error, line)) from None

    def run_stage(self, name: str, line: str, cell: str, magic: Callable[..., None]) -> None:
        arguments = self.parse(magic, line)
        if not cell.strip():
            raise UsageError(
                f"tinyml: the cell is empty; write your request under %%tinyml_{name}, e.g. "
                "'use the digits images, 80/20 split'."
            )
        self.generate(
            StageRequest(
                name,
                cell,
                model=arguments.model,
                board=arguments.board,
                budget=arguments.budget,
                run=arguments.run,
                insert=not arguments.no_insert,
                cell_id=self.failures.running_id or "",
            )
        )

    def capture(self, *, request: str, budget: int, board_name: str | None, last_error: str | None = None) -> NotebookContext:
        from .notebook import context
        from .boards import find_board

        board = find_board(board_name).limits() if board_name else None
        if last_error is None and self.failures.last is not None:
            last_error = self.failures.last.error
        return context.capture_shell(
            self.shell,
            last_error=last_error,
            board=board,
            budget_tokens=budget,
            request=request,
            n_cells=self.settings.recent_cells,
            running_cell=self.failures.running,
        )

    def generate(self, request: StageRequest) -> None:
        """Context -> stage -> checks -> insertion (and execution only with run). Errors: one line, nothing inserted."""
        if request.cell_id:
            self.runs[request.cell_id] = request
        settings = request.settings(self.settings)
        try:
            snapshot = self.capture(
                request=request.prompt,
                budget=request.budget or settings.token_budget,
                board_name=request.board or settings.board or None,
                last_error=request.last_error,
            )
            if not settings.offline:
                load_model_client()
                print(f"[tinyml {request.stage}] asking {settings.model} ...", flush=True)
            from .stages import base

            generation = base.run(
                request,
                snapshot,
                self.settings,
                known_names=set(self.shell.user_ns),
                values=self.shell.user_ns,
                on_text=stream_to_output if settings.stream else None,
            )
        except TinyMLError as error:
            self.asks.append(outcome.failed_ask(request.stage, settings, error))
            self.report_spent(error)
            raise UsageError(f"tinyml: {error}") from None
        record = outcome.asked(request.stage, generation)
        self.asks.append(record)
        self.report(generation)
        provenance = Provenance(
            stage=request.stage,
            model=generation.model,
            request=request.text,
            checks=generation.findings(),
            source_cell=request.cell_id,
            note=request.note,
        )
        if not request.insert:
            from .notebook.cells import combine

            print(combine(generation.cells, provenance))
        else:
            print(writer_for(self.shell, self.link, runs=request.run).insert(generation.cells, provenance))
        if request.run:
            self.execute(generation, record)

    # ---- the lab extension's requests -------------------------------------------------------------------
    def handle_lab_request(self, data: dict[str, Any]) -> None:
        """A message from the review bar (comm.LabLink): Regenerate runs the stage again; a review decision
        (accept, discard, ran unreviewed) is remembered per cell, for `%tinyml status` (the mark itself lives in
        the notebook's metadata)."""
        op = data.get("op")
        if op in REVIEW_DECISIONS:
            for cell_id in data.get("cell_ids") or []:
                self.reviews[str(cell_id)] = REVIEW_DECISIONS[op]
        elif op == "regenerate":
            self.regenerate(
                str(data.get("source_cell") or ""),
                note=str(data.get("note") or ""),
                stage=str(data.get("stage") or ""),
                request=str(data.get("request") or ""),
            )

    def regenerate(self, source_cell: str, *, note: str = "", stage: str = "", request: str = "") -> None:
        """Run a magic's stage again (with the reviewer's note); the new cells replace its unreviewed ones.

        The request is remembered from this session; after a kernel restart the stage and request come from
        the cell's provenance. Nothing is printed into a cell (there is none running): errors go back to the bar.
        """
        remembered = self.runs.get(source_cell)
        if remembered is None:
            if stage not in STAGE_NAMES or not request.strip():
                self.tell_lab_error(source_cell, "tinyml: nothing to regenerate from: run the magic cell again.")
                return
            remembered = StageRequest(stage, request)
        try:
            self.generate(remembered.again(source_cell, note))
        except UsageError as error:
            self.tell_lab_error(source_cell, str(error))

    def tell_lab_error(self, source_cell: str, message: str) -> None:
        if self.link is not None:
            self.link.send({"op": "error", "source_cell": source_cell or None, "message": message})

    def report(self, generation: base.Generation) -> None:
        if generation.completions:
            print()
            for completion in generation.completions:
                print(completion.usage_line())
            if generation.rounds > 1:
                print(f"{generation.rounds} rounds: check problems went back to the model {generation.rounds - 1} time(s).")
        else:
            print("[tinyml] no model configured: built-in offline recipe for this stage "
                  "(set one with %tinyml config model=...).")
        for notice in generation.notices:  # what the offline recipe could not honour, each one line
            print(notice)
        for finding in generation.findings():
            print(f"check: {finding}")

    def report_spent(self, error: TinyMLError) -> None:
        """The usage lines of the answers an error came after: the tokens were spent though nothing was inserted."""
        from .stages.base import spent

        completions = spent(error)
        if completions:
            print()
        for completion in completions:
            print(completion.usage_line())

    def execute(self, generation: base.Generation, record: outcome.AskRecord) -> None:
        """--run: execute the code cells in order, stopping at the first failure (which %tinyml_fix can repair);
        the ask's record says how it went."""
        from .stages.checks import run_refusal

        refusal = run_refusal(cell.source for cell in generation.cells if cell.cell_type == "code")
        if refusal:  # the person reads flagged code and runs it by hand; --run never runs it unread
            record.refused(refusal)
            print(refusal)
            return
        for cell in generation.cells:
            if cell.cell_type != "code":
                continue
            result = self.shell.run_cell(cell.source, store_history=False)
            if not result.success:
                record.failed(result.error_in_exec or result.error_before_exec)
                raise UsageError("tinyml: the generated code failed (above); %tinyml_fix can repair it.")
        record.ran()


def load_model_client() -> None:
    """Import litellm with a line before and after: its first import takes half a minute on a slow disk, and a
    bare "asking ..." that long reads as a hang."""
    if "litellm" in sys.modules:
        return
    import time

    from .stages.llm import import_litellm

    print("[tinyml] loading the model client (litellm), once per session ...", flush=True)
    started = time.perf_counter()
    import_litellm()
    print(f"[tinyml] model client loaded in {time.perf_counter() - started:.0f} s", flush=True)


def stream_to_output(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
