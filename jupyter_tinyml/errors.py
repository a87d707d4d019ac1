"""The few exception classes jupyter-tinyml raises.

Each message is one line that says what to do next; the magics print it and leave the notebook unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class TinyMLError(Exception):
    """Base class: anything the person can act on.

    `completions` holds the model's answers when the error ended an ask after the model had answered (the
    generate loop sets it), so the tokens spent are still reported; empty otherwise.
    """

    completions: list = []  # noqa: RUF012 (read-only default; the generate loop assigns a list per error)
    rounds: int = 0  # the generate loop's round the error ended in (0: it ended before the model was asked)


class ConfigError(TinyMLError):
    """A setting or magic argument is wrong (unknown key, bad value, empty request)."""


class KeyNotSettableError(ConfigError):
    """`%tinyml config api_key=...`: a key typed into a notebook would be saved with it."""

    def __init__(self) -> None:
        super().__init__(
            "API keys are not set here (they would end up in the notebook): "
            "set TINYML_API_KEY or the provider's variable (e.g. OPENAI_API_KEY) before starting Jupyter."
        )


class UnknownSettingError(ConfigError):
    """A setting name that the TinyML Configurable does not have."""

    def __init__(self, name: str, settable: list[str]) -> None:
        super().__init__(f"Unknown setting {name!r}; settable: {', '.join(settable)}.")


class BadSettingValueError(ConfigError):
    """A setting's text that its trait cannot convert (`token_budget=lots`)."""

    def __init__(self, name: str, kind: str, value: str) -> None:
        super().__init__(f"{name} needs a {kind}, got {value!r}.")


class PlannedEpochsError(ConfigError):
    """`TrainingProgress(epochs=0)`: the progress bar needs a planned epoch count of 1 or more."""

    def __init__(self, epochs: object) -> None:
        super().__init__(f"TrainingProgress(epochs={epochs!r}): give the planned number of epochs (1 or more), "
                         "or leave it out to use the epochs given to fit")


class UnknownStageError(ConfigError):
    """A StageRequest naming a stage that does not exist."""

    def __init__(self, name: str, stages: tuple[str, ...]) -> None:
        super().__init__(f"Unknown stage {name!r}; the stages are {', '.join(stages)}.")


class ModelError(TinyMLError):
    """The language model could not be used: unreachable, missing key, unknown name, timeout, rate limit."""


