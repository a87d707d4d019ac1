"""The board catalogue (boards.toml) and detect_boards() over real pyserial ListPortInfo objects."""
from __future__ import annotations

from collections import defaultdict

import pytest
from serial.tools.list_ports_common import ListPortInfo

from jupyter_tinyml.boards import (
    UPLOAD_METHODS,
    Board,
    catalogue,
    describe_catalogue,
    detect_boards,
    find_board,
    find_ports,
    format_usb_id,
    parse_usb_id,
    shared_usb_ids,
)
from jupyter_tinyml.errors import ConfigError

REQUIRED = {
    "nano33ble": "Arduino Nano 33 BLE Sense",
    "nano33ble-rev2": "Arduino Nano 33 BLE Sense Rev2",
    "nano-rp2040": "Arduino Nano RP2040 Connect",
    "nicla-vision": "Arduino Nicla Vision",
    "portenta-h7": "Arduino Portenta H7",
    "pico": "Raspberry Pi Pico",
    "pico-w": "Raspberry Pi Pico W",
    "xiao-esp32s3": "Seeed XIAO ESP32S3 Sense",
    "esp32s3-devkitc": "Espressif ESP32-S3-DevKitC-1",
    "xiao-nrf52840-sense": "Seeed XIAO nRF52840 Sense",
    "wio-terminal": "Seeed Wio Terminal",
    "nucleo-l476rg": "ST NUCLEO-L476RG",
}


def usb_port(device: str, vid: int | None, pid: int | None, *, serial_number: str | None = None,
             product: str | None = None) -> ListPortInfo:
    """A real pyserial ListPortInfo, filled the way list_ports fills it for a USB device."""
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.serial_number, info.product = vid, pid, serial_number, product
    if vid is not None:
        info.apply_usb_info()
    return info


def test_every_required_board_is_in_the_catalogue_with_all_fields() -> None:
    boards = {board.id: board for board in catalogue()}
    assert set(REQUIRED) <= set(boards)
    for board_id, name in REQUIRED.items():
        board = boards[board_id]
        assert board.name == name
        assert board.aliases and board.cpu and board.vendor
        assert board.clock_mhz >= 48 and board.flash_bytes >= 256 * 1024 and board.ram_bytes >= 64 * 1024
        assert board.usb_app and board.usb_bootloader, board_id
        assert board.fqbn or board.platformio, board_id
        assert board.upload in UPLOAD_METHODS
        assert board.baud == 115200
        assert board.bootloader_hint
        if board.upload in ("uf2", "mbed-copy"):
            assert board.bootloader_volume, board_id
        if board.upload == "esptool":
            assert board.esp_chip == "esp32s3" and not board.serial_dtr
        if board.fqbn and not board.fqbn.startswith("arduino:"):
            assert board.arduino_index_url.startswith("https://"), board_id


def test_existing_ids_and_limits_are_kept() -> None:
    assert find_board("nano33ble").limits() == {
        "id": "nano33ble", "board": "Arduino Nano 33 BLE Sense", "cpu": "nRF52840 (Cortex-M4F)", "clock_mhz": 64,
        "flash_bytes": 1048576, "ram_bytes": 262144,
        "sensors": ["imu", "microphone", "temperature", "humidity", "pressure", "light", "gesture"]}
    for board_id in ("nano-rp2040", "pico", "xiao-esp32s3"):
        assert find_board(board_id).id == board_id
    # A Board made by hand (tests, widgets) needs only the original fields.
    assert Board(id="t", name="T", cpu="M0+", clock_mhz=48, flash_bytes=1, ram_bytes=1).upload == "arduino-cli"


def test_the_real_usb_ids_of_the_vendors() -> None:
    assert (0x2341, 0x805A) in find_board("nano33ble").usb_app
    assert find_board("nano33ble").usb_bootloader == ((0x2341, 0x005A),)
    assert (0x2341, 0x805E) in find_board("nano-rp2040").usb_app
    assert find_board("portenta-h7").usb_bootloader == ((0x2341, 0x035B),)
    assert find_board("nicla-vision").usb_bootloader == ((0x2341, 0x035F),)
    assert find_board("pico").usb_bootloader == ((0x2E8A, 0x0003),)
    assert (0x2E8A, 0xF00A) in find_board("pico-w").usb_app
    assert (0x303A, 0x1001) in find_board("esp32s3-devkitc").usb_app
    assert find_board("xiao-nrf52840-sense").usb_bootloader == ((0x2886, 0x0045),)
    assert find_board("wio-terminal").usb_app == ((0x2886, 0x802D),)
    assert find_board("wio-terminal").usb_bootloader == ((0x2886, 0x002D),)
    assert (0x0483, 0x374B) in find_board("nucleo-l476rg").usb_app


def test_a_usb_id_shared_by_two_boards_is_a_variant_or_a_declared_chip_family_id() -> None:
    owners: dict[tuple[int, int], set[str]] = defaultdict(set)
    for board in catalogue():
        for usb_id in board.usb_ids:
            owners[usb_id].add(board.id)
    shared = shared_usb_ids()
    for usb_id, ids in owners.items():
        if len(ids) < 2 or usb_id in shared:
            continue
        bases = {find_board(board_id).variant_of or board_id for board_id in ids}
        assert len(bases) == 1, f"{format_usb_id(usb_id)} is claimed by {sorted(ids)}"
    # And a board's own sketch and bootloader ids are distinct wherever the bootloader is a separate program.
    for board in catalogue():
        if board.upload in ("bossac", "uf2"):
            assert not set(board.usb_app) & set(board.usb_bootloader), board.id


