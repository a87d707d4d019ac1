"""Serial ports: open one with errors a person can act on, and find the port a board shows now.

A board is found by its USB VID/PID (boards.toml), not by its port's name, because the name changes when the board
re-enumerates (sketch -> bootloader -> sketch). `ports=` arguments take pyserial ListPortInfo objects, or a callable
returning them, in place of the system's list (tests, a board reached through a pty).
"""
from __future__ import annotations

import errno
import os
import time
from typing import Any, Callable, Iterable

from ..boards import (
    USB_SERIAL_CHIPS,
    Board,
    DetectedBoard,
    UsbId,
    as_board,
    boards_with_usb_id,
    detect_boards,
    find_ports,
    format_usb_id,
)
from ..errors import (
    BoardError,
    BoardNotAttachedError,
    ConfigError,
    NoSuchPortError,
    PortBusyError,
    WrongBoardError,
)
from .settings import POLL_S, PORT_READ_TIMEOUT_S, WRITE_TIMEOUT_S

PortLister = Callable[[], Iterable[Any]]
Ports = PortLister | Iterable[Any] | None
"""What `ports=` takes: None (the system's list), a fixed list of ListPortInfo, or a callable returning one."""

DEFAULT_BAUD = 115200


def open_port(port: str, baud: int = DEFAULT_BAUD, *, timeout: float = PORT_READ_TIMEOUT_S,
              write_timeout: float | None = WRITE_TIMEOUT_S, exclusive: bool = True, dtr: bool = True) -> Any:
    """An open pyserial port, with open failures turned into one-line BoardErrors.

    `port` is a device path ("/dev/ttyACM0", "COM5") or a pyserial URL ("socket://localhost:4444", "rfc2217://").
    exclusive: lock the port (POSIX) so a second program cannot read the same answers. dtr: assert DTR and RTS
    when opening — Arduino's USB serial waits for DTR, while an ESP32's auto-reset circuit resets on them.
    """
    import serial

    try:
        if "://" in port:
            link = serial.serial_for_url(port, do_not_open=True)
        else:
            link = serial.Serial()
            link.port = port
            link.exclusive = exclusive
        link.baudrate = baud
        link.timeout = timeout
        link.write_timeout = write_timeout
        link.dtr = dtr
        link.rts = dtr
        link.open()
    except serial.SerialException as error:
        raise port_error(port, error) from None
    except OSError as error:  # some platforms raise plain OSError (e.g. ENXIO for a gone pty)
        raise port_error(port, error) from None
    return link


def port_error(port: str, error: BaseException) -> BoardError:
    """The BoardError for an exception pyserial raised while opening `port`."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code in (errno.EBUSY, errno.EAGAIN) or "exclusively lock" in text or (os.name == "nt" and code == errno.EACCES):
        return PortBusyError(f"{port} is in use by another program (a serial monitor, the Arduino IDE, another "
                             "notebook's BoardLink) — close that program or call .close() on the other link, "
                             "then retry")
    if code == errno.EACCES or "Permission denied" in text:
        return PortBusyError(f"No permission to open {port} — add yourself to the serial group (Debian/Ubuntu: "
                             "sudo usermod -aG dialout $USER, then log out and in again) and retry")
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "No such file" in text:
        return NoSuchPortError(port)
    return BoardError(f"Cannot open {port} ({text}) — unplug the board, plug it in again and retry")


def port_lister(ports: Ports) -> PortLister:
    """A callable listing the ports: the system's (pyserial) for None, else the given list or callable."""
    if ports is None:
        from serial.tools import list_ports

        return lambda: list(list_ports.comports())
    if callable(ports):
        return ports
    fixed = list(ports)
    return lambda: fixed


def same_port(a: str, b: str) -> bool:
    """Whether two port names mean the same device (a symlink such as /dev/serial/by-id/..., or a bare name)."""
    return a == b or os.path.realpath(a) == os.path.realpath(b) or os.path.basename(a) == b or a == os.path.basename(b)


def ids_for(board: Board, mode: str) -> tuple[UsbId, ...]:
    """USB ids that mean `mode`. A bootloader is recognised only by ids no sketch shows (else the sketch's own port
    would pass for it); a sketch by any of its ids (an ESP32-S3 sketch on the chip's USB-Serial/JTAG shows the same
    id as the ROM bootloader)."""
    if mode == "bootloader":
        only = tuple(i for i in board.usb_bootloader if i not in board.usb_app)
        return only or board.usb_bootloader
    return board.usb_app


def wait_for_port(board: Board | str, mode: str, *, timeout: float, ports: Ports = None,
                  poll: float = POLL_S) -> DetectedBoard | None:
    """The first port where `board` shows up in `mode` ("application" or "bootloader") within timeout, found by
    USB VID/PID (the port's name may change when the board re-enumerates); None if it does not appear."""
    board = as_board(board)
    lister = port_lister(ports)
    wanted = ids_for(board, mode)
    deadline = time.monotonic() + timeout
    while True:
        for detected in find_ports(board, lister()):
            if detected.usb_id in wanted:
                return detected
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll)


def check_port(board: Board | str, port: str | None, ports: Ports = None, *,
               method: str | None = None) -> DetectedBoard | None:
    """The attached board to upload to: the given port checked against the board's USB ids, or the one attached
    board of that kind. BoardNotFoundError / WrongBoardError / ConfigError (several) with what to do.

    Returns None when no port is needed (a UF2 or ST-LINK drive can be written without one)."""
    board = as_board(board)
    method = method or board.upload
    listing = list(port_lister(ports)())
    if port is None:
        found = find_ports(board, listing)
        if not found:
            if method in ("uf2", "mbed-copy"):
                return None  # maybe the drive is mounted already; the caller looks for it
            raise BoardNotAttachedError(board.name, hint=board.bootloader_hint)
        if len({entry.port for entry in found}) > 1:
            names = ", ".join(entry.port for entry in found)
            raise ConfigError(f"Several ports could be the {board.name} ({names}): pass port= to pick one.")
        return found[0]
    entry = next((info for info in listing if same_port(info.device, port)), None)
    if entry is None:
        raise NoSuchPortError(port, board.name)
    detected = detect_boards([entry])
    if not detected or detected[0].usb_id is None:
        return DetectedBoard(port=entry.device, vid=None, pid=None)  # a virtual port: nothing to check
    found_here = detected[0]
    usb_id = found_here.usb_id
    assert usb_id is not None
    if usb_id in board.usb_ids or usb_id in board.usb_serial_chips:
        return found_here
    others = boards_with_usb_id(usb_id)
    if others:
        other = others[0]
        raise WrongBoardError(f"{port} is {_a(other.name)} ({format_usb_id(usb_id)}), not {_a(board.name)} — pass "
                              f"board={other.id!r}, or the port of the {board.name}")
    if usb_id in USB_SERIAL_CHIPS and method != "esptool":
        raise WrongBoardError(f"{port} is a {USB_SERIAL_CHIPS[usb_id]} USB-serial chip, which {_a(board.name)} does "
                              "not have — pick the board's own port (detect_boards() lists them)")
    return found_here  # an id we do not know (a sketch may set its own): esptool/bossac will tell


def _a(name: str) -> str:
    return f"{'an' if name[:1].upper() in 'AEIOU' else 'a'} {name}"


__all__ = ["DEFAULT_BAUD", "PortLister", "Ports", "check_port", "ids_for", "open_port", "port_error", "port_lister",
           "same_port", "wait_for_port"]