class MissingKeyError(ModelError):
    """The provider refused the key, or there was none to send."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"No valid API key for {model}: set the provider's key (e.g. OPENAI_API_KEY) or TINYML_API_KEY "
            "in the environment Jupyter starts from, then restart the kernel."
        )


class RateLimitedError(ModelError):
    """The provider answered 429."""

    def __init__(self, model: str) -> None:
        super().__init__(f"{model} is rate-limited: wait a minute and run the cell again, or pick another model.")


class ModelTimeoutError(ModelError):
    """No answer within the `timeout` setting."""

    def __init__(self, model: str, api_base: str | None = None) -> None:
        where = f" at {api_base}" if api_base else ""
        super().__init__(
            f"{model}{where} did not answer in time: try again, raise the limit (%tinyml config timeout=120) "
            "or use a smaller model."
        )


class UnknownModelError(ModelError):
    """litellm knows no provider for the name, or the provider knows no such model."""

    def __init__(self, model: str) -> None:
        super().__init__(
            f"Unknown model {model!r}: use a litellm name such as openai/gpt-4o-mini or ollama/qwen2.5-coder "
            "(%tinyml config model=...)."
        )


class UnreachableModelError(ModelError):
    """No connection to the provider or the local server, or it failed on its side."""

    def __init__(self, model: str, api_base: str | None = None) -> None:
        where = f" at {api_base}" if api_base else ""
        super().__init__(
            f"Could not reach {model}{where}: check the network or that the server is running, "
            "or clear the model (%tinyml config model=) to use the offline recipes."
        )


class SpendLimitError(ModelError):
    """The next call could pass the `spend_limit` setting: refused before anything is sent (an evaluation passes
    its remaining token budget this way, and a person may cap a session's spending)."""

    def __init__(self, spent: int, limit: int, needed: int) -> None:
        super().__init__(
            f"Spend limit reached: {spent:,} tokens spent so far, and the next call may take up to {needed:,} more, "
            f"past the limit of {limit:,} — raise it with %tinyml config spend_limit=N (0: no limit), then run the "
            "cell again."
        )
        self.spent, self.limit, self.needed = spent, limit, needed


class PromptTooLongError(ModelError):
    """The prompt exceeds the model's context window."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The prompt is too long for {model}: lower %tinyml config token_budget=1000 and retry.")


class EmptyAnswerError(ModelError):
    """The call succeeded but carried no choices."""

    def __init__(self, model: str) -> None:
        super().__init__(f"{model} returned no answer; try again or choose another model with --model.")


class ModelFailedError(ModelError):
    """Any other failure of the call; `kind` is the exception's class name, `detail` its first line."""

    def __init__(self, model: str, kind: str, detail: str) -> None:
        super().__init__(f"{model} failed ({kind}: {detail[:200]}); check the model name and settings.")


class MalformedAnswerError(TinyMLError):
    """The model answered, but not with Python code we can insert."""


class RecipeError(TinyMLError):
    """The offline recipe found nothing in the notebook it knows how to handle."""


class WishOutOfRangeError(RecipeError):
    """The request asks the offline recipe for a value it could honour but that makes no sense (epochs 0)."""

    def __init__(self, what: str, value: str, works: str) -> None:
        super().__init__(f"The request asks for {what} {value}, which cannot train a useful model: use {works}.")


class QuantizationError(TinyMLError):
    """A model, its data or a .tflite cannot be converted, evaluated or inspected as asked."""

    @staticmethod
    def first_line(error: BaseException | str) -> str:
        """The first non-empty line of a library's message (TensorFlow's run to pages), else the error's class."""
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        return lines[0] if lines else type(error).__name__


class LibraryError(QuantizationError):
    """Keras, TensorFlow or LiteRT refused; their first line says why (`doing` says what was being done)."""

    def __init__(self, doing: str, error: BaseException | str) -> None:
        super().__init__(f"{doing}: {self.first_line(error)}")


class UnknownQuantizationError(QuantizationError):
    """A quantization mode convert() does not know."""

    def __init__(self, mode: object, modes: tuple[str, ...]) -> None:
        super().__init__(f"Unknown quantization {mode!r}: use one of {', '.join(repr(m) for m in modes)}.")


class MissingRepresentativeDataError(QuantizationError):
    """An int8 mode without the samples that fix its scales."""

    def __init__(self, mode: str) -> None:
        super().__init__(f"quantization={mode!r} needs representative data to fix the int8 scales: "
                         "pass representative_data=x_train.")


class ModelSourceError(QuantizationError):
    """What was passed as the model is none of the kinds convert() and compare() read."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}: pass a Keras model, a .keras/.h5 file or a SavedModel directory.")


class InputCountError(QuantizationError):
    """The model has more than one input (or output); convert, evaluate and compare handle one of each."""

    def __init__(self, source: str, inputs: int, outputs: int | None = None) -> None:
        if outputs is None:
            super().__init__(f"The {source} has {inputs} inputs; this module handles models with one input.")
        else:
            super().__init__(f"The {source} has {inputs} inputs and {outputs} outputs; evaluate handles one of each.")


class SampleShapeError(QuantizationError):
    """Samples whose shape (without the batch axis) is not the model's input shape."""

    def __init__(self, what: str, got: tuple[int, ...], expected: tuple[int | None, ...]) -> None:
        per_sample = got[1:]
        dims = ["any" if e is None else str(e) for e in expected]
        shown = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
        hint = ""
        if len(per_sample) + 1 == len(expected) and expected[-1] == 1:
            hint = " Add the channel axis with x[..., np.newaxis]."
        super().__init__(f"{what} has samples of shape {per_sample} but the model expects {shown} per sample "
                         f"(array shape {got}).{hint}")


class ConversionError(QuantizationError):
    """The TFLite converter failed; `op` is the op it named (None when it named none), `detail` its first line."""

    def __init__(self, quantization: str, detail: str, op: str | None = None, *, flex: bool = False) -> None:
        if op is None:
            message = f"Conversion to {quantization!r} failed: {detail}"
        elif op.startswith("TensorList"):
            message = (f"Conversion to {quantization!r} failed at op {op}: recurrent layers (LSTM, GRU) with a loop "
                       "over time have no TFLite builtin form; build them with unroll=True (short windows) or use "
                       "Conv1D.")
        elif flex:
            message = (f"Conversion to {quantization!r} failed: op {op} has no TFLite builtin kernel (it would need "
                       "TensorFlow 'flex' ops, which microcontrollers lack); replace the layer or activation that "
                       "uses it.")
        else:
            message = f"Conversion to {quantization!r} failed at op {op}: {detail}"
        super().__init__(message)
        self.op = op


class FloatOpsError(QuantizationError):
    """An int8 conversion kept ops in float (no int8 kernel), which int8-only firmware cannot run."""

    def __init__(self, quantization: str, ops: list[str]) -> None:
        super().__init__(f"Op {', '.join(ops)} has no int8 kernel, so quantization={quantization!r} would leave it in "
                         "float32: replace the layer that uses it, or use quantization='dynamic' for a host-only model.")
        self.ops = ops


class PerChannelDenseError(QuantizationError):
    """The model's Dense layers carry per-channel weight scales and the TFLite Micro library the firmware is built
    with applies one scale to every channel of FULLY_CONNECTED: the board would compute wrong scores."""

    def __init__(self, library: str, count: int) -> None:
        layers = "Dense layer has" if count == 1 else f"{count} Dense layers have"
        super().__init__(f"The model's {layers} per-channel weight scales, which {library} computes wrongly (its "
                         "FULLY_CONNECTED applies one scale to every channel) — convert again with "
                         "convert(model, x_train), whose default per_channel_dense=False gives per-tensor Dense "
                         "weights.")
        self.library = library


class ToolNotFoundError(TinyMLError):
    """A program the step needs (arduino-cli, PlatformIO, bossac) is not installed; the message says how to get it."""


class ProgramNotFoundError(ToolNotFoundError):
    """A program named by the caller (or on a command line) cannot be run: missing, or not executable."""

    def __init__(self, program: str, *, executable: bool = False) -> None:
        if executable:
            super().__init__(f"{program} is not executable — check its permissions (chmod +x)")
        else:
            super().__init__(f"{program} not found — install it, or pass the full path of the program")
        self.program = program


class BuildError(TinyMLError):
    """The firmware did not compile; `output` holds the tool's full output (the magic feeds it to a repair round)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class BoardError(TinyMLError):
    """Talking to a board over USB failed; the one-line message says what to do with the board."""


class PortBusyError(BoardError):
    """The serial port exists but cannot be opened: another program holds it, or the user lacks permission."""


class BoardNotFoundError(BoardError):
    """No board on the given port (unplugged, wrong name), none of the wanted kind attached, or it went away."""


_PLUG_IN = "plug it in with a data USB cable (charge-only cables show nothing)"


class BoardNotAttachedError(BoardNotFoundError):
    """No port shows the wanted board's USB ids (and, for a drive-copy board, no bootloader drive is mounted).

    hint: how to reach the board another way (its bootloader), said after "plug it in"; drive: the bootloader drive
    that was looked for too.
    """

    def __init__(self, board: str, *, hint: str = "", drive: str = "") -> None:
        no_drive = f" and no {drive} drive mounted" if drive else ""
        then = f", or {hint} and retry" if hint else "; detect_boards() lists what is attached"
        super().__init__(f"No {board} attached{no_drive} — {_PLUG_IN}{then}")
        self.board = board


class VirtualBoardNotRunningError(BoardNotFoundError):
    """The virtual board was asked something before Flash started it in QEMU (there is nothing to plug in)."""

    def __init__(self, board: str) -> None:
        super().__init__(f"The {board} is not running — Build, then Flash starts it in QEMU (no hardware needed)")
        self.board = board


class NoSuchPortError(BoardNotFoundError):
    """The serial port named does not exist (the board is unplugged, or the name is wrong)."""

    def __init__(self, port: str, board: str = "board") -> None:
        super().__init__(f"No serial port {port} — plug the {board} in with a data USB cable (charge-only cables "
                         "show nothing); detect_boards() lists the ports attached now")
        self.port = port


class BoardGoneError(BoardNotFoundError):
    """The board disappeared during a session (unplugged, or reset into its bootloader)."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where[:1].upper()}{where[1:]} went away ({reason}) — plug it in again (if it reset into "
                         "its bootloader, flash it again) and reconnect")


