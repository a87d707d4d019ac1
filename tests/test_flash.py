"""Build and upload: tool command lines, missing and failing tools (real scripts on PATH), the 1200-baud touch on a
pseudo-terminal, UF2 copies onto a folder that looks like the RPI-RP2 drive, and the errors users hit.

A board's USB side is simulated by `FakeUsb`: its sketch port is a real pty; when that port is opened at 1200 baud
(read back from the pty's own termios, as a board's USB stack sees the line coding) it "re-enumerates": the port
list shows its bootloader, and a UF2 board's drive appears.
"""
from __future__ import annotations

import os
import shutil
import stat
import struct
import termios
import threading
import time
import tty
from pathlib import Path
from typing import Callable, Iterator

import pytest
import serial
from serial.tools.list_ports_common import ListPortInfo

from jupyter_tinyml.boards import find_board
from jupyter_tinyml.errors import (
    BoardNotAttachedError,
    BoardNotFoundError,
    BootloaderError,
    BuildError,
    ConfigError,
    PortBusyError,
    ToolNotFoundError,
    UploadError,
    UploadTimeoutError,
    WrongBoardError,
)
from jupyter_tinyml.hardware.build import (
    arduino_cli_compile_command,
    build,
    build_artifacts,
    platformio_command,
    platformio_environment,
)
from jupyter_tinyml.hardware.diagnostics import build_hint, parse_diagnostics
from jupyter_tinyml.hardware.flash import upload
from jupyter_tinyml.hardware.reporter import Reporter
from jupyter_tinyml.hardware.reset import touch_1200
from jupyter_tinyml.hardware.results import BuildResult
from jupyter_tinyml.hardware.settings import UploadSettings
from jupyter_tinyml.hardware.uploaders.arduino_cli import arduino_cli_upload_command
from jupyter_tinyml.hardware.uploaders.bossac import bossac_command
from jupyter_tinyml.hardware.uploaders.esptool import ProgressLogger, esptool_command, esptool_images
from jupyter_tinyml.hardware.uploaders.job import UploadJob

RP2040_FAMILY = 0xE48BFF56


def usb_port(device: str, usb_id: tuple[int, int] | None) -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    if usb_id is not None:
        info.vid, info.pid = usb_id
        info.apply_usb_info()
    return info


