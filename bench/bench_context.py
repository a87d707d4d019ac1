"""How long context capture takes for a 2 GB namespace versus a 2 MB one of the same variables.

Run: .venv/bin/python bench/bench_context.py

The goal is a ratio near 1: capture samples arrays and frames instead of scanning them, so its cost follows the
number of variables, not their size. Arrays are filled with np.ones (real pages, not the lazily mapped zero pages
np.zeros gives) so the big run touches real memory. Building the 2 GB namespace takes a few seconds; only
capture + render is timed, as the minimum over repeats (the least disturbed run).
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from jupyter_tinyml.notebook.context import capture

REPEATS = 15
BIG_ROWS = 400_000  # X_train alone: 400k x 32 x 32 float32 = 1.6 GB
SMALL_ROWS = 400


def namespace_of(n_rows: int) -> dict:
    """A notebook after loading a dataset: images, labels, a table, a feature matrix and small settings."""
    return {
        "X_train": np.ones((n_rows, 32, 32), dtype=np.float32),
        "y_train": np.arange(n_rows, dtype=np.int64) % 10,
        "X_test": np.ones((n_rows // 4, 32, 32), dtype=np.float32),
        "y_test": np.arange(n_rows // 4, dtype=np.int64) % 10,
        "features": np.ones((n_rows, 32), dtype=np.float64),
        "df": pd.DataFrame(
            {
                "ax": np.ones(n_rows * 4, dtype=np.float32),
                "ay": np.ones(n_rows * 4, dtype=np.float32),
                "label": np.arange(n_rows * 4) % 5,
            }
        ),
        "class_names": [f"class_{i}" for i in range(10)],
        "config": {"epochs": 20, "batch_size": 64, "lr": 1e-3},
        "EPOCHS": 20,
        "DATA_DIR": "data/",
    }


def total_bytes(namespace: dict) -> int:
    arrays = sum(v.nbytes for v in namespace.values() if isinstance(v, np.ndarray))
    frames = sum(int(v.memory_usage(index=False).sum()) for v in namespace.values() if isinstance(v, pd.DataFrame))
    return arrays + frames


def fastest(namespace: dict) -> float:
    """Minimum seconds of capture(...).render() over REPEATS runs, after one warm-up run."""
    capture(namespace).render()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        capture(namespace, request="train a small CNN on X_train").render()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    small = namespace_of(SMALL_ROWS)
    start = time.perf_counter()
    big = namespace_of(BIG_ROWS)
    build = time.perf_counter() - start
    small_time, big_time = fastest(small), fastest(big)
    print(f"namespaces: {total_bytes(big) / 1e9:.2f} GB (built in {build:.1f} s) and {total_bytes(small) / 1e6:.2f} MB")
    print(
        f"context capture: 2 GB namespace {big_time * 1e3:.1f} ms vs 2 MB {small_time * 1e3:.1f} ms "
        f"-> ratio {big_time / small_time:.2f} (goal <= 2)"
    )


if __name__ == "__main__":
    main()
