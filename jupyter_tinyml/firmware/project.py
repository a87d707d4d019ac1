"""write_project: an int8 .tflite (int8 or float32 input and output) and a board in, a TFLite Micro project that
arduino-cli and PlatformIO build.

Layout (out_dir):

    README.md                how to build and upload, the budget
    platformio.ini           [platformio] src_dir = <name>: PlatformIO builds the sketch folder itself
    <name>/<name>.ino        the fixed skeleton; application glue only inside its regions
    <name>/sketch.yaml       default_fqbn, so `arduino-cli compile <name>` needs no --fqbn
    <name>/model_data.h/.cpp the model, byte for byte, 16-byte aligned
    <name>/model_settings.h  arena size, quantization, tensor types, element counts, labels, op names
    <name>/op_resolver.h     MicroMutableOpResolver<N> with exactly the model's ops
    <name>/tinyml_model.h/.cpp, tinyml_protocol.h/.cpp   interpreter and serial protocol (copied unchanged)

Everything exact is computed before anything is written: ops, arena (measured), quantization, budgets.
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..boards import Board, find_board
from ..budget import Budget
from ..errors import (
    ConfigError,
    CTargetTensorTypeError,
    FirmwareTensorTypeError,
    LibraryNotFoundError,
    PerChannelDenseError,
    QuantizationError,
)
from ..model.inspection import inspect
from ..model.tflite import Graph, TensorInfo, TFLite, model_bytes, read
from .c_code import (
    c_array,
    c_comment,
    c_escape,
    c_string,
    float32_text,
    float_literal,
    op_names,
    op_resolver_code,
    recent_ops,
    resolver_methods,
    safe_name,
)
from .owned_folder import claim, write_file
from .skeleton import REGION_NAMES, SKETCH_TEMPLATE, fill, regions, replace_regions, template
from .tflm_library import TFLMLibrary, find_library, install_hint

if TYPE_CHECKING:
    from .c_project import CProject

DEFAULT_NAME = "tinyml_model"
# The library's op resolver: the Add* methods it declares are the ops it can register.
RESOLVER_HEADER = Path("tensorflow", "lite", "micro", "micro_mutable_op_resolver.h")
# write_project's targets: the TFLite Micro sketch, the portable C target, or the one that fits the board.
TARGETS = ("auto", "tflm", "c")
DEFAULT_BAUD = 115200
# Who writes the project folder, as its marker file (owned_folder.MARKER) and a refusal name it.
WRITER = "write_project"
# Tensor types the protocol and the glue helpers handle (SetInput quantizes a real value into each integer type and
# stores it in a float32 input; DequantizeOutput reads each back): (tinyml::TensorType, bytes per value).
_TENSOR_TYPES = {"int8": ("kInt8", 1), "uint8": ("kUInt8", 1), "int16": ("kInt16", 2), "int32": ("kInt32", 4),
                 "float32": ("kFloat32", 4)}
# The only input and output type of the portable C target.
_C_TARGET_TYPE = "int8"
# Files copied into the sketch folder as they are.
_FIXED_FILES = ("tinyml_model.h", "tinyml_protocol.h", "tinyml_protocol.cpp")


@lru_cache(maxsize=1)
def build_settings() -> dict[str, Any]:
    """build.toml: the TFLite Micro library for Arduino and PlatformIO, and PlatformIO platforms by CPU."""
    return tomllib.loads(resources.files(__package__).joinpath("build.toml").read_text(encoding="utf-8"))


@dataclass(repr=False)
class Project:
    """A written firmware project: where its files are, what it runs, and whether it fits its board."""

    name: str
    root: Path
    sketch_dir: Path
    files: list[Path]
    board: Board
    ops: list[str]
    arena_bytes: int
    flash_bytes: int  # the model's .tflite, stored in flash as it is
    budget: Budget
    fqbn: str | None
    platformio_board: str | None
    library: str
    notes: list[str] = field(default_factory=list)
    # The TFLite Micro library found where the person's tools put it (None: not installed yet).
    installed_library: TFLMLibrary | None = None
    target_reason: str = ""  # which target write_project chose and why, in one line
    target: str = "tflm"

    @property
    def sketch(self) -> Path:
        """The .ino file: the skeleton with the application glue."""
        return self.sketch_dir / f"{self.name}.ino"

    @property
    def platformio_ini(self) -> Path | None:
        path = self.root / "platformio.ini"
        return path if path in self.files else None

    @property
    def flash_estimate(self) -> int:
        """Bytes of flash the firmware is expected to take: the model (exact) + the rest (estimate)."""
        return self.budget.flash_needed

    def __repr__(self) -> str:
        board_id = getattr(self.board, "id", "")
        lines = [f"Project {self.name!r} for the {self.board.name} ({board_id}) in {self.root}",
                 f"  sketch:     {self.sketch} and {len(self.files) - 1} more files"
                 + (f"; arduino-cli --fqbn {self.fqbn}" if self.fqbn else "; no arduino-cli FQBN in the catalogue"),
                 f"  PlatformIO: {self.platformio_ini} (board {self.platformio_board})" if self.platformio_ini
                 else "  PlatformIO: no platformio.ini (the catalogue has no PlatformIO board for this board)",
                 f"  library:    {self._library_text()}",
                 f"  ops ({len(self.ops)}):    {', '.join(self.ops)}",
                 f"  arena:      {self.arena_bytes:,} B",
                 f"  {self.budget.flash_text()}",
                 f"  {self.budget.ram_text()}"]
        if self.target_reason:
            lines.insert(1, f"  target:     {self.target_reason}")
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _library_text(self) -> str:
        if self.installed_library is None:
            return f"{self.library} is not installed — {install_hint()}"
        return str(self.installed_library)

    __str__ = __repr__


# ------------------------------------------------------------------------------------------------ helpers


def _board(board: Board | str) -> Board:
    if isinstance(board, str):
        return find_board(board)
    for attribute in ("id", "name", "flash_bytes", "ram_bytes"):
        if not hasattr(board, attribute):
            raise ConfigError(f"board={board!r} is not a board: give a catalogue name (e.g. 'nano33ble') or a Board")
    return board


def _text_attribute(board: Any, *names: str) -> str | None:
    """The first of the board's attributes `names` that is set; a list (several FQBNs) gives its first entry."""
    for name in names:
        value = getattr(board, name, None)
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value:
            return str(value)
    return None


