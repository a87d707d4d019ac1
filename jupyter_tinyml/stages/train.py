"""Stage `train`: a small Keras model sized for a microcontroller, trained on what prep produced.

Whatever writes the code, the cells must leave in the namespace: model (compiled and trained Keras model),
history (from model.fit) and float_accuracy (float, the Keras model's accuracy on x_test).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage
from .wishes import CNN, CONV1D, DENSE, Wishes, asked_note
from .wishes import read as read_wishes

BATCH_SIZE = 32
VALIDATION_SPLIT = 0.1
# Gradient steps to aim for: enough for the small models below to converge on typical course datasets, few
# enough to train in seconds on two CPU cores. Early stopping ends sooner when validation loss stalls. Each
# epoch also costs ~0.1-0.3 s of fixed overhead (validation, callbacks), so small datasets get fewer steps
# rather than hundreds of epochs.
TARGET_STEPS = 1500
MIN_EPOCHS, MAX_EPOCHS = 3, 60
CONV_FILTERS = (8, 16, 32, 32, 64, 64)
CONV1D_FILTERS = (16, 32, 32, 64, 64, 64)
INDENT = " " * 8
# What train honours from a request (wishes.py); the other clauses are named as unused.
HEARS = frozenset({"epochs", "batch_size", "learning_rate", "validation_split", "layer_kind", "dense_layers",
                   "conv_layers", "units", "dropout"})


@dataclass(frozen=True)
class Design:
    """The network the recipe writes: its layer lines, what to call it, and why it suits the data."""

    layers: list[str]
    kind: str
    name: str


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Offline training: a CNN for images, a Conv1D net for time series, an MLP for tabular features — or the
    layers, epochs, batch, learning rate, validation share and dropout the request asks for."""
    wishes = read_wishes(request).checked(*HEARS)
    variables = context.variables
    missing = [name for name in ("x_train", "y_train", "x_test", "y_test")
               if name not in variables or variables[name].kind != "ndarray"]
    if missing:
        raise RecipeError(f"No {', '.join(missing)} in the notebook: run %%tinyml_prep first (and run its cells).")
    shape = tuple(variables["x_train"].facts.get("shape", ()))
    y_shape = tuple(variables["y_train"].facts.get("shape", ()))
    if len(shape) not in (2, 3, 4):
        raise RecipeError(f"x_train has shape {shape}; the recipe trains on N×F, N×T×C or N×H×W×C arrays.")
    design = _design(shape, wishes)

    one_hot = len(y_shape) == 2  # someone else's prep may have one-hot encoded the labels
    if "num_classes" in variables:
        define_num_classes = ""
    elif one_hot:
        define_num_classes = "num_classes = y_train.shape[1]  # one column per class\n"
    else:
        define_num_classes = "num_classes = int(y_train.max()) + 1  # labels are class indices 0..K-1\n"
    loss, loss_why = (
        ("categorical_crossentropy", "the labels are one-hot rows.") if one_hot
        else ("sparse_categorical_crossentropy", "'sparse' because labels are class indices.")
    )
    n_train = shape[0]
    batch = wishes.batch_size or BATCH_SIZE
    validation = wishes.validation_split if wishes.validation_split is not None else VALIDATION_SPLIT
    epochs, steps = _epochs_for(n_train, batch, validation)
    if wishes.epochs is not None:
        epochs, steps = wishes.epochs, wishes.epochs * _steps_per_epoch(n_train, batch, validation)
        epochs_why = f"asked for: about {steps} gradient steps for {n_train} samples"
    else:
        epochs_why = f"about {steps} gradient steps for {n_train} samples: seconds on a laptop CPU"
    if wishes.learning_rate is not None:
        optimizer = f"keras.optimizers.Adam(learning_rate={wishes.learning_rate:g})"
        optimizer_why = f"Adam with the learning rate asked for ({wishes.learning_rate:g}); "
    else:
        optimizer, optimizer_why = '"adam"', "Adam with its default learning rate trains small models reliably; "
    input_shape = "input_shape" if "input_shape" in variables else "x_train.shape[1:]"
    sample = "×".join(str(n) for n in shape[1:])
    model_cell = render(
        "train_model",
        why=f"A small {design.kind} for {sample} {_DATA_WORDS[len(shape)]}: few parameters, so it fits a "
            "microcontroller.",
        define_num_classes=define_num_classes,
        input_shape=input_shape,
        layers="\n".join(INDENT + layer for layer in design.layers),
        model_name=design.name,
        optimizer=optimizer,
        optimizer_why=optimizer_why,
        loss=loss,
        loss_why=loss_why,
    )
    fit_cell = render("train_fit", patience=_patience(epochs), epochs=epochs, epochs_why=epochs_why,
                      batch_size=batch, validation=f"{validation:g}", validation_percent=f"{validation * 100:g}%")
    asked = [f"learning rate {wishes.learning_rate:g} (asked)"] if wishes.learning_rate is not None else []
    asked += [f"dropout {wishes.dropout:g} (asked)"] if wishes.dropout is not None else []
    if wishes.validation_split is not None:
        asked.append(f"{validation * 100:g}% of the training split for validation (asked)")
    choices = [asked_note(wishes, "epochs", f"{epochs} epochs at most"),
               asked_note(wishes, "batch_size", f"batch {batch}"), *asked, "early stopping on validation loss"]
    note = (f"**Recipe (offline):** `x_train` {'×'.join(str(n) for n in shape)} → {design.kind}; "
            f"{', '.join(choices)}; then test accuracy as `float_accuracy`.")
    return [GeneratedCell(note, cell_type="markdown"), GeneratedCell(model_cell), GeneratedCell(fit_cell)]


