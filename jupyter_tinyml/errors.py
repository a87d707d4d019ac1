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
