"""Small real Keras models trained for the tests, each in about a second; conftest.py shares the digits CNN
across test files so it is trained once per test process."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Trained:
    """A fitted model with its split."""

    model: Any
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray


def fit(layers: list, x: np.ndarray, y: np.ndarray, loss: str, epochs: int, test_size: float | int = 0.2) -> Trained:
    import keras
    from sklearn.model_selection import train_test_split

    keras.utils.set_random_seed(0)
    stratify = y if loss.startswith("sparse") else None
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=0, stratify=stratify)
    model = keras.Sequential([keras.Input(x.shape[1:]), *layers])
    # A high learning rate and many steps per call into TensorFlow: each model trains in about a second.
    model.compile(keras.optimizers.Adam(0.01), loss, steps_per_execution=64)
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return Trained(model, x_train, x_test, y_train, y_test)


def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as float32 images in [0, 1] with a channel axis, and their labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0).astype(np.float32)[..., np.newaxis], data.target


def digits_cnn() -> Trained:
    """conv 3x3x8 -> max pool -> dense 32 -> dense 10 softmax on the digits, 360 held out."""
    import keras

    x, y = digits_images()
    layers = [
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ]
    return fit(layers, x, y, "sparse_categorical_crossentropy", epochs=8, test_size=360)