_DATA_WORDS = {2: "tabular features", 3: "time-series windows", 4: "images"}


def _design(shape: tuple[int, ...], wishes: Wishes) -> Design:
    """The layers for x_train's shape: the data's usual network unless the request names a kind or counts."""
    data = _DATA_WORDS[len(shape)]
    wanted = wishes.layer_kind
    if wanted is None and wishes.conv_layers is not None:
        wanted = CONV1D if len(shape) == 3 else CNN
    if wanted is None and wishes.dense_layers is not None:
        wanted = DENSE  # "one dense layer" and nothing about convolutions: dense only
    if wanted == CONV1D and len(shape) == 4:
        raise RecipeError("The request asks for Conv1D layers, but x_train holds images (N×H×W×C): ask for a CNN "
                          "or dense layers.")
    if wanted in (CNN, CONV1D) and len(shape) == 2:
        raise RecipeError("The request asks for convolutions, but x_train holds tabular features (N×F), which have "
                          "no neighbours to convolve: ask for dense layers.")
    asked = " (asked)" if wishes.layer_kind or wishes.conv_layers is not None or wishes.dense_layers is not None else ""
    if wanted == DENSE or len(shape) == 2:
        flatten = len(shape) > 2
        first = 64 if flatten else 32
        count = wishes.dense_layers if wishes.dense_layers is not None else 2
        layers = (["keras.layers.Flatten(),  # dense layers read one vector: the values in a row"] if flatten else [])
        layers += _dense_layers(count, wishes.units, first, wishes.dropout)
        return Design(layers, f"dense network of {_counted(count, 'hidden layer')}{asked} for {data}"
                      if flatten or asked else "MLP", "tiny_mlp")
    count = wishes.dense_layers if wishes.dense_layers is not None else (1 if wishes.units else 0)
    dense = _dense_layers(count, wishes.units, wishes.units or 32, wishes.dropout)
    if count == 0 and wishes.dropout:
        dense = [f"keras.layers.Dropout({wishes.dropout:g}),  # drops a share of features while training"]
    extra = f" + {_counted(count, 'dense layer')}" if count else ""
    if len(shape) == 4:
        layers = _cnn_layers(shape[1:3], wishes.conv_layers)
        convs = sum("Conv2D" in layer for layer in layers)
        return Design(layers + dense, f"CNN of {_counted(convs, 'conv layer')}{extra}{asked}", "tiny_cnn")
    layers = _conv1d_layers(shape[1], wishes.conv_layers or 2)
    convs = sum("Conv1D" in layer for layer in layers)
    return Design(layers + dense, f"Conv1D network of {_counted(convs, 'conv layer')}{extra}{asked}", "tiny_conv1d")


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _dense_layers(count: int, units: int | None, first: int, dropout: float | None) -> list[str]:
    """`count` hidden Dense layers: `units` each when asked, else `first` halving down to 8; Dropout after each."""
    layers = []
    for i in range(count):
        width = units or max(8, first >> i)
        layers.append(f'keras.layers.Dense({width}, activation="relu"),')
        if dropout:
            layers.append(f"keras.layers.Dropout({dropout:g}),  # drops a share of units while training")
    return layers


def _steps_per_epoch(n_train: int, batch: int, validation: float) -> int:
    return max(1, math.ceil((1 - validation) * n_train / batch))


def _epochs_for(n_train: int, batch: int = BATCH_SIZE, validation: float = VALIDATION_SPLIT) -> tuple[int, int]:
    """Epochs giving about TARGET_STEPS gradient steps for n_train samples (less validation), and the steps."""
    steps_per_epoch = _steps_per_epoch(n_train, batch, validation)
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    return epochs, epochs * steps_per_epoch


def _patience(epochs: int) -> int:
    return max(5, epochs // 10)


def _cnn_layers(spatial: tuple[int, ...], count: int | None = None) -> list[str]:
    """Conv blocks halving the image until it is at most 4×4 (at least two blocks, at most four), or `count`
    blocks when the request says how many (pooling stops at 4×4)."""
    side = min(spatial) if spatial else 8
    layers = []
    for i, filters in enumerate(CONV_FILTERS):
        if count is None and i >= 4 or count is None and i >= 2 and side <= 4 or count is not None and i >= count:
            break
        comment = "  # 3x3 filters find edges, then parts" if i == 0 else ""
        layers.append(f'keras.layers.Conv2D({filters}, 3, padding="same", activation="relu"),{comment}')
        if side > 4:  # "same" padding keeps small inputs (8×8) valid; pooling halves them
            layers.append("keras.layers.MaxPooling2D(2),")
            side //= 2
    if side <= 4:
        layers.append("keras.layers.Flatten(),  # few positions left: keep where each feature was")
    else:
        layers.append("keras.layers.GlobalAveragePooling2D(),  # many positions left: average them, few weights")
    return layers


def _conv1d_layers(steps: int, count: int = 2) -> list[str]:
    """`count` Conv1D layers over the window, pooling between them while it is longer than 4 steps."""
    layers = []
    for i, filters in enumerate(CONV1D_FILTERS[:count]):
        comment = "  # patterns 5 time steps long" if i == 0 else ""
        layers.append(f'keras.layers.Conv1D({filters}, 5, padding="same", activation="relu"),{comment}')
        if i < count - 1 and steps > 4:
            layers.append("keras.layers.MaxPooling1D(2),")
            steps //= 2
    layers.append("keras.layers.GlobalAveragePooling1D(),  # where in the window a pattern occurs does not matter")
    return layers


STAGE = Stage(name="train", title="Model design and training", prompt_file="train.md", recipe=recipe, hears=HEARS)