class WrongBoardError(BoardError):
    """The port belongs to a different board than the one asked for (its USB VID/PID say so)."""


class NoAnswerError(BoardError):
    """The board stayed silent: no READY line, or no answer to a request, within the timeout."""


class DeviceError(BoardError):
    """The board answered `TINYML ERROR <message>`; `device_message` is its text."""

    def __init__(self, message: str, device_message: str = "") -> None:
        super().__init__(message)
        self.device_message = device_message


class ProtocolError(BoardError):
    """The board answered, but not as PROTOCOL.md says (malformed line, wrong length, wrong kind of answer)."""


REFLASH = "the firmware does not follow PROTOCOL.md; build and flash it again from this version"


class MalformedLineError(ProtocolError):
    """One line from the board could not be read as PROTOCOL.md says; `line` is what arrived."""

    def __init__(self, line: str, problem: str, todo: str = REFLASH) -> None:
        shown = line if len(line) <= 120 else line[:120] + "..."
        super().__init__(f"Malformed answer {shown!r}: {problem}" + (f" — {todo}" if todo else ""))
        self.line = line


class UploadError(BoardError):
    """Writing the firmware failed; the message says how to recover (usually: double-tap reset, upload again)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class BootloaderError(UploadError):
    """The board did not enter its bootloader (no bootloader port or drive appeared in time)."""


class UploadTimeoutError(UploadError):
    """The uploading tool did not finish within its timeout and was stopped.

    state: what that leaves on the board, when it matters; recover: what to do next.
    """

    def __init__(self, tool: str, seconds: float, recover: str, *, port: str = "", state: str = "",
                 output: str = "") -> None:
        where = f" on {port}" if port else ""
        left = f"; {state}" if state else ""
        super().__init__(f"{tool} did not finish within {seconds:g} s{where}{left} — {recover}", output)


class UploadToolError(UploadError):
    """The uploading tool ran and failed; `detail` is its last words (or exit code), `output` all of them."""

    def __init__(self, tool: str, port: str, detail: str, recover: str, *, state: str = "", output: str = "") -> None:
        left = f"; {state}" if state else ""
        super().__init__(f"{tool} failed on {port} ({detail}){left} — {recover}", output)


class LibraryNotFoundError(ToolNotFoundError):
    """The TFLite Micro Arduino library the firmware is built against is not installed where a person's tools put
    it; the message says how to install it and where it was looked for."""

    def __init__(self, name: str, install_hint: str, looked_in: list[str]) -> None:
        self.name = name
        self.looked_in = list(looked_in)
        places = ", ".join(self.looked_in) or "nowhere"
        super().__init__(f"The TFLite Micro library {name} is not installed: {install_hint} (looked in {places})")


# --- model answers (issue 11: answer shapes, truncation) ----------------------------------------------------


class AnswerFormError(MalformedAnswerError):
    """An answer the stage's reader cannot use at all: not in the form the prompt asks for.

    A reader raises a subclass with `follow_up`, what the model is told; the generate loop sends it once
    (while rounds remain) and raises the error, whose message is for the person, when the next answer is
    no better.
    """

    def __init__(self, message: str, follow_up: str) -> None:
        super().__init__(message)
        self.follow_up = follow_up


class NoPythonBlockError(AnswerFormError):
    """A Python stage's answer with no Python in it: other languages only (`languages`), or prose only."""

    def __init__(self, languages: list[str]) -> None:
        held = f"{', '.join(languages)} code" if languages else "no code"
        super().__init__(
            f"The model answered with {held}, not Python; nothing was inserted. Rephrase the request or run "
            "the cell again."
            if languages
            else "The model's answer held no Python code; nothing was inserted. Run the cell again or make the "
            "request more specific.",
            f"Your answer held {held} but no Python, so nothing could be inserted into the notebook. Answer "
            "again with the complete Python code in fenced ```python blocks; a sentence before or after them "
            "is fine.",
        )


