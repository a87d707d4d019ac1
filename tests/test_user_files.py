"""No user file is lost (issue 12, item 2): write_project and the virtual board build replace only files their
folder's marker says they wrote, names stay inside out_dir, and strings from a model file cannot become code."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from jupyter_tinyml.errors import FolderNotOursError
from jupyter_tinyml.firmware import write_project
from jupyter_tinyml.firmware.owned_folder import MARKER
from prerequisites import require_arm_tools, require_host_compiler
from reference_models import requantize_tflite

BOARD = "nano33ble"  # a real board: the TFLite Micro sketch with README.md, platformio.ini and sketch.yaml
# A tensor name that tries every way out of a comment or string: a line break, `*/`, quotes, a line-splicing
# backslash at the end, a trigraph and a non-ASCII letter. Each injected line would stop the compile.
HOSTILE_INPUT = 'in\n#error injected from a tensor name\n*/ "q" \\ ??/ é\\'
HOSTILE_OUTPUT = 'out */ #error also\r\nint injected = "\\'
HOSTILE_LABELS = ['a"b', "c\\d", "e??/", "*/f"]


def _quantize_model(input_name: str = "in", output_name: str = "out") -> bytes:
    """A one-op int8 model (QUANTIZE, 4 values) with the given tensor names."""
    return requantize_tflite(0.05, 3, 0.03, -7, values=4, input_name=input_name, output_name=output_name)


@pytest.fixture(scope="module")
def model() -> bytes:
    return _quantize_model()


def _user_files(root: Path) -> dict[Path, str]:
    """A person's own README.md, platformio.ini and sketch where write_project would put its own."""
    files = {root / "README.md": "# my notes\n", root / "platformio.ini": "[env:mine]\nboard = mine\n",
             root / "tinyml_model" / "tinyml_model.ino": "void setup() {}  // my sketch\nvoid loop() {}\n"}
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return files


@pytest.mark.parametrize("which", ["README.md", "platformio.ini", "tinyml_model/tinyml_model.ino"])
def test_users_file_in_out_dir_survives_and_the_refusal_names_it(model: bytes, tmp_path: Path, which: str) -> None:
    path = tmp_path / which
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("mine\n")
    (tmp_path / "notes.txt").write_text("also mine\n")
    with pytest.raises(FolderNotOursError) as refused:
        write_project(model, BOARD, tmp_path, target="tflm")
    message = str(refused.value)
    assert str(path) in message and "overwrite=True" in message and "\n" not in message
    assert path.read_text() == "mine\n" and (tmp_path / "notes.txt").read_text() == "also mine\n"
    assert not (tmp_path / MARKER).exists()  # refused before anything was written
    assert not (tmp_path / "tinyml_model" / "model_data.h").exists()


def test_overwrite_true_replaces_the_users_files(model: bytes, tmp_path: Path) -> None:
    files = _user_files(tmp_path)
    project = write_project(model, BOARD, tmp_path, target="tflm", overwrite=True)
    for path, text in files.items():
        assert path.read_text() != text and path in project.files
    assert (tmp_path / MARKER).is_file()


def test_writing_again_into_its_own_folder_works_and_keeps_other_files(model: bytes, tmp_path: Path) -> None:
    first = write_project(model, BOARD, tmp_path / "fw", target="tflm", name="first")
    (tmp_path / "fw" / "notes.txt").write_text("mine\n")
    again = write_project(model, BOARD, tmp_path / "fw", target="tflm", name="first")
    assert again.files == first.files and all(path.is_file() for path in again.files)
    # Written under another name: the first sketch's files go (write_project wrote them, unedited), the
    # person's file stays, and so does a file of the first sketch the person edited.
    (first.sketch_dir / "op_resolver.h").write_text("// edited by hand\n")
    renamed = write_project(model, BOARD, tmp_path / "fw", target="tflm", name="second")
    assert renamed.sketch.is_file() and not first.sketch.exists()
    assert (tmp_path / "fw" / "notes.txt").read_text() == "mine\n"
    assert (first.sketch_dir / "op_resolver.h").read_text() == "// edited by hand\n"
    # The C target's files replace the sketch's in the same folder, and the sketch's unedited files go.
    c_project = write_project(model, "virtual-cortex-m4", tmp_path / "fw", target="c", name="second")
    assert (c_project.root / "model_c.c").is_file() and not renamed.sketch.exists()