def script(folder: Path, name: str, body: str) -> Path:
    """A real executable on disk (a stand-in for arduino-cli, bossac, pio)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def uf2_image(payload: bytes, family: int = RP2040_FAMILY) -> bytes:
    """A valid UF2 file: 256 payload bytes per 512-byte block, with the family flag."""
    blocks = [payload[i:i + 256] for i in range(0, len(payload), 256)] or [b""]
    data = b""
    for number, chunk in enumerate(blocks):
        header = struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * number, 256, number,
                             len(blocks), family)
        data += header + chunk.ljust(476, b"\0") + struct.pack("<I", 0x0AB16F30)
    return data


@pytest.fixture
def sketch(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "tinyml").mkdir(parents=True)
    (project / "tinyml" / "tinyml.ino").write_text("void setup() {}\nvoid loop() {}\n")
    (project / "platformio.ini").write_text("[env:nano33ble]\nplatform = nordicnrf52\nboard = nano33ble\n"
                                            "framework = arduino\n\n[env:other]\nboard = pico\n")
    return project


@pytest.fixture
def no_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH holds only an empty bin folder and the two programs the stand-in scripts use; HOME has no Arduino15
    folder. So arduino-cli, pio and bossac are absent even where the system has them."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    system = tmp_path / "system"
    system.mkdir()
    for program in ("sleep", "mkdir"):
        (system / program).symlink_to(shutil.which(program))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{system}")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return bin_dir


class FakeUsb:
    """A board on USB whose sketch port is a real pty and which reacts to the 1200-baud touch."""

    def __init__(self, board: str, *, bootloader_port: str = "/dev/ttyACM8", back_port: str = "/dev/ttyACM9",
                 on_touch: Callable[[], None] | None = None, returns: Callable[[], bool] = lambda: False) -> None:
        self.board = find_board(board)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.bootloader_port, self.back_port = bootloader_port, back_port
        self.on_touch, self.returns = on_touch, returns
        self.state = "sketch"
        self.touched = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if self.state == "sketch" and termios.tcgetattr(self.master)[4] == termios.B1200:
                self.state = "bootloader"
                self.touched.set()
                if self.on_touch is not None:
                    self.on_touch()
            time.sleep(0.005)

    def ports(self) -> list[ListPortInfo]:
        """What list_ports shows now."""
        if self.state == "bootloader" and self.returns():
            self.state = "back"
        if self.state == "sketch":
            return [usb_port(self.path, self.board.usb_app[0])]
        if self.state == "bootloader":
            if self.board.upload == "uf2":
                return []  # an RP2040 in BOOTSEL is a drive, not a serial port
            return [usb_port(self.bootloader_port, self.board.usb_bootloader[0])]
        return [usb_port(self.back_port, self.board.usb_app[0])]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def usb() -> Iterator[Callable[..., FakeUsb]]:
    made: list[FakeUsb] = []

    def make(board: str, **options: object) -> FakeUsb:
        made.append(FakeUsb(board, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for fake in made:
        fake.close()


# --------------------------------------------------------------------------------- command lines


def test_arduino_cli_compile_and_upload_command_lines() -> None:
    assert arduino_cli_compile_command("/p/tinyml", "nano33ble", output_dir="/p/build/nano33ble") == [
        "arduino-cli", "compile", "--fqbn", "arduino:mbed_nano:nano33ble", "--warnings", "default",
        "--output-dir", "/p/build/nano33ble", "/p/tinyml"]
    assert arduino_cli_upload_command("/p/tinyml", "nicla vision", "/dev/ttyACM0", input_dir="/p/build") == [
        "arduino-cli", "upload", "--fqbn", "arduino:mbed_nicla:nicla_vision", "--port", "/dev/ttyACM0",
        "--input-dir", "/p/build", "/p/tinyml"]
    assert arduino_cli_compile_command("s", "xiao-esp32s3", arduino_cli="/opt/arduino-cli")[:4] == [
        "/opt/arduino-cli", "compile", "--fqbn", "esp32:esp32:XIAO_ESP32S3"]


def test_platformio_command_line_and_environment() -> None:
    ini = "[env:nano33ble]\nboard = nano33ble\n\n[env:picoboard]\nboard = pico\n"
    assert platformio_environment(ini, "nano33ble") == "nano33ble"
    assert platformio_environment(ini, "pico") == "picoboard"  # found by its board = line
    assert platformio_environment(ini, "wio-terminal") is None
    assert platformio_command("/p", environment="nano33ble") == ["pio", "run", "-d", "/p", "-e", "nano33ble"]
    assert platformio_command("/p", target="upload", port="/dev/ttyACM0") == [
        "pio", "run", "-d", "/p", "-t", "upload", "--upload-port", "/dev/ttyACM0"]


def test_bossac_command_lines_follow_the_arduino_cores() -> None:
    # ArduinoCore-mbed platform.txt: --port={serial.port.file} -U -i -e -w "{build}.bin" -R
    assert bossac_command("/b/t.ino.bin", "/dev/ttyACM1", "nano33ble", verify=False) == [
        "bossac", "--port=/dev/ttyACM1", "-U", "-i", "-e", "-w", "/b/t.ino.bin", "-R"]
    # SAMD51 (Wio Terminal): the UF2 bootloader keeps its first 16 KB.
    assert bossac_command("t.bin", "/dev/ttyACM1", "wio-terminal", bossac="/x/bossac") == [
        "/x/bossac", "--port=/dev/ttyACM1", "-U", "-i", "-e", "-w", "-v", "--offset=0x4000", "t.bin", "-R"]


def test_esptool_images_and_arguments() -> None:
    built = {"bin": Path("t.ino.bin"), "bootloader": Path("t.ino.bootloader.bin"),
             "partitions": Path("t.ino.partitions.bin"), "boot_app0": Path("boot_app0.bin")}
    images = esptool_images(built, "xiao-esp32s3")
    assert images == [(0x0, Path("t.ino.bootloader.bin")), (0x8000, Path("t.ino.partitions.bin")),
                      (0xE000, Path("boot_app0.bin")), (0x10000, Path("t.ino.bin"))]
    assert esptool_images({**built, "merged": Path("t.ino.merged.bin")}, "xiao-esp32s3") == [
        (0x0, Path("t.ino.merged.bin"))]
    assert esptool_command(images[-1:], "/dev/ttyACM0", "esp32s3-devkitc", before="usb-reset") == [
        "--chip", "esp32s3", "--port", "/dev/ttyACM0", "--baud", "921600", "--before", "usb-reset",
        "--after", "hard-reset", "write-flash", "-z", "0x10000", "t.ino.bin"]
    with pytest.raises(ConfigError, match="No .bin image"):
        esptool_images({}, "xiao-esp32s3")


def test_compiler_and_linker_messages_are_parsed() -> None:
    output = ("/p/tinyml/tinyml.ino: In function 'void loop()':\n"
              "/p/tinyml/tinyml.ino:12:5: error: 'reed_imu' was not declared in this scope\n"
              "   12 |     reed_imu(buffer);\n"
              "/p/tinyml/model.h:3:1: warning: unused variable 'x' [-Wunused-variable]\n"
              "ld: tinyml.ino.cpp.o: in function `loop':\n"
              "tinyml.ino.cpp:(.text.loop+0x8): undefined reference to `classify(signed char const*)'\n"
              "region `FLASH' overflowed by 5120 bytes\n")
    found = parse_diagnostics(output)
    assert [(d.severity, d.line) for d in found] == [("error", 12), ("warning", 3), ("linker", 0), ("linker", 0)]
    assert str(found[0]) == "/p/tinyml/tinyml.ino:12:5: error: 'reed_imu' was not declared in this scope"
    assert found[2].message == "undefined reference to `classify(signed char const*)'"
    assert "does not fit the Arduino Nano 33 BLE Sense's memory" in build_hint(output, "nano33ble")


# ------------------------------------------------------------------------------------------- build


def test_build_without_any_tool_says_exactly_what_to_install(sketch: Path, no_tools: Path) -> None:
    with pytest.raises(ToolNotFoundError) as raised:
        build(sketch, "nano33ble")
    assert str(raised.value) == (
        "arduino-cli not found: install it (https://arduino.github.io/arduino-cli/latest/installation/) and run "
        "`arduino-cli core install arduino:mbed_nano`, or install PlatformIO (`pip install platformio`) — then "
        "build again")
    with pytest.raises(ToolNotFoundError, match="--additional-urls https://files.seeedstudio.com/arduino/"):
        build(sketch, "wio-terminal")


def test_compile_errors_come_back_with_the_tool_output(sketch: Path, no_tools: Path, tmp_path: Path) -> None:
    calls = tmp_path / "calls.txt"
    script(no_tools, "arduino-cli", f"""echo "$@" > {calls}