def _platformio_platform(board: Any) -> str | None:
    explicit = _text_attribute(board, "platformio_platform")
    if explicit:
        return explicit
    cpu = str(getattr(board, "cpu", "") or "").lower()
    for fragment, platform in build_settings()["platformio"]["platform_by_cpu"]:
        if fragment.lower() in cpu:
            return str(platform)
    return None


def project_name(name: object) -> tuple[str, list[str]]:
    """(the name as a sketch and folder name, notes): Arduino's sketch name rule (a letter or digit, then letters,
    digits, "_", "-", "."), which also keeps the folder inside out_dir ("../../x" -> "x")."""
    if name is None:
        return DEFAULT_NAME, []
    safe = safe_name(name, DEFAULT_NAME)
    if safe == str(name):
        return safe, []
    return safe, [f"name {str(name)!r} is written as {safe!r}: a sketch and folder name takes letters, digits, "
                  "'_', '-' and '.'"]


def _single(tensors: list[TensorInfo], what: str) -> TensorInfo:
    if len(tensors) != 1:
        raise ConfigError(f"the model has {len(tensors)} {what}s; the firmware skeleton and its serial protocol take "
                          f"one {what} tensor — convert a model with a single {what}")
    return tensors[0]


def _tensor_type(tensor: TensorInfo, what: str) -> tuple[str, int]:
    if tensor.dtype not in _TENSOR_TYPES:
        raise FirmwareTensorTypeError(what, tensor.dtype, tuple(_TENSOR_TYPES))
    return _TENSOR_TYPES[tensor.dtype]


def _c_target_gap(graph: Graph) -> tuple[str, str] | None:
    """(which, dtype) of the model's first input or output that is not int8: the C target cannot run such a model
    (it has no QUANTIZE from float nor DEQUANTIZE), whatever its ops. None when both are int8."""
    for which, tensors in (("input", graph.inputs), ("output", graph.outputs)):
        for tensor in tensors:
            if tensor.dtype != _C_TARGET_TYPE:
                return which, tensor.dtype
    return None


