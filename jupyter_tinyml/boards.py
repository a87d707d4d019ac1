"""The board catalogue (boards.toml): names, aliases, the limits a model must fit, and how to reach each board over
USB — its VID/PIDs, build target and uploader — plus `detect_boards()`, which matches the serial ports attached now
against the catalogue."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from .errors import ConfigError

UsbId = tuple[int, int]

UPLOAD_METHODS = ("bossac", "uf2", "esptool", "mbed-copy", "arduino-cli", "qemu")

# USB-serial bridge chips: a port with one of these is some board we cannot name (the chips sit on thousands of
# boards), listed as "unknown board on a CH340 USB-serial chip". Ids from the vendors' driver tables.
USB_SERIAL_CHIPS: dict[UsbId, str] = {
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x5523): "CH341",
    (0x1A86, 0x55D3): "CH343",
    (0x1A86, 0x55D4): "CH9102",
    (0x10C4, 0xEA60): "CP2102",
    (0x10C4, 0xEA70): "CP2105",
    (0x10C4, 0xEA71): "CP2108",
    (0x0403, 0x6001): "FT232R",
    (0x0403, 0x6010): "FT2232",
    (0x0403, 0x6011): "FT4232",
    (0x0403, 0x6014): "FT232H",
    (0x0403, 0x6015): "FT231X",
}
USB_SERIAL_VENDORS = {0x1A86: "WCH CH34x", 0x10C4: "Silicon Labs CP210x", 0x0403: "FTDI"}


@dataclass(frozen=True)
class Board:
    """One catalogue entry. Fields after `sensors` describe the USB side; boards.toml documents each."""

    id: str
    name: str
    cpu: str
    clock_mhz: int
    flash_bytes: int
    ram_bytes: int
    aliases: tuple[str, ...] = ()
    sensors: tuple[str, ...] = field(default_factory=tuple)
    vendor: str = ""
    sensor_parts: tuple[str, ...] = ()
    usb_app: tuple[UsbId, ...] = ()
    usb_bootloader: tuple[UsbId, ...] = ()
    usb_serial_chips: tuple[UsbId, ...] = ()
    fqbn: str = ""
    arduino_core: str = ""
    arduino_index_url: str = ""
    platformio: str = ""
    upload: str = "arduino-cli"
    baud: int = 115200
    bootloader_volume: str = ""
    bootloader_hint: str = "double-tap the reset button"
    uf2_family: int | None = None
    bossac_offset: int | None = None
    esp_chip: str = ""
    upload_baud: int = 921600
    serial_dtr: bool = True
    variant_of: str = ""
    notes: str = ""

    def limits(self) -> dict[str, Any]:
        """What the context tells a model about the target."""
        return {
            "id": self.id,
            "board": self.name,
            "cpu": self.cpu,
            "clock_mhz": self.clock_mhz,
            "flash_bytes": self.flash_bytes,
            "ram_bytes": self.ram_bytes,
            "sensors": list(self.sensors),
        }

    @property
    def usb_ids(self) -> tuple[UsbId, ...]:
        """Every VID/PID the board may show, sketch ids first."""
        return tuple(dict.fromkeys(self.usb_app + self.usb_bootloader))

    def arduino_install_hint(self) -> str:
        """The arduino-cli command that installs this board's core."""
        if not self.arduino_core:
            return ""
        url = f" --additional-urls {self.arduino_index_url}" if self.arduino_index_url else ""
        return f"arduino-cli core install {self.arduino_core}{url}"


def format_usb_id(usb_id: UsbId | None) -> str:
    """(0x2341, 0x805A) -> "2341:805A"."""
    return "none" if usb_id is None else f"{usb_id[0]:04X}:{usb_id[1]:04X}"


def parse_usb_id(text: str) -> UsbId:
    """"2341:805A" (hex, with or without 0x) -> (0x2341, 0x805A)."""
    try:
        vid, pid = (int(part, 16) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"USB id {text!r} in boards.toml is not VID:PID in hex (e.g. \"2341:805A\").") from None
    return vid, pid


_TUPLE_FIELDS = ("aliases", "sensors", "sensor_parts")
_USB_FIELDS = ("usb_app", "usb_bootloader", "usb_serial_chips")