echo "Compiling sketch..."
echo "{sketch}/tinyml/tinyml.ino: In function 'void loop()':"
echo "{sketch}/tinyml/tinyml.ino:7:3: error: 'read_imu' was not declared in this scope"
echo "    7 |   read_imu(features);"
echo "      |   ^~~~~~~~" >&2
echo "exit status 1" >&2
echo "Compilation error: exit status 1" >&2
exit 1
""")
    streamed: list[str] = []
    result = build(sketch, "nano33ble", on_output=streamed.append)
    assert not result.ok and result.returncode == 1 and result.tool == "arduino-cli"
    assert calls.read_text().split() == ["compile", "--fqbn", "arduino:mbed_nano:nano33ble", "--warnings", "default",
                                         "--output-dir", str(sketch / "build" / "nano33ble"), str(sketch / "tinyml")]
    [error] = result.errors
    assert (error.file, error.line, error.column) == (f"{sketch}/tinyml/tinyml.ino", 7, 3)
    assert error.message == "'read_imu' was not declared in this scope"
    assert "read_imu(features);" in result.error_text() and "Compilation error" in result.output
    assert streamed[0] == "Compiling sketch..." and "Compilation error: exit status 1" in streamed
    assert "failed: " in repr(result) and "read_imu" in result._repr_html_()
    with pytest.raises(BuildError, match="The build for nano33ble with arduino-cli failed: .*read_imu") as raised:
        result.raise_for_errors()
    assert "exit status 1" in raised.value.output


def test_a_missing_core_gives_the_install_command(sketch: Path, no_tools: Path) -> None:
    script(no_tools, "arduino-cli", "echo \"Error during build: Platform 'arduino:mbed_nano' not found: platform "
                                    "not installed\" >&2\nexit 1\n")
    result = build(sketch, "nano33ble")
    assert not result.ok
    assert result.hint == "the board's core is not installed: run `arduino-cli core install arduino:mbed_nano`, " \
                          "then build again"
    assert result.error_text().startswith(result.hint)


def test_a_successful_build_lists_its_images(sketch: Path, no_tools: Path) -> None:
    script(no_tools, "arduino-cli", """while [ "$1" != "--output-dir" ]; do shift; done