class AnswerCutOffError(MalformedAnswerError):
    """The answer stopped at the token limit (or inside a code block), also after one request to continue."""

    def __init__(self, max_tokens: int) -> None:
        super().__init__(
            f"The model's answer was cut off at max_tokens={max_tokens}, also after a request to continue; "
            f"nothing was inserted. Raise it with %tinyml config max_tokens={max(2 * max_tokens, 1024)} "
            "or ask for less, then run the cell again."
        )


# --- application glue (issue 11: glue forms, compile check) -------------------------------------------------


class NoGlueError(AnswerFormError):
    """A deploy (or glue repair) answer with no application glue in a form the reader maps to the regions."""

    def __init__(self, why: str, follow_up: str) -> None:
        super().__init__(
            f"The model's deploy answer held no application glue the sketch's regions can take ({why}), so "
            "nothing was inserted; run the cell again or rephrase the request.",
            follow_up,
        )


# --- firmware tensor types (issue 11) -----------------------------------------------------------------------


class FirmwareTensorTypeError(ConfigError):
    """The model's input or output is of a type that the firmware's glue helpers (SetInput, DequantizeOutput) and
    serial protocol cannot handle; write_project refuses it before writing anything."""

    def __init__(self, which: str, dtype: str, handled: tuple[str, ...]) -> None:
        super().__init__(f"The model's {which} is {dtype}; the firmware reads and writes {', '.join(handled)} tensors "
                         f"— convert with quantization='int8' (int8 {which}) or 'int8-float-io' (float32 {which})")