def test_find_board_by_id_name_and_alias_ignoring_case_and_punctuation() -> None:
    assert find_board("Nano 33 BLE Sense").id == "nano33ble"
    assert find_board("nano33ble rev2").id == "nano33ble-rev2"
    assert find_board("Pico W").id == "pico-w"
    assert find_board("ESP32-S3-DevKitC-1").id == "esp32s3-devkitc"
    assert find_board("xiao ble sense").id == "xiao-nrf52840-sense"
    assert find_board("WIO_TERMINAL").id == "wio-terminal"
    assert find_board("nucleo").id == "nucleo-l476rg"
    with pytest.raises(ConfigError, match="known boards: .*wio-terminal"):
        find_board("uno r4")


def test_aliases_do_not_collide() -> None:
    from jupyter_tinyml.boards import normalise

    seen: dict[str, str] = {}
    for board in catalogue():
        for name in (board.id, board.name, *board.aliases):
            key = normalise(name)
            assert seen.setdefault(key, board.id) == board.id, f"{name!r} names {seen[key]} and {board.id}"


def test_usb_ids_parse_and_print() -> None:
    assert parse_usb_id("2341:805a") == (0x2341, 0x805A)
    assert format_usb_id((0x2341, 0x5A)) == "2341:005A"
    with pytest.raises(ConfigError, match="VID:PID"):
        parse_usb_id("2341-805A")


def test_detects_a_known_board_running_a_sketch() -> None:
    [found] = detect_boards([usb_port("/dev/ttyACM0", 0x2886, 0x802D, serial_number="A1B2")])
    assert found.board == find_board("wio-terminal")
    assert found.mode == "application"
    assert str(found) == "Seeed Wio Terminal on /dev/ttyACM0 (2886:802D, serial A1B2), running a sketch"


def test_detects_a_board_in_its_bootloader() -> None:
    [found] = detect_boards([usb_port("/dev/ttyACM1", 0x2341, 0x005A)])
    assert found.board == find_board("nano33ble")
    assert found.mode == "bootloader"
    assert "in its bootloader" in str(found)
    # Rev1 and Rev2 share their ids: both are named, the base entry is the board.
    assert {board.id for board in found.candidates} == {"nano33ble", "nano33ble-rev2"}
    assert "or Arduino Nano 33 BLE Sense Rev2" in str(found)


def test_an_unknown_board_on_a_usb_serial_chip_is_listed_as_such() -> None:
    [found] = detect_boards([usb_port("/dev/ttyUSB0", 0x10C4, 0xEA60,
                                      product="CP2102N USB to UART Bridge Controller")])
    assert found.board is None and not found.known
    assert found.chip == "CP2102"
    assert str(found).startswith("unknown board on a CP2102 USB-serial chip on /dev/ttyUSB0 (10C4:EA60)")
    assert found.possibly == (find_board("esp32s3-devkitc"),)
    [ch340] = detect_boards([usb_port("/dev/ttyUSB1", 0x1A86, 0x7523)])
    assert "unknown board on a CH340 USB-serial chip" in str(ch340)


def test_a_chip_family_id_lists_every_candidate() -> None:
    [found] = detect_boards([usb_port("/dev/ttyACM0", 0x303A, 0x1001)])
    assert found.board is None
    assert {board.id for board in found.candidates} == {"xiao-esp32s3", "esp32s3-devkitc"}
    assert "Seeed XIAO ESP32S3 Sense or Espressif ESP32-S3-DevKitC-1" in str(found)


def test_ports_without_usb_ids_are_left_out_and_known_boards_come_first() -> None:
    ports = [usb_port("/dev/ttyS0", None, None), usb_port("/dev/ttyACM9", 0x1234, 0x5678, product="Gadget"),
             usb_port("/dev/ttyUSB0", 0x0403, 0x6001), usb_port("/dev/ttyACM3", 0x2E8A, 0xF00A)]
    found = detect_boards(ports)
    assert [entry.port for entry in found] == ["/dev/ttyACM3", "/dev/ttyUSB0", "/dev/ttyACM9"]
    assert found[0].board == find_board("pico-w")
    assert "FT232R" in str(found[1])
    assert "unknown USB serial device Gadget" in str(found[2])
    assert [entry.port for entry in detect_boards(ports, include_unknown=False)] == ["/dev/ttyACM3", "/dev/ttyUSB0"]


def test_find_ports_by_board_and_mode() -> None:
    ports = [usb_port("/dev/ttyACM0", 0x2341, 0x805A), usb_port("/dev/ttyACM1", 0x2341, 0x005A),
             usb_port("/dev/ttyACM2", 0x2E8A, 0x000A)]
    assert [p.port for p in find_ports("nano33ble", ports)] == ["/dev/ttyACM0", "/dev/ttyACM1"]
    assert [p.port for p in find_ports("nano33ble", ports, mode="bootloader")] == ["/dev/ttyACM1"]
    assert [p.port for p in find_ports("pico", ports, mode="application")] == ["/dev/ttyACM2"]
    assert find_ports("wio-terminal", ports) == []


def test_detect_boards_reads_the_system_ports_without_failing() -> None:
    assert isinstance(detect_boards(), list)  # no hardware here: usually empty, never an error


def test_describe_catalogue_lists_attached_boards_then_every_board() -> None:
    text = describe_catalogue(detect_boards([usb_port("/dev/ttyACM0", 0x2341, 0x805E)]))
    assert text.splitlines()[1].startswith("  Arduino Nano RP2040 Connect on /dev/ttyACM0")
    for board_id in REQUIRED:
        assert f"  {board_id} " in text