printf 'image' > "$2/tinyml.ino.bin"; printf 'elf' > "$2/tinyml.ino.elf"; printf 'uf2' > "$2/tinyml.ino.uf2"
echo "Sketch uses 123456 bytes (12%) of program storage space."
""")
    result = build(sketch, "pico").raise_for_errors()
    out = sketch / "build" / "pico"
    assert result.ok and result.output_dir == out
    assert result.artifacts == {"bin": out / "tinyml.ino.bin", "elf": out / "tinyml.ino.elf",
                                "uf2": out / "tinyml.ino.uf2"}
    assert repr(result).startswith("Built for pico with arduino-cli in ")
    assert "5 bytes in tinyml.ino.bin" in repr(result)
    assert build_artifacts(sketch, "pico") == result.artifacts


def test_platformio_builds_when_arduino_cli_is_absent(sketch: Path, no_tools: Path, tmp_path: Path) -> None:
    calls = tmp_path / "pio-calls.txt"
    script(no_tools, "pio", f"""echo "$@" > {calls}
mkdir -p "$3/.pio/build/$5" && printf 'fw' > "$3/.pio/build/$5/firmware.bin"
""")
    result = build(sketch, "nano33ble")
    assert result.ok and result.tool == "PlatformIO"
    assert calls.read_text().split() == ["run", "-d", str(sketch), "-e", "nano33ble"]
    assert result.artifacts == {"bin": sketch / ".pio/build/nano33ble/firmware.bin"}


def test_a_build_that_hangs_is_stopped_at_the_timeout(sketch: Path, no_tools: Path) -> None:
    script(no_tools, "arduino-cli", "echo compiling\nexec sleep 30\n")
    start = time.monotonic()
    result = build(sketch, "nano33ble", timeout=0.5)
    assert time.monotonic() - start < 5
    assert not result.ok and result.returncode is None
    assert result.hint.startswith("the build did not finish within 0.5 s and was stopped")


# ----------------------------------------------------------------------------------- touch and ports


def test_the_1200_baud_touch_on_a_pty(usb: Callable[..., FakeUsb]) -> None:
    board = usb("nano33ble")
    assert termios.tcgetattr(board.master)[4] != termios.B1200
    touch_1200(board.path)
    assert board.touched.wait(2)
    assert termios.tcgetattr(board.master)[4] == termios.B1200
    # The touch closed the port again: it can be opened at once.
    serial.Serial(board.path, 115200, exclusive=True).close()


def test_the_touch_on_a_port_another_program_holds_is_refused(usb: Callable[..., FakeUsb]) -> None:
    board = usb("nano33ble")
    with serial.Serial(board.path, 115200, exclusive=True):
        with pytest.raises(PortBusyError, match="is in use by another program"):
            touch_1200(board.path)


def test_bossac_upload_touches_refinds_the_ports_and_reports_pages(usb: Callable[..., FakeUsb], no_tools: Path,
                                                                   tmp_path: Path) -> None:
    calls = tmp_path / "bossac-calls.txt"
    bossac = script(no_tools, "bossac", f"""echo "$@" > {calls}