class CTargetTensorTypeError(ConfigError):
    """target='c' for a model whose input or output is not int8 (a float32 one, from quantization='int8-float-io'):
    the portable C target runs int8 from end to end, with no QUANTIZE from float nor DEQUANTIZE."""

    def __init__(self, which: str, dtype: str) -> None:
        super().__init__(f"The portable C target runs int8 input and output, and this model's {which} is {dtype} — "
                         "use target='tflm' (or 'auto'), or convert with quantization='int8'")


# --- hardening: no user file is lost (issue 12) -------------------------------------------------------------


class FolderNotOursError(ConfigError):
    """A writer (write_project, the virtual board build) would replace a file it did not write: the folder holds
    no marker of it (.jupyter-tinyml) that lists the file. Nothing has been written."""

    def __init__(self, path: object, writer: str) -> None:
        super().__init__(f"{writer} would overwrite {path}, which it did not write — choose a new or empty folder, "
                         "or pass overwrite=True to replace it")


# --- hardening: corrupted models (issue 12) ---------------------------------------------------------------------


class CorruptModelError(ModelSourceError):
    """A .tflite whose flatbuffer is damaged or inconsistent (truncated, a tensor index past the end, a constant
    shorter than its shape): refused before any of it reaches native code. `problem` names what was wrong."""

    def __init__(self, problem: str) -> None:
        QuantizationError.__init__(self, f"The .tflite is corrupt: {problem} — convert the model again "
                                         "(the file may be truncated or damaged)")


# --- hardening: settings bounds, server errors, board line bounds (issue 12) ------------------------------------


class SettingOutOfRangeError(ConfigError):
    """A setting or magic option whose value is outside its stated range (`--budget 0`, `timeout=nan`);
    `kept` is the value that stays (None for a magic option, which has no value of its own)."""

    def __init__(self, name: str, value: object, low: float, high: float, kept: object = None) -> None:
        def number(x: float) -> str:
            return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"

        got = str(value) if len(str(value)) <= 40 else str(value)[:37] + "..."
        stays = f"; it stays {kept}" if kept is not None else ""
        super().__init__(f"{name} must be a number from {number(low)} to {number(high)}, got {got}{stays}.")


def _where(api_base: str | None) -> str:
    return f" at {api_base}" if api_base else ""


class ServerAnsweredError(ModelError):
    """The server answered, with an HTTP error status; `detail` is the first line of its body."""

    def __init__(self, model: str, api_base: str | None, status: int, detail: str) -> None:
        shown = f": {detail[:200]}" if detail else ""
        super().__init__(f"{model}{_where(api_base)} answered HTTP {status}{shown} — check the server's log and "
                         "the model settings (%tinyml config), then retry")


class UnreadableAnswerError(ModelError):
    """The server answered, but its body is not a chat completion (invalid JSON, an HTML page, invalid UTF-8)."""

    def __init__(self, model: str, api_base: str | None, problem: str, detail: str = "") -> None:
        shown = f" ({detail[:120]})" if detail else ""
        super().__init__(f"{model}{_where(api_base)} answered with {problem}{shown}, not a chat completion — check "
                         "that api_base is the server's OpenAI-compatible address (usually ending in /v1)")


class StreamCutError(ModelError):
    """The connection closed before the answer was complete (the server stopped or crashed mid-answer)."""

    def __init__(self, model: str, api_base: str | None, received: int | None = None) -> None:
        after = f" (after {received} characters)" if received else ""
        super().__init__(f"{model}{_where(api_base)} closed the connection in the middle of its answer{after}: the "
                         "answer was cut — run the cell again; if it keeps happening, check the server's log")


# --- hardening: hangs and answers (issue 12) ------------------------------------------------------------------