@pytest.mark.parametrize("target", ["tflm", "c"])
@pytest.mark.parametrize("name", ["../../x", "/abs/x", "..", "a/../../b"])
def test_names_stay_inside_out_dir(model: bytes, tmp_path: Path, target: str, name: str) -> None:
    out_dir = tmp_path / "one" / "two"
    board = BOARD if target == "tflm" else "virtual-cortex-m4"
    project = write_project(model, board, out_dir, target=target, name=name)
    written = [*project.files, project.root]
    assert all(out_dir.resolve() in path.resolve().parents or path.resolve() == out_dir.resolve()
               for path in written)
    assert "/" not in project.name and not project.name.startswith(".")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["one"] and not Path("/abs").exists()


def _syntax_check(compiler: str, source: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([compiler, "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-trigraphs", *flags,
                           str(source)], capture_output=True, text=True, timeout=60)


def test_hostile_tensor_names_and_labels_compile_as_text_in_the_sketch(tmp_path: Path) -> None:
    require_host_compiler("g++")
    tflite = _quantize_model(HOSTILE_INPUT, HOSTILE_OUTPUT)
    project = write_project(tflite, BOARD, tmp_path / "fw", labels=HOSTILE_LABELS, target="tflm")
    settings = (project.sketch_dir / "model_settings.h").read_text()
    assert not any(line.lstrip().startswith(("#error", "int injected")) for line in settings.splitlines())
    unit = project.sketch_dir / "check.cpp"
    # kInputCount follows the input's comment line: a line splice would have swallowed it.
    unit.write_text('#include "model_settings.h"\nstatic_assert(kInputCount == 4, "");\n'
                    'static_assert(kOutputCount == 4 && kLabelCount == 4, "");\n'
                    'int main() { return kLabels[1][1] == \'\\\\\' && sizeof(kModelName) > 1 ? 0 : 1; }\n')
    run = _syntax_check("g++", unit, "-std=c++11", f"-I{project.sketch_dir}")
    assert run.returncode == 0, run.stderr
    compiled = subprocess.run(["g++", "-std=c++11", "-trigraphs", f"-I{project.sketch_dir}", str(unit), "-o",
                               str(tmp_path / "check")], capture_output=True, text=True, timeout=60)
    assert compiled.returncode == 0, compiled.stderr
    assert subprocess.run([str(tmp_path / "check")]).returncode == 0  # the label with a backslash is that text


def test_hostile_tensor_names_and_labels_compile_as_text_in_the_c_target(tmp_path: Path) -> None:
    require_host_compiler("gcc")
    tflite = _quantize_model(HOSTILE_INPUT, HOSTILE_OUTPUT)
    project = write_project(tflite, "virtual-cortex-m4", tmp_path / "fw", labels=HOSTILE_LABELS, target="c")
    for path in project.files:
        if path.suffix == ".c":
            run = _syntax_check("gcc", path, "-std=c99", f"-I{project.root}")
            assert run.returncode == 0, run.stderr


def test_virtual_build_keeps_the_users_files(model: bytes, tmp_path: Path) -> None:
    from jupyter_tinyml.firmware.c_target import generate_c
    from jupyter_tinyml.hardware.virtual import image

    require_arm_tools("arm-none-eabi-gcc", "arm-none-eabi-size")
    out = tmp_path / "D"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("print('mine')\n")
    (out / "src" / "mine.c").write_text("#error a file of mine, not to be compiled\n")
    built = image.build(generate_c(model), output_dir=out, labels=["a", "b", "c", "d"])
    assert built.ok, built.output
    assert (out / "src" / "main.py").read_text() == "print('mine')\n" and (out / "src" / "mine.c").is_file()
    again = image.build(generate_c(model), output_dir=out)  # its own folder now: built again without asking
    assert again.ok and (out / "src" / "main.py").is_file()

    theirs = tmp_path / "E"
    theirs.mkdir()
    (theirs / "app.elf").write_bytes(b"my image")
    with pytest.raises(FolderNotOursError, match="app.elf"):
        image.build(generate_c(model), output_dir=theirs)
    assert (theirs / "app.elf").read_bytes() == b"my image"
    assert image.build(generate_c(model), output_dir=theirs, overwrite=True).ok