def _board(entry: dict[str, Any]) -> Board:
    values = dict(entry)
    for key in _TUPLE_FIELDS:
        values[key] = tuple(values.get(key, ()))
    for key in _USB_FIELDS:
        values[key] = tuple(parse_usb_id(text) for text in values.get(key, ()))
    known = set(Board.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"boards.toml entry {values.get('id')!r} has unknown field(s) {', '.join(unknown)}.")
    if values.get("upload", "arduino-cli") not in UPLOAD_METHODS:
        raise ConfigError(f"boards.toml entry {values.get('id')!r}: upload must be one of {', '.join(UPLOAD_METHODS)}.")
    return Board(**values)


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    text = resources.files("jupyter_tinyml").joinpath("boards.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Board, ...]:
    """Every board of boards.toml, in file order."""
    return tuple(_board(entry) for entry in _data()["board"])


@lru_cache(maxsize=1)
def shared_usb_ids() -> dict[UsbId, str]:
    """USB ids that belong to a chip family rather than one board (e.g. ESP32-S3 USB-Serial/JTAG), with why."""
    return {parse_usb_id(key): reason for key, reason in _data().get("shared_usb_ids", {}).items()}


def normalise(name: str) -> str:
    return "".join(character for character in name.lower() if character.isalnum())


def find_board(name: str) -> Board:
    """The board called `name` (id, name or alias, ignoring case and punctuation); ConfigError lists the choices."""
    wanted = normalise(name)
    for board in catalogue():
        if wanted in {normalise(board.id), normalise(board.name), *(normalise(alias) for alias in board.aliases)}:
            return board
    choices = ", ".join(board.id for board in catalogue())
    raise ConfigError(f"Unknown board {name!r}; known boards: {choices}.")


def as_board(board: Board | str) -> Board:
    """A Board from a Board or a catalogue name."""
    return board if isinstance(board, Board) else find_board(board)


def boards_with_usb_id(usb_id: UsbId, boards: Iterable[Board] | None = None) -> tuple[Board, ...]:
    """Catalogue boards that may show this VID/PID (in sketch or bootloader mode)."""
    return tuple(board for board in (catalogue() if boards is None else boards) if usb_id in board.usb_ids)


# ------------------------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class DetectedBoard:
    """A serial port attached now and what the catalogue makes of its USB VID/PID.

    mode: "application" (a sketch runs), "bootloader", or "unknown". `candidates` are the catalogue boards the
    id fits: one for most, several for ids a chip family shares (every ESP32-S3 shows 303A:1001). `chip` names
    the USB-serial bridge of a board the catalogue cannot name.
    """

    port: str
    vid: int | None
    pid: int | None
    mode: str = "unknown"
    candidates: tuple[Board, ...] = ()
    chip: str | None = None
    serial_number: str | None = None
    description: str = ""
    possibly: tuple[Board, ...] = ()  # catalogue boards that carry this USB-serial chip on some port

    @property
    def board(self) -> Board | None:
        """The one catalogue board this is, or None when unknown or ambiguous. A revision or wireless variant with
        its base board's USB ids (Nano 33 BLE Sense Rev2, Pico W on the SDK id) counts as the base board."""
        main = _main_entries(self.candidates)
        return main[0] if len(main) == 1 else None

    @property
    def usb_id(self) -> UsbId | None:
        return None if self.vid is None or self.pid is None else (self.vid, self.pid)

    @property
    def known(self) -> bool:
        return bool(self.candidates)

    def __str__(self) -> str:
        where = f"{self.port} ({format_usb_id(self.usb_id)}"
        where += f", serial {self.serial_number})" if self.serial_number else ")"
        if self.board is not None:
            mode = "in its bootloader" if self.mode == "bootloader" else "running a sketch"
            variants = [board.name for board in self.candidates if board is not self.board]
            also = f" (or {' or '.join(variants)}: same USB ids)" if variants else ""
            return f"{self.board.name}{also} on {where}, {mode}"
        if self.candidates:
            names = " or ".join(board.name for board in self.candidates)
            return f"a board of one chip family ({names}) on {where}"
        if self.chip:
            names = " or ".join(board.name for board in self.possibly)
            maybe = f" — perhaps the UART port of a {names}" if self.possibly else ""
            return f"unknown board on a {self.chip} USB-serial chip on {where}{maybe}"
        return f"unknown USB serial device {self.description or ''} on {where}".replace("  ", " ")

    def __repr__(self) -> str:
        return f"<DetectedBoard {self}>"


def _list_ports() -> list[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def _mode(usb_id: UsbId, candidates: tuple[Board, ...]) -> str:
    if any(usb_id in board.usb_app for board in candidates):
        return "application"
    if any(usb_id in board.usb_bootloader for board in candidates):
        return "bootloader"
    return "unknown"


def _main_entries(candidates: tuple[Board, ...]) -> tuple[Board, ...]:
    """The candidates that are not a variant of another candidate."""
    ids = {board.id for board in candidates}
    return tuple(board for board in candidates if board.variant_of not in ids)


def detect_boards(ports: Iterable[Any] | None = None, *, include_unknown: bool = True) -> list[DetectedBoard]:
    """The boards attached now, matched by USB VID/PID against the catalogue.

    ports: pyserial ListPortInfo objects (default: `serial.tools.list_ports.comports()`), so tests and callers can
        pass their own. Ports without a USB id (built-in UARTs, Bluetooth) are left out. Known boards come first,
        then USB-serial bridges ("unknown board on a CP2102 USB-serial chip"), then other USB serial devices
        (left out with include_unknown=False).
    """
    found: list[DetectedBoard] = []
    for info in _list_ports() if ports is None else ports:
        vid, pid = getattr(info, "vid", None), getattr(info, "pid", None)
        if vid is None or pid is None:
            continue
        usb_id = (int(vid), int(pid))
        candidates = boards_with_usb_id(usb_id)
        chip = USB_SERIAL_CHIPS.get(usb_id) or USB_SERIAL_VENDORS.get(usb_id[0])
        if not candidates and not chip and not include_unknown:
            continue
        description = getattr(info, "product", None) or getattr(info, "description", "") or ""
        found.append(DetectedBoard(
            port=info.device, vid=usb_id[0], pid=usb_id[1],
            mode=_mode(usb_id, candidates) if candidates else "unknown",
            candidates=candidates, chip=None if candidates else chip,
            serial_number=getattr(info, "serial_number", None),
            description="" if description == "n/a" else str(description),
            possibly=() if candidates else tuple(b for b in catalogue() if usb_id in b.usb_serial_chips),
        ))
    rank = {True: 0, False: 1}
    found.sort(key=lambda d: (rank[d.known], 0 if d.chip else 1, d.port))
    return found


def find_ports(board: Board | str, ports: Iterable[Any] | None = None, *,
               mode: str | None = None) -> list[DetectedBoard]:
    """Detected ports that may be `board` (the board itself, or a chip-family id it shares), optionally only in
    one mode ("application" or "bootloader")."""
    wanted = as_board(board)
    result = []
    for detected in detect_boards(ports, include_unknown=False):
        usb_id = detected.usb_id
        if usb_id is None or usb_id not in wanted.usb_ids:
            continue
        if mode == "application" and usb_id not in wanted.usb_app:
            continue
        if mode == "bootloader" and usb_id not in wanted.usb_bootloader:
            continue
        result.append(detected)
    return result


# The catalogue as a table: (heading, width in the plain-text table, or 0 for columns only the HTML table shows).
CATALOGUE_COLUMNS = (("id", 21), ("board", 37), ("processor", 0), ("MHz", 4), ("flash", 11), ("RAM", 10), ("upload", 12))


def catalogue_rows() -> list[tuple[str, ...]]:
    """One row per catalogue board, in CATALOGUE_COLUMNS' order: `%tinyml boards` shows them as a table."""
    return [
        (board.id, board.name, board.cpu, str(board.clock_mhz), f"{board.flash_bytes // 1024:,} KB",
         f"{board.ram_bytes // 1024:,} KB", board.upload)
        for board in catalogue()
    ]


def describe_catalogue(detected: Iterable[DetectedBoard] | None = None) -> str:
    """Plain text for `%tinyml boards`: the boards attached now, then the catalogue as a table under 100 columns
    (a notebook's output wraps longer lines mid-word; the processor is in the HTML table only)."""
    lines = ["Attached now:"]
    attached = list(detect_boards() if detected is None else detected)
    lines += [f"  {entry}" for entry in attached] or ["  nothing (plug a board in with a data USB cable)"]
    lines.append("Catalogue (choose one with %tinyml config board=<id>, or --board <id> on a stage):")
    shown = [index for index, (_, width) in enumerate(CATALOGUE_COLUMNS) if width]

    def line(cells: tuple[str, ...]) -> str:
        texts = []
        for index in shown:
            heading, width = CATALOGUE_COLUMNS[index]
            right = heading in ("MHz", "flash", "RAM")
            texts.append(cells[index].rjust(width - 1) if right else cells[index].ljust(width - 1))
        return "  " + " ".join(texts).rstrip()

    lines.append(line(tuple(heading for heading, _ in CATALOGUE_COLUMNS)))
    lines += [line(row) for row in catalogue_rows()]
    return "\n".join(lines)
