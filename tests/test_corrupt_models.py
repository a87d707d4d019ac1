"""Corrupted .tflite files give one TinyMLError line from every public function that takes a model, never a raw
struct.error/KeyError/IndexError nor a crash of the native runtimes (tests/corrupt_models.py makes them)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from corrupt_models import CORRUPTIONS, corrupted_models

from jupyter_tinyml.errors import CorruptModelError, TinyMLError

# The cheap parser sees this many corruptions; the expensive paths (LiteRT, the arena search's child process, both
# firmware targets) a seeded subset of them.
COUNT = 520
SUBSET = 60
SEED = 12


def _outcome(call) -> str:  # noqa: ANN001 (any zero-argument call)
    """"ok", or "TinyMLError subclass: message" — anything else escapes and fails the test that asked."""
    try:
        call()
    except TinyMLError as error:
        assert "\n" not in str(error), f"{type(error).__name__} spans several lines: {error!s:.300}"
        return f"{type(error).__name__}: {error}"
    return "ok"


def test_every_corruption_is_refused_with_one_line_by_the_reader_and_the_c_generator(digits_int8: bytes) -> None:
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.model.compare import detect_quantization
    from jupyter_tinyml.model.tflite import model_bytes, read

    kinds: dict[str, dict[str, int]] = {}
    for label, blob in corrupted_models(digits_int8, COUNT, SEED):
        kind = label.split("#")[0]
        try:
            read_result = _outcome(lambda blob=blob: read(model_bytes(blob)))
            c_result = _outcome(lambda blob=blob: generate_c(blob))
            _outcome(lambda blob=blob: detect_quantization(blob))
        except Exception as error:  # the finding: name the corruption, so it can be replayed
            raise AssertionError(f"{label}: {type(error).__name__}: {error!s:.300}") from error
        counts = kinds.setdefault(kind, {"refused by read": 0, "refused by C": 0, "generated": 0})
        counts["refused by read" if read_result != "ok" else "refused by C" if c_result != "ok" else "generated"] += 1
    assert set(kinds) == {corruption.__name__ for corruption in CORRUPTIONS}
    # The reader refuses most damage itself, so the expensive paths rarely meet it.
    refused = sum(counts["refused by read"] for counts in kinds.values())
    assert refused > COUNT // 2, kinds


def test_reader_names_what_was_wrong(digits_int8: bytes) -> None:
    from jupyter_tinyml.model.tflite import read

    truncated = digits_int8[: len(digits_int8) // 2]
    with pytest.raises(CorruptModelError, match=r"^The \.tflite is corrupt: .* convert the model again"):
        read(truncated)
    messages = {str(error) for error in _refusals(digits_int8)}
    # Not only "cannot be read": the checks after parsing name the tensor or operator at fault.
    assert any("tensor" in message for message in messages), messages


def _refusals(model: bytes) -> list[CorruptModelError]:
    from jupyter_tinyml.model.tflite import read

    found = []
    for _, blob in corrupted_models(model, 120, SEED):
        try:
            read(blob)
        except CorruptModelError as error:
            found.append(error)
        except TinyMLError:
            pass
    return found


# Runs in a child process: LiteRT and TFLite Micro are native code, and a crash there must name the corruption
# that caused it instead of taking pytest's worker down.
_EXPENSIVE = r"""
import json, random, sys, tempfile
sys.path.insert(0, sys.argv[1])
import numpy as np
from corrupt_models import corrupted_models
from jupyter_tinyml import write_project
from jupyter_tinyml.errors import TinyMLError
from jupyter_tinyml.model.arena import measure_arena
from jupyter_tinyml.model.evaluate import evaluate, interpreter_for
from jupyter_tinyml.model.inspection import inspect