def _cpp_bool(value: bool) -> str:
    return "true" if value else "false"


def _tensor_text(tensor: TensorInfo) -> str:
    quantization = (f"scale {float32_text(tensor.scale)}, zero point {tensor.zero_point}" if tensor.scale is not None
                    else "not quantized")
    # The name comes from the model file and may hold anything: it goes into a `//` comment.
    return c_comment(f"{tensor.name or '(unnamed)'}, {tensor.dtype} {list(tensor.shape)}, {quantization}")


def _labels(labels: Sequence[Any] | None, count: int) -> tuple[list[str], list[str]]:
    """(labels as the firmware prints them, notes). The serial line is ASCII and space-separated."""
    if labels is None:
        return [str(index) for index in range(count)], []
    given = [str(label) for label in labels]
    if len(given) != count:
        raise ConfigError(f"{len(given)} labels for {count} output values: give one label per output value, "
                          "in the model's output order")
    cleaned, notes = [], []
    for label in given:
        text = re.sub(r"\s+", "_", label.strip())
        if not text:
            raise ConfigError(f"label {label!r} is empty: every output value needs a name")
        if not all(" " < character <= "~" for character in text):
            raise ConfigError(f"label {label!r} is not plain ASCII; the serial protocol is ASCII — rename the class")
        if text != label:
            notes.append(f"label {label!r} is printed as {text!r} (a CLASS line separates fields with spaces)")
        cleaned.append(text)
    return cleaned, notes


def output_is_probability(model: TFLite | Graph) -> bool:
    """True when the model's output comes from SOFTMAX or LOGISTIC (through QUANTIZE/DEQUANTIZE/RESHAPE at most):
    its values are already scores 0..1, so CLASSIFY prints them as they are instead of taking a softmax."""
    graph = model if isinstance(model, Graph) else read(model_bytes(model))
    producer = {output: operator for operator in graph.operators for output in operator.outputs}
    tensor = graph.output_indices[0] if graph.output_indices else -1
    for _ in range(len(graph.operators)):
        operator = producer.get(tensor)
        if operator is None:
            return False
        name = "" if operator.custom else operator.name
        if name in ("SOFTMAX", "LOGISTIC"):
            return True
        if name not in ("QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE") or not operator.inputs:
            return False
        tensor = operator.inputs[0]
    return False


def _build_instructions(name: str, fqbn: str | None, platformio_board: str | None, library: dict[str, Any]) -> str:
    lines = []
    if fqbn:
        core = ":".join(fqbn.split(":")[:2])
        lines += ["arduino-cli (from this folder):", "",
                  f"    arduino-cli core install {core}",
                  f"    arduino-cli lib install {library['name']}",
                  f"    arduino-cli compile --fqbn {fqbn} {name}",
                  f"    arduino-cli upload --fqbn {fqbn} --port <port> {name}", ""]
    else:
        lines += ["arduino-cli: the board catalogue has no FQBN for this board; install "
                  f"`{library['name']}` and compile the `{name}` folder with your board's `--fqbn`.", ""]
    if platformio_board:
        lines += [f"PlatformIO (from this folder; it fetches {library['name']} itself):", "",
                  "    pio run", "    pio run -t upload", ""]
    else:
        lines += ["PlatformIO: the board catalogue has no PlatformIO board for this board, so there is no "
                  "platformio.ini.", ""]
    return "\n".join(lines).rstrip()


# -------------------------------------------------------------------------------------------- write_project


def _virtual(board: Any) -> bool:
    """The emulated board: it runs the portable C target as well as the TFLite Micro sketch."""
    return getattr(board, "upload", "") == "qemu"


