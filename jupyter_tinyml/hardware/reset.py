"""How a board is reset into its bootloader before an upload.

Arduino's USB stacks (SAMD, nRF52840 mbed, RP2040) take a 1200-baud "touch" of the sketch's port as "reset into the
bootloader"; an ESP32 is reset by esptool, over the chip's own USB-Serial/JTAG ("usb-reset") or through the DTR/RTS
auto-reset circuit of a USB-serial bridge ("default-reset"); arduino-cli and the ST-LINK drive reset on their own.
"""
from __future__ import annotations

from ..boards import UsbId
from .ports import open_port
from .reporter import Reporter
from .settings import TOUCH_READ_TIMEOUT_S

ESP_USB_JTAG: UsbId = (0x303A, 0x1001)  # the chip's own USB port: baud rate means nothing, reset goes through USB


def touch_1200(port: str) -> None:
    """The 1200-baud touch: open the port at 1200 baud with DTR low and close it."""
    link = open_port(port, 1200, timeout=TOUCH_READ_TIMEOUT_S, dtr=False)
    try:
        try:
            link.dtr = False
        except OSError:
            pass  # a pseudo-terminal has no modem lines; a real CDC port does
    finally:
        try:
            link.close()
        except Exception:  # the board may vanish the moment it sees the touch
            pass


def touch_into_bootloader(port: str, reporter: Reporter) -> None:
    """The 1200-baud touch, said in the log and as the start of the "bootloader" step."""
    reporter.say(f"Resetting {port} into the bootloader (1200-baud touch)")
    reporter.step(0, 1, "bootloader")
    touch_1200(port)


def esptool_reset_mode(usb_id: UsbId | None) -> str:
    """esptool's --before for the port: "usb-reset" on the chip's own USB-Serial/JTAG, else "default-reset"."""
    return "usb-reset" if usb_id == ESP_USB_JTAG else "default-reset"


__all__ = ["ESP_USB_JTAG", "esptool_reset_mode", "touch_1200", "touch_into_bootloader"]