class AnswerTooLongError(ModelError):
    """The model's answer is longer than tinyml takes (llm.MAX_ANSWER_CHARS): nothing of it is inserted."""

    def __init__(self, model: str, n_chars: int, limit: int) -> None:
        super().__init__(f"{model} answered with {n_chars:,} characters, more than the {limit:,} tinyml takes, so "
                         "nothing was inserted — ask for one step at a time, or lower max_tokens (%tinyml config)")


# --- the evaluation of a model on the lifecycle notebooks (issue 15) ---------------------------------------


class NotebookPlanError(ConfigError):
    """A notebook the evaluation cannot run: missing, not a notebook, or without a stage to judge."""


class NotebookNotFoundError(NotebookPlanError):
    def __init__(self, path: Path) -> None:
        super().__init__(f"no notebook at {path}: check the path given to --notebooks.")


class NotANotebookError(NotebookPlanError):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} is not a Jupyter notebook ({problem}): give .ipynb files to --notebooks.")


class NoStageCellError(NotebookPlanError):
    def __init__(self, path: Path, stages: Sequence[str]) -> None:
        super().__init__(f"{path.name} has no %%tinyml_{{{','.join(stages)}}} cell: nothing to evaluate in it.")


class BadStageLineError(NotebookPlanError):
    def __init__(self, path: Path, line: str, problem: str) -> None:
        super().__init__(f"{path.name}: the magic line {line!r} cannot be read ({problem}); "
                         "correct it in the notebook.")


class RepeatedStageError(NotebookPlanError):
    def __init__(self, path: Path, stage: str) -> None:
        super().__init__(f"{path.name} has two %%tinyml_{stage} cells: a run judges each stage once; "
                         "keep one of them.")


class OtherEvaluationError(ConfigError):
    """OUT already holds runs of an evaluation with another fingerprint."""

    def __init__(self, out: Path, differences: dict[str, tuple[Any, Any]]) -> None:
        listed = "; ".join(f"{name}: {there!r} there, {here!r} now" for name, (there, here) in differences.items())
        super().__init__(f"{out} holds an evaluation with other settings ({listed}): give another --out, "
                         "or the same settings to resume it.")


class UnreadableStoreError(ConfigError):
    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} cannot be read ({problem}): give another --out, or move the folder away.")


class EvaluationStoppedError(TinyMLError):
    """A fatal error (a refused key, a quota, the spend limit): every later ask would fail the same way."""

    def __init__(self, notebook: str, stage: str, error: str) -> None:
        super().__init__(f"stopped at {notebook} · {stage}: {error.rstrip('.')} — nothing recorded for this run")


class BudgetReachedError(EvaluationStoppedError):
    """The kernel refused a call that could pass what the token budget left (its spend limit)."""

    def __init__(self, notebook: str, stage: str) -> None:
        super().__init__(notebook, stage, "the next call could pass the token budget; raise --max-tokens-total "
                         "and run the same command again to go on")


class KernelStartError(TinyMLError):
    """No kernel to run in: every run would need one."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"stopped: the kernel did not start ({problem}); check that `jupyter kernelspec list` "
                         "shows python3 for this Python — nothing recorded for this run")


class SetupCellError(TinyMLError):
    """One of the notebook's own setup cells failed: no stage can be judged, in this run or any other."""

    def __init__(self, notebook: str, source: str, error: str) -> None:
        first = source.strip().splitlines()[0] if source.strip() else ""
        super().__init__(f"stopped: {notebook}'s setup cell starting {first!r} failed ({error}): "
                         "run the notebook by hand to see why — nothing recorded for this run")


class BadArgumentsError(ConfigError):
    """What argparse found wrong with the command line, as one line."""


class NoExampleNotebooksError(ConfigError):
    def __init__(self, looked_in: Path) -> None:
        super().__init__(f"no example notebooks at {looked_in} (an installed package does not carry them): "
                         "pass --notebooks with the notebooks to evaluate.")


class BudgetSpentError(TinyMLError):
    def __init__(self, budget: int, spent: int, done: int) -> None:
        super().__init__(f"stopped: the token budget of {budget:,} is spent ({spent:,} used so far, {done} runs "
                         "recorded; too little left for another ask); raise --max-tokens-total and run the same "
                         "command again to go on.")


class SameNameError(ConfigError):
    def __init__(self, name: str) -> None:
        super().__init__(f"two notebooks are named {name}: runs are recorded by notebook name; rename one.")
