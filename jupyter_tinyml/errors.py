"""The few exception classes jupyter-tinyml raises.

Each message is one line that says what to do next; the magics print it and leave the notebook unchanged.
"""


class TinyMLError(Exception):
    """Base class: anything the person can act on."""


class ConfigError(TinyMLError):
    """A setting or magic argument is wrong (unknown key, bad value, empty request)."""


class ModelError(TinyMLError):
    """The language model could not be used: unreachable, missing key, unknown name, timeout, rate limit."""


class MalformedAnswerError(TinyMLError):
    """The model answered, but not with Python code we can insert."""


class RecipeError(TinyMLError):
    """The offline recipe found nothing in the notebook it knows how to handle."""


class QuantizationError(TinyMLError):
    """A model, its data or a .tflite cannot be converted, evaluated or inspected as asked."""


class ToolNotFoundError(TinyMLError):
    """A program the step needs (arduino-cli, PlatformIO, bossac) is not installed; the message says how to get it."""


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


class UploadError(BoardError):
    """Writing the firmware failed; the message says how to recover (usually: double-tap reset, upload again)."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


class BootloaderError(UploadError):
    """The board did not enter its bootloader (no bootloader port or drive appeared in time)."""


class UploadTimeoutError(UploadError):
    """The upload, or the board coming back afterwards, took longer than the timeout."""