def _library_check(graph: Graph, ops: list[str], out_dir: Path) -> TFLMLibrary | None:
    """The library the project will be built with (None when not installed); refuses a model it computes wrongly
    or has no resolver method for (its op resolver header says which ops it registers)."""
    try:
        library = find_library(out_dir)
    except LibraryNotFoundError:
        return None
    described = f"{library.name} {library.version} (in {library.root})"
    if graph.per_channel_fully_connected and not library.per_channel_fully_connected:
        raise PerChannelDenseError(described, len(graph.per_channel_fully_connected))
    header = library.source_dir / RESOLVER_HEADER
    if header.is_file():
        text = header.read_text(encoding="utf-8", errors="replace")
        methods = resolver_methods()
        lacking = [op for op in ops if f" {methods[op]}(" not in text]
        if lacking:
            raise QuantizationError(f"{described} has no kernel for {', '.join(lacking)}, which the model uses — "
                                    "replace those layers, or install a newer release of the library")
    return library


def write_project(tflite: TFLite, board: Board | str, out_dir: str | os.PathLike[str],
                  labels: Sequence[Any] | None = None, app: Mapping[str, str] | None = None, *,
                  name: str | None = None, target: str = "auto", overwrite: bool = False) -> Project | CProject:
    """Write a firmware project for `board` into `out_dir`; returns what was written.

    `tflite` is the model (bytes or a .tflite path); `board` a catalogue name or Board; `labels` one name per output
    value (default: the indices); `app` maps region names (firmware.REGION_NAMES) to application glue, the rest keep
    the serial-driven default. `name` names the sketch and the model on the serial line (default "tinyml_model").
    `target`: "tflm" (the TFLite Micro Arduino sketch + platformio.ini, returns Project; the same sketch on the
    virtual board), "c" (the portable C target: no interpreter, int8 input and output only, no application regions;
    returns c_project.CProject), or "auto": on the virtual board the C target when there is no `app` glue, the
    model's input and output are int8 and the C target covers every op, else TFLite Micro; on a real board TFLite
    Micro. The returned project's `target_reason` says which and why in one line.

    out_dir may be new, or hold other files: a file of the project that is already there is replaced only when
    out_dir's marker (.jupyter-tinyml) says write_project wrote it (writing the project again into its own folder
    works), else FolderNotOursError names it and nothing is written; overwrite=True replaces it. Files it wrote
    before and no longer writes are removed when unedited. `name` becomes a safe sketch and folder name.

    The sketch's glue helpers take and give real values for every input and output type it accepts (int8, uint8,
    int16, int32, float32: SetInput quantizes or stores, DequantizeOutput dequantizes or reads), so a float-input
    model (quantization="int8-float-io") is served as it is.

    Raises, before writing anything: QuantizationError when TFLite Micro lacks one of the model's ops or cannot run
    it, PerChannelDenseError when the installed TFLite Micro library would compute the model's Dense layers wrongly;
    ConfigError when it does not fit the board (flash or RAM, with the numbers), for labels that do not match
    the outputs, an unknown region, or a model with several inputs or outputs; FirmwareTensorTypeError for an input or
    output of another type (float16, int64, ...); CTargetTensorTypeError for target="c" and a model whose input or
    output is not int8. A library that is not installed is not an error: the project says how to install it.
    """
    if target == "arduino":  # the name this target had before the virtual board could run it too
        target = "tflm"
    if target not in TARGETS:
        raise ConfigError(f"Unknown target {target!r}: use 'tflm' (TFLite Micro sketch), 'c' (portable C) or 'auto'.")
    # Here, not at the top: the C target loads numpy, which the TFLite Micro target does not need.
    from .c_project import c_model_or_gap, write_c_project

    data = model_bytes(tflite)
    graph = read(data)
    chosen = _board(board)
    board_id = str(getattr(chosen, "id", ""))
    name, name_notes = project_name(name)
    c_model = None
    io_gap = _c_target_gap(graph)
    if target == "c":
        if io_gap:
            raise CTargetTensorTypeError(*io_gap)
        reason = f"{board_id}: portable C target — asked for (target='c')"
    elif target == "tflm":
        reason = f"{board_id}: TFLite Micro — asked for (target='tflm')"
    elif not _virtual(chosen):
        reason = f"{board_id}: TFLite Micro — a real board runs the Arduino sketch"
    elif app:
        reason = f"{board_id}: TFLite Micro — the application glue needs the sketch's regions (the C target has none)"
    elif io_gap:
        reason = (f"{board_id}: TFLite Micro — the model's {io_gap[0]} is {io_gap[1]}; the C target runs int8 input "
                  "and output")
        target = "tflm"
    else:
        c_model, gap = c_model_or_gap(graph, name)
        if c_model is not None:
            target, reason = "c", f"{board_id}: portable C target — covers all {len(set(c_model.ops))} ops"
        else:
            target, reason = "tflm", f"{board_id}: TFLite Micro — the C target does not cover {gap}"
    if target == "c":
        if app:
            raise ConfigError("The portable C target has no application regions: it is driven over serial only.")
        return write_c_project(graph, chosen, out_dir, labels, name=name, model=c_model, target_reason=reason,
                               overwrite=overwrite)
    project = _write_tflm_project(data, graph, chosen, Path(out_dir), labels, app, name, reason, overwrite)
    project.notes[:0] = name_notes
    return project