echo "Device       : nRF52840-QIAA"
printf 'Write 27648 bytes to flash (54 pages)\\n'
printf '\\r[==============                ] 50%% (27/54 pages)'
printf '\\r[==============================] 100%% (54/54 pages)\\n'
echo "Done in 1.2 seconds"
""")
    image = tmp_path / "tinyml.ino.bin"
    image.write_bytes(b"\x01" * 27648)
    board = usb("nano33ble", returns=calls.exists)  # back as a sketch once bossac wrote it
    steps: list[tuple[int, int, str]] = []
    lines: list[str] = []
    result = upload(image, "nano33ble", board.path, ports=board.ports,
                    settings=UploadSettings(bossac=str(bossac), bootloader_timeout=3),
                    reporter=Reporter(progress=lambda *step: steps.append(step), on_output=lines.append))
    assert board.touched.is_set()
    assert calls.read_text().split() == ["--port=/dev/ttyACM8", "-U", "-i", "-e", "-w", "-v", str(image), "-R"]
    assert (27, 54, "write") in steps and (54, 54, "write") in steps
    assert steps[0] == (0, 1, "bootloader") and steps[-1] == (1, 1, "restart")
    assert result.upload_port == "/dev/ttyACM8" and result.port == "/dev/ttyACM9" and result.bytes == 27648
    assert "Bootloader on /dev/ttyACM8" in lines and not result.warnings
    assert "now on /dev/ttyACM9" in repr(result)


def test_a_failed_bossac_says_how_to_recover(usb: Callable[..., FakeUsb], no_tools: Path, tmp_path: Path) -> None:
    bossac = script(no_tools, "bossac", "echo 'No device found on /dev/ttyACM8'\nexit 1\n")
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    board = usb("wio-terminal")
    with pytest.raises(UploadError) as raised:
        upload(image, "wio-terminal", board.path, ports=board.ports, settings=UploadSettings(bossac=str(bossac)))
    assert str(raised.value) == ("bossac failed on /dev/ttyACM8 (exit 1: No device found on /dev/ttyACM8); the "
                                 "board may hold a partial sketch — slide the power switch down twice quickly (the "
                                 "blue LED breathes), then upload again")
    assert "No device found" in raised.value.output


def test_an_upload_that_hangs_is_a_timeout(usb: Callable[..., FakeUsb], no_tools: Path, tmp_path: Path) -> None:
    bossac = script(no_tools, "bossac", "exec sleep 30\n")
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    board = usb("nano33ble")
    with pytest.raises(UploadTimeoutError, match="bossac did not finish within 0.5 s on /dev/ttyACM8; the board is "
                                                 "left in its bootloader with a partial sketch — double-tap"):
        upload(image, "nano33ble", board.path, ports=board.ports,
               settings=UploadSettings(bossac=str(bossac), timeout=0.5))


def test_upload_times_out_when_the_bootloader_never_appears(usb: Callable[..., FakeUsb], no_tools: Path,
                                                            tmp_path: Path) -> None:
    bossac = script(no_tools, "bossac", "exit 0\n")
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    board = usb("nano33ble")
    stuck = [usb_port(board.path, (0x2341, 0x805A))]  # the port list never changes: no bootloader
    start = time.monotonic()
    with pytest.raises(BootloaderError) as raised:
        upload(image, "nano33ble", board.path, ports=stuck,
               settings=UploadSettings(bossac=str(bossac), bootloader_timeout=0.5))
    assert time.monotonic() - start < 3
    assert str(raised.value) == (
        f"The Arduino Nano 33 BLE Sense did not enter its bootloader within 0.5 s after the 1200-baud reset on "
        f"{board.path} — double-tap the reset button (the orange LED pulses), then upload again (pass the port it "
        "shows then; detect_boards() lists it)")
    assert isinstance(raised.value, UploadError)


def test_a_port_of_another_board_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    rp2040 = [usb_port("/dev/ttyACM0", (0x2341, 0x805E))]
    with pytest.raises(WrongBoardError) as raised:
        upload(image, "nano33ble", "/dev/ttyACM0", ports=rp2040, settings=UploadSettings(bossac="/bin/true"))
    assert str(raised.value) == ("/dev/ttyACM0 is an Arduino Nano RP2040 Connect (2341:805E), not an Arduino Nano 33 "
                                 "BLE Sense — pass board='nano-rp2040', or the port of the Arduino Nano 33 BLE Sense")
    cp2102 = [usb_port("/dev/ttyUSB0", (0x10C4, 0xEA60))]
    with pytest.raises(WrongBoardError, match="is a CP2102 USB-serial chip, which an Arduino Nano 33 BLE Sense"):
        upload(image, "nano33ble", "/dev/ttyUSB0", ports=cp2102, settings=UploadSettings(bossac="/bin/true"))


def test_a_missing_port_or_board_says_plug_it_in(tmp_path: Path) -> None:
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    with pytest.raises(BoardNotFoundError, match="No serial port /dev/ttyACM5 — plug the Arduino Nano 33 BLE Sense"):
        upload(image, "nano33ble", "/dev/ttyACM5", ports=[], settings=UploadSettings(bossac="/bin/true"))
    with pytest.raises(BoardNotFoundError, match="No Arduino Nano 33 BLE Sense attached — plug it in .* or double"):
        upload(image, "nano33ble", ports=[], settings=UploadSettings(bossac="/bin/true"))


def test_no_board_attached_reads_the_same_for_upload_and_for_the_serial_link(tmp_path: Path) -> None:
    from jupyter_tinyml.hardware.serial_link import connect

    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    with pytest.raises(BoardNotAttachedError) as uploading:
        upload(image, "nano33ble", ports=[], settings=UploadSettings(bossac="/bin/true"))
    with pytest.raises(BoardNotAttachedError) as connecting:
        connect("nano33ble", ports=[])
    same = ("No Arduino Nano 33 BLE Sense attached — plug it in with a data USB cable (charge-only cables show "
            "nothing)")
    assert str(uploading.value).startswith(same) and str(connecting.value).startswith(same)
    assert uploading.value.board == connecting.value.board == "Arduino Nano 33 BLE Sense"


def test_upload_settings_name_every_timeout_in_one_place() -> None:
    from jupyter_tinyml.hardware import settings

    defaults = UploadSettings()
    assert (defaults.timeout, defaults.bootloader_timeout, defaults.return_timeout) == (
        settings.UPLOAD_TIMEOUT_S, settings.BOOTLOADER_TIMEOUT_S, settings.RETURN_TIMEOUT_S)
    assert defaults.arduino_cli is None and defaults.bossac is None


def test_bossac_missing_says_where_to_get_it(tmp_path: Path, no_tools: Path) -> None:
    image = tmp_path / "t.bin"
    image.write_bytes(b"\0" * 64)
    with pytest.raises(ToolNotFoundError, match="bossac not found: run `arduino-cli core install arduino:mbed_nano`"):
        upload(image, "nano33ble", "/dev/ttyACM0", ports=[])


# ------------------------------------------------------------------------------------------------ UF2


def test_uf2_copy_onto_the_rpi_rp2_drive_with_progress(tmp_path: Path) -> None:
    drive = tmp_path / "media" / "RPI-RP2"
    drive.mkdir(parents=True)
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n")
    image = tmp_path / "tinyml.ino.uf2"
    image.write_bytes(uf2_image(os.urandom(300 * 1024)))
    back = [usb_port("/dev/ttyACM3", (0x2E8A, 0x000A))]
    steps: list[tuple[int, int, str]] = []
    result = upload(image, "pico", volumes=[tmp_path / "media"], ports=back,
                    reporter=Reporter(progress=lambda *s: steps.append(s)))
    assert (drive / image.name).read_bytes() == image.read_bytes()
    size = image.stat().st_size
    copies = [s for s in steps if s[2] == "copy"]
    assert len(copies) > 5 and copies[-1] == (size, size, "copy")
    assert [done for done, _, _ in copies] == sorted(done for done, _, _ in copies)
    assert result.port == "/dev/ttyACM3" and result.bytes == size and result.method == "uf2"


def test_uf2_upload_touches_the_port_and_waits_for_the_drive(usb: Callable[..., FakeUsb], tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    image = tmp_path / "tinyml.ino.uf2"
    image.write_bytes(uf2_image(b"\x42" * 2000))

    def mount() -> None:  # the board re-enumerates as the RPI-RP2 drive, which the desktop mounts
        (media / "RPI-RP2").mkdir()
        (media / "RPI-RP2" / "INFO_UF2.TXT").write_text("Board-ID: RPI-RP2\n")

    board = usb("nano-rp2040", on_touch=mount, returns=lambda: (media / "RPI-RP2" / image.name).exists())
    result = upload(image, "nano-rp2040", board.path, ports=board.ports, volumes=[media],
                    settings=UploadSettings(bootloader_timeout=3))
    assert board.touched.is_set()
    assert (media / "RPI-RP2" / image.name).read_bytes() == image.read_bytes()
    assert result.port == "/dev/ttyACM9" and result.upload_port == str(media / "RPI-RP2")


def test_no_drive_after_the_touch_is_a_bootloader_error(usb: Callable[..., FakeUsb], tmp_path: Path) -> None:
    image = tmp_path / "t.uf2"
    image.write_bytes(uf2_image(b"\0" * 256))
    board = usb("pico")
    with pytest.raises(BootloaderError, match="No RPI-RP2 drive appeared within 0.5 s after the 1200-baud reset — "
                                              "hold BOOTSEL while plugging the USB cable in"):
        upload(image, "pico", board.path, ports=board.ports, volumes=[tmp_path],
               settings=UploadSettings(bootloader_timeout=0.5))


def test_a_uf2_for_another_chip_family_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "t.uf2"
    image.write_bytes(uf2_image(b"\0" * 256, family=0xADA52840))  # nRF52840
    with pytest.raises(WrongBoardError, match="built for UF2 family 0xada52840, the Raspberry Pi Pico takes "
                                              "0xe48bff56"):
        upload(image, "pico", ports=[], volumes=[tmp_path])
    (tmp_path / "t.bin.uf2").write_bytes(b"not a uf2")
    with pytest.raises(UploadError, match="not a UF2 file"):
        upload(tmp_path / "t.bin.uf2", "pico", ports=[], volumes=[tmp_path])


def test_a_board_that_does_not_come_back_is_said(tmp_path: Path) -> None:
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    (drive / "INFO_UF2.TXT").write_text("Board-ID: RPI-RP2\n")
    image = tmp_path / "t.uf2"
    image.write_bytes(uf2_image(b"\0" * 256))
    result = upload(image, "pico", volumes=[tmp_path], ports=[], settings=UploadSettings(return_timeout=0.2))
    assert result.port is None
    assert result.warnings[0].startswith("the Raspberry Pi Pico did not come back as a serial port within 0.2 s — "
                                         "press its reset button once")
    assert "not seen again as a serial port" in repr(result)


# ---------------------------------------------------------------------------------------------- esptool


def test_esptool_on_a_silent_port_is_a_bootloader_error(usb: Callable[..., FakeUsb], tmp_path: Path) -> None:
    image = tmp_path / "tinyml.ino.merged.bin"
    image.write_bytes(b"\xe9" + b"\0" * 1023)
    board = usb("xiao-esp32s3")
    lines: list[str] = []
    with pytest.raises(BootloaderError) as raised:
        upload(image, "xiao-esp32s3", board.path, ports=board.ports, reporter=Reporter(on_output=lines.append))
    assert str(raised.value).startswith(f"esptool could not reach the Seeed XIAO ESP32S3 Sense's bootloader on "
                                        f"{board.path} (")
    assert str(raised.value).endswith("— hold the B (BOOT) button, press and release R (RESET), then release B, "
                                      "then upload again")
    assert "Connecting..." in lines  # esptool's output went to the callback, not to stdout


def test_esptool_progress_reaches_the_callback() -> None:
    from esp_pylib.logger import EspLog
    from esptool.logger import log

    steps: list[tuple[int, int, str]] = []
    job = UploadJob(board=find_board("xiao-esp32s3"), method="esptool", artifacts={},
                    settings=UploadSettings(timeout=1, bootloader_timeout=1, return_timeout=1),
                    reporter=Reporter(progress=lambda *s: steps.append(s)), ports=lambda: [])
    previous = EspLog.instance
    log.set_logger(ProgressLogger(job, "write").make())
    try:
        with log.progress(total=4096, unit="B") as task:  # what write_flash does per image
            task.update(advance=1024)
            task.update(advance=3072)
    finally:
        EspLog.instance = previous
    assert (1024, 4096, "write") in steps and steps[-1] == (4096, 4096, "write")


# --------------------------------------------------------------------------------------------- inputs


def test_a_failed_build_is_not_uploaded(tmp_path: Path) -> None:
    failed = BuildResult(ok=False, tool="arduino-cli", board="pico", command=[], output="error: x", returncode=1,
                         project_dir=tmp_path, output_dir=tmp_path)
    with pytest.raises(BuildError, match="Nothing to upload: The build for pico with arduino-cli failed"):
        upload(failed, "pico", ports=[])
    with pytest.raises(ConfigError, match="No firmware image or project at"):
        upload(tmp_path / "missing.bin", "pico", ports=[])


# ------------------------------------------------------------------------------------- ST-LINK drive


def stlink_drive(root: Path) -> Path:
    drive = root / "NODE_L476RG"
    drive.mkdir(parents=True)
    (drive / "DETAILS.TXT").write_text("Version: 0221\n")
    (drive / "MBED.HTM").write_text("<html></html>\n")
    return drive


def remount_after_copy(drive: Path, name: str, fail: str | None = None) -> threading.Thread:
    """What the ST-LINK does with a copied .bin: program it, then re-mount the drive without it."""
    def run() -> None:
        while not (drive / name).exists():
            time.sleep(0.01)
        time.sleep(0.05)
        if fail:
            (drive / "FAIL.TXT").write_text(fail)
        (drive / name).unlink()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_nucleo_upload_copies_the_bin_onto_the_stlink_drive(tmp_path: Path) -> None:
    drive = stlink_drive(tmp_path / "media")
    image = tmp_path / "tinyml.ino.bin"
    image.write_bytes(b"\x10" * 5000)
    stlink = [usb_port("/dev/ttyACM0", (0x0483, 0x374B))]
    remount_after_copy(drive, image.name)
    result = upload(image, "nucleo-l476rg", volumes=[tmp_path / "media"], ports=stlink,
                    settings=UploadSettings(return_timeout=3))
    assert result.method == "mbed-copy" and result.port == "/dev/ttyACM0" and not result.warnings


def test_nucleo_upload_surfaces_the_stlink_fail_txt(tmp_path: Path) -> None:
    drive = stlink_drive(tmp_path)
    image = tmp_path / "tinyml.ino.bin"
    image.write_bytes(b"\x10" * 5000)
    remount_after_copy(drive, image.name, fail="The interface firmware FAILED to reset/halt the target MCU\r\n")
    with pytest.raises(UploadError, match="The ST-LINK refused tinyml.ino.bin: The interface firmware FAILED to "
                                          "reset/halt the target MCU — build a .bin"):
        upload(image, "nucleo-l476rg", volumes=[tmp_path], ports=[], settings=UploadSettings(return_timeout=3))