model = open(sys.argv[2], "rb").read()
count, subset, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
chosen = sorted(random.Random(seed).sample(range(count), subset))
# The arena search starts TFLite Micro in a child process per model (about a second): a third of the subset.
measured = set(chosen[::3])
x = np.zeros((3, 8, 8, 1), np.float32)
out = tempfile.mkdtemp()
for n, (label, blob) in enumerate(corrupted_models(model, count, seed)):
    if n not in chosen:
        continue
    results = {}
    arena = n in measured
    for name, call in (("interpreter_for", lambda: interpreter_for(blob)), ("evaluate", lambda: evaluate(blob, x)),
                       ("inspect", lambda: inspect(blob)), ("measure_arena", lambda: measure_arena(blob)),
                       ("write_project c", lambda: write_project(blob, "virtual-cortex-m4", f"{out}/c{n}", target="c")),
                       ("write_project tflm", lambda: write_project(blob, "virtual-cortex-m4", f"{out}/t{n}",
                                                                    target="tflm"))):
        if not arena and name in ("inspect", "measure_arena", "write_project tflm"):
            continue
        print(json.dumps({"label": label, "call": name}), flush=True)  # the last line names a crash's cause
        try:
            call()
            results[name] = "ok"
        except TinyMLError as error:
            results[name] = type(error).__name__ + (" (lines)" if "\n" in str(error) else "")
        except Exception as error:
            results[name] = f"RAW {type(error).__name__}: {str(error)[:200]}"
    print(json.dumps({"label": label, "results": results}), flush=True)
"""


def test_expensive_paths_give_one_tinyml_error_and_never_crash(digits_int8: bytes, tmp_path: Path) -> None:
    model = tmp_path / "digits.tflite"
    model.write_bytes(digits_int8)
    tests = str(Path(__file__).parent)
    done = subprocess.run([sys.executable, "-c", _EXPENSIVE, tests, str(model), str(COUNT), str(SUBSET), str(SEED)],
                          capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, (f"the child died (exit {done.returncode}) at {lines[-1] if lines else 'start'}: "
                                  f"{done.stderr[-600:]}")
    finished = [line for line in lines if "results" in line]
    assert len(finished) == SUBSET
    raw = {line["label"]: call for line in finished for call, result in line["results"].items()
           if result.startswith("RAW") or result.endswith("(lines)")}
    assert not raw, raw
    # Some corruptions leave a model that still runs (a byte flipped in a name): those go all the way through.
    assert any(line["results"]["evaluate"] == "ok" for line in finished)
    assert any(line["results"]["evaluate"] != "ok" for line in finished)


def test_corrupt_model_is_refused_before_litert_sees_it(digits_int8: bytes) -> None:
    """A tensor that a damaged vtable marks as variable state makes LiteRT free memory twice (the process aborts);
    the reader refuses it, so interpreter_for never hands it over."""
    from jupyter_tinyml.model.evaluate import interpreter_for

    blob = _variable_activation(digits_int8)
    with pytest.raises(CorruptModelError, match="marked as variable state"):
        interpreter_for(blob)


def _variable_activation(model: bytes) -> bytes:
    """The model with its input tensor's is_variable field set (the flag a swapped vtable entry turns on)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    unpacked = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    subgraph = unpacked.subgraphs[0]
    subgraph.tensors[subgraph.inputs[0]].isVariable = True
    builder = flatbuffers.Builder(len(model) + 1024)
    builder.Finish(unpacked.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_corruptions_are_deterministic(digits_int8: bytes) -> None:
    first = list(corrupted_models(digits_int8, 40, SEED))
    assert first == list(corrupted_models(digits_int8, 40, SEED))
    assert first != list(corrupted_models(digits_int8, 40, SEED + 1))


@pytest.mark.parametrize("field, slot", [("input", 6), ("output", 8)])
def test_a_model_whose_main_subgraph_declares_no_input_or_output_is_refused(digits_int8: bytes, field: str,
                                                                            slot: int) -> None:
    """A zeroed length turned the inputs vector empty in one CI run: the reader refuses it, so detect_quantization,
    the C generator and the firmware never index an empty list (SubGraph's vtable: inputs slot 6, outputs 8)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from jupyter_tinyml.model.compare import detect_quantization

    subgraph = schema.Model.GetRootAs(digits_int8, 0).Subgraphs(0)
    length_at = subgraph._tab.Vector(subgraph._tab.Offset(slot)) - 4  # a flatbuffer vector's uint32 length
    damaged = bytearray(digits_int8)
    damaged[length_at:length_at + 4] = bytes(4)
    with pytest.raises(CorruptModelError, match=f"the main subgraph declares no {field} tensor"):
        detect_quantization(bytes(damaged))