def _write_tflm_project(data: bytes, graph: Graph, board: Any, root: Path, labels: Sequence[Any] | None,
                        app: Mapping[str, str] | None, sketch_name: str, reason: str, overwrite: bool) -> Project:
    """write_project for the TFLite Micro target: everything exact is computed before anything is written."""
    library = build_settings()["library"]
    for tensor, what in ((_single(list(graph.inputs), "input"), "input"),
                         (_single(list(graph.outputs), "output"), "output")):
        _tensor_type(tensor, what)  # refused before the arena is measured

    inspection = inspect(data)
    if inspection.unsupported_ops:
        raise QuantizationError(f"TFLite Micro has no kernel for {', '.join(inspection.unsupported_ops)}, which the "
                                "model uses — replace those layers with ones TFLite Micro supports and convert again")
    if inspection.arena_bytes is None or inspection.arena_measured_bytes is None:
        raise QuantizationError(f"the tensor arena cannot be measured: {inspection.arena_error} — convert the model "
                                "again with int8 builtin ops only (TFLITE_BUILTINS_INT8)")
    resolver = op_resolver_code(inspection.ops)
    ops = op_names(inspection.ops)
    installed = _library_check(graph, ops, root)

    input_tensor = _single(inspection.inputs, "input")
    output_tensor = _single(inspection.outputs, "output")
    input_type, input_width = _tensor_type(input_tensor, "input")  # the input's bytes travel as they are
    output_type, output_width = _tensor_type(output_tensor, "output")
    input_count, output_count = input_tensor.count, output_tensor.count
    input_bytes, output_bytes = input_count * input_width, output_count * output_width
    label_texts, notes = _labels(labels, output_count)

    budget = inspection.budget_on(board)
    budget.require()

    board_id = str(board.id)
    baud = int(getattr(board, "baud", None) or DEFAULT_BAUD)
    fqbn = _text_attribute(board, "fqbn")
    platformio_board = _text_attribute(board, "platformio", "platformio_board")
    platform = _platformio_platform(board) if platformio_board else None
    if platformio_board and not platform:
        notes.append(f"no PlatformIO platform is known for the {board.name} (cpu {getattr(board, 'cpu', '?')!r}); "
                     "platformio.ini was not written")
        platformio_board = None

    template_values = {"sketch_name": sketch_name, "board_name": c_comment(str(board.name)),
                       "board_id": c_comment(board_id),
                       "library_header": library["header"]}
    sketch = fill(SKETCH_TEMPLATE, **template_values)
    if list(regions(sketch)) != list(REGION_NAMES):  # the skeleton and REGION_NAMES must agree
        raise ConfigError(f"malformed skeleton: regions {list(regions(sketch))}, expected {list(REGION_NAMES)}")
    if app:
        sketch = replace_regions(sketch, app)

    probability = output_is_probability(graph)
    header, source = c_array(data)
    settings = fill(
        "model_settings.h", model_name=c_string(sketch_name), board_id=c_escape(board_id), baud=baud,
        arena_measured_bytes=f"{inspection.arena_measured_bytes:,}",
        arena_margin_bytes=f"{inspection.arena_margin_bytes or 0:,}",
        kernel_scratch_bytes=f"{inspection.kernel_scratch_bytes:,}", arena_bytes=inspection.arena_bytes,
        input_text=_tensor_text(input_tensor), input_count=input_count, input_bytes=input_bytes,
        input_scale=float_literal(input_tensor.scale or 0.0), input_zero_point=input_tensor.zero_point or 0,
        input_scale_text=float32_text(input_tensor.scale or 0.0), input_type=input_type,
        input_is_float=_cpp_bool(input_tensor.dtype == "float32"),
        output_is_float=_cpp_bool(output_tensor.dtype == "float32"),
        output_text=_tensor_text(output_tensor), output_count=output_count, output_bytes=output_bytes,
        output_scale=float_literal(output_tensor.scale or 0.0), output_zero_point=output_tensor.zero_point or 0,
        output_scale_text=float32_text(output_tensor.scale or 0.0), output_type=output_type,
        output_is_probability=_cpp_bool(probability),
        output_is_probability_text=("The model ends in a softmax/logistic: CLASSIFY prints the output as its score."
                                    if probability else
                                    "The model's outputs are not probabilities: CLASSIFY scores them with a softmax."),
        op_names=c_escape(",".join(ops)), label_count=len(label_texts),
        labels="\n".join(f'    "{c_string(label)}",' for label in label_texts))

    if any(op in recent_ops() for op in ops):
        recent = sorted(op for op in ops if op in recent_ops())
        notes.append(f"{', '.join(recent)} came to TFLite Micro recently: if {library['name']} fails with "
                     "\"has no member named 'Add…'\", it predates them")

    if installed is None and graph.per_channel_fully_connected:
        notes.append("the model's Dense layers have per-channel weight scales: install a TFLite Micro library whose "
                     "FULLY_CONNECTED computes them, or convert with convert(model, x_train) (per-tensor Dense)")
    sketch_dir = root / sketch_name
    contents: dict[Path, str] = {
        sketch_dir / f"{sketch_name}.ino": sketch,
        sketch_dir / "model_data.h": header,
        sketch_dir / "model_data.cpp": source,
        sketch_dir / "model_settings.h": settings,
        sketch_dir / "op_resolver.h": resolver,
        sketch_dir / "tinyml_model.cpp": fill("tinyml_model.cpp", library_header=library["header"]),
        **{sketch_dir / file_name: template(file_name) for file_name in _FIXED_FILES},
    }
    if fqbn:
        contents[sketch_dir / "sketch.yaml"] = fill("sketch.yaml", sketch_name=sketch_name, fqbn=fqbn)
    if platformio_board:
        contents[root / "platformio.ini"] = fill(
            "platformio.ini", board_name=c_comment(str(board.name)), board_id=c_comment(board_id),
            sketch_name=sketch_name,
            env_name=re.sub(r"[^A-Za-z0-9_]", "_", board_id), platform=platform, platformio_board=platformio_board,
            baud=baud, library_name=library["name"], library_url=library["url"],
            platformio_library=library["platformio"])
    contents[root / "README.md"] = fill(
        "README.md", sketch_name=sketch_name, board_name=board.name, board_id=board_id, model_name=sketch_name,
        input_bytes=input_bytes, output_bytes=output_bytes, baud=baud,
        io_text=f"{input_tensor.dtype} input, {output_tensor.dtype} output",
        build_instructions=_build_instructions(sketch_name, fqbn, platformio_board, library),
        budget_text=str(budget).replace("\n  ", "\n- ").replace("fits the", "The model fits the", 1))

    owned = claim(root, WRITER, contents, overwrite=overwrite)
    for path, text in contents.items():
        write_file(path, text)
    # An earlier project in the same folder, for a board with other build ids, may have left a platformio.ini or
    # sketch.yaml that would build for the wrong board: record() removes what write_project wrote and no longer does.
    owned.record(contents)
    return Project(name=sketch_name, root=root, sketch_dir=sketch_dir, files=list(contents), board=board, ops=ops,
                   arena_bytes=inspection.arena_bytes, flash_bytes=inspection.flash_bytes, budget=budget, fqbn=fqbn,
                   platformio_board=platformio_board, library=library["name"], notes=notes,
                   installed_library=installed, target_reason=reason)
