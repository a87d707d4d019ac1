"""Stage `train`: a small Keras model sized for a microcontroller, trained on what prep produced.

Whatever writes the code, the cells must leave in the namespace: model (compiled and trained Keras model),
history (from model.fit) and float_accuracy (float, the Keras model's accuracy on x_test).
"""
from __future__ import annotations

import math

from ..notebook.cells import GeneratedCell
from ..notebook.context import NotebookContext
from ..errors import RecipeError
from .templates import render
from .base import Stage

BATCH_SIZE = 32
# Gradient steps to aim for: enough for the small models below to converge on typical course datasets, few
# enough to train in seconds on two CPU cores. Early stopping ends sooner when validation loss stalls. Each
# epoch also costs ~0.1-0.3 s of fixed overhead (validation, callbacks), so small datasets get fewer steps
# rather than hundreds of epochs.
TARGET_STEPS = 1500
MIN_EPOCHS, MAX_EPOCHS = 3, 60
CONV_FILTERS = (8, 16, 32, 32)
INDENT = " " * 8


def recipe(request: str, context: NotebookContext) -> list[GeneratedCell]:
    """Offline training: a CNN for images, a Conv1D net for time series, an MLP for tabular features."""
    variables = context.variables
    missing = [name for name in ("x_train", "y_train", "x_test", "y_test")
               if name not in variables or variables[name].kind != "ndarray"]
    if missing:
        raise RecipeError(f"No {', '.join(missing)} in the notebook: run %%tinyml_prep first (and run its cells).")
    shape = tuple(variables["x_train"].facts.get("shape", ()))
    y_shape = tuple(variables["y_train"].facts.get("shape", ()))
    if len(shape) == 4:
        layers, kind, why, name = _cnn_layers(shape[1:3]), "CNN", "images", "tiny_cnn"
    elif len(shape) == 3:
        layers, kind, why, name = _conv1d_layers(), "Conv1D network", "time-series windows", "tiny_conv1d"
    elif len(shape) == 2:
        layers, kind, why, name = _mlp_layers(), "MLP", "tabular features", "tiny_mlp"
    else:
        raise RecipeError(f"x_train has shape {shape}; the recipe trains on N×F, N×T×C or N×H×W×C arrays.")

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
    epochs, steps = _epochs_for(n_train)
    input_shape = "input_shape" if "input_shape" in variables else "x_train.shape[1:]"
    sample = "×".join(str(n) for n in shape[1:])
    model_cell = render(
        "train_model",
        why=f"A small {kind} for {sample} {why}: a few thousand parameters, so it fits a microcontroller.",
        define_num_classes=define_num_classes,
        input_shape=input_shape,
        layers="\n".join(INDENT + layer for layer in layers),
        model_name=name,
        loss=loss,
        loss_why=loss_why,
    )
    fit_cell = render("train_fit", patience=_patience(epochs), epochs=epochs, steps=steps, n_train=n_train)
    note = (f"**Recipe (offline):** `x_train` {'×'.join(str(n) for n in shape)} → {kind}, {epochs} epochs at most "
            f"(batch {BATCH_SIZE}, early stopping on validation loss), then test accuracy as `float_accuracy`.")
    return [GeneratedCell(note, cell_type="markdown"), GeneratedCell(model_cell), GeneratedCell(fit_cell)]


def _epochs_for(n_train: int) -> tuple[int, int]:
    """Epochs giving about TARGET_STEPS gradient steps for n_train samples (90% of them train), and the steps."""
    steps_per_epoch = max(1, math.ceil(0.9 * n_train / BATCH_SIZE))
    epochs = min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(TARGET_STEPS / steps_per_epoch)))
    return epochs, epochs * steps_per_epoch


def _patience(epochs: int) -> int:
    return max(5, epochs // 10)


def _cnn_layers(spatial: tuple[int, ...]) -> list[str]:
    """Conv blocks halving the image until it is at most 4×4 (at least two blocks, at most four)."""
    side = min(spatial) if spatial else 8
    layers = []
    for i, filters in enumerate(CONV_FILTERS):
        if i >= 2 and side <= 4:
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


def _conv1d_layers() -> list[str]:
    return [
        'keras.layers.Conv1D(16, 5, padding="same", activation="relu"),  # patterns 5 time steps long',
        "keras.layers.MaxPooling1D(2),",
        'keras.layers.Conv1D(32, 5, padding="same", activation="relu"),',
        "keras.layers.GlobalAveragePooling1D(),  # where in the window a pattern occurs does not matter",
    ]


def _mlp_layers() -> list[str]:
    return [
        'keras.layers.Dense(32, activation="relu"),',
        'keras.layers.Dense(16, activation="relu"),',
    ]


STAGE = Stage(name="train", title="Model design and training", prompt_file="train.md", recipe=recipe)
