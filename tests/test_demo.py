"""`make demo`'s notebook, executed headless in a real kernel: offline prep -> train -> convert -> deploy through
the magics, ending with the on-device check on the virtual board.

It is also the digits image lifecycle's test: the namespace it leaves is checked against the same contract as the
recipe chains in test_recipes.py, so the lifecycle is trained once, not twice.
"""
from __future__ import annotations

from lifecycle_contract import assert_int8_contract
from test_notebooks import assert_checked_on_the_virtual_board, assert_generated_code_kept, execute


def test_demo_notebook_runs_offline_end_to_end(tmp_path, capsys, monkeypatch):
    summary, result, executed = execute("01_digits_lifecycle.ipynb", tmp_path, capsys, monkeypatch)
    assert_checked_on_the_virtual_board(summary, tmp_path)
    assert_generated_code_kept(executed)
    assert summary["float_accuracy"] >= 0.9
    assert abs(summary["float_accuracy"] - summary["quantized_accuracy"]) <= 0.01  # int8 within 1 point
    assert summary["agreement"] >= 0.97
    assert {"CONV_2D", "FULLY_CONNECTED", "SOFTMAX"} <= set(summary["ops"])
    assert 1_000 < summary["arena_bytes"] < 100_000
    assert summary["worst_layer"]["rmse_over_scale"] > 0
    # the virtual board runs the model exactly as the host int8 interpreter does
    assert summary["on_device_agreement"] == 1.0 and summary["on_device_max_diff_steps"] == 0

    # The digits image lifecycle leaves what the next stage and the firmware need (the recipe chains' contract).
    assert_int8_contract(result)
    assert result["data_kind"] == "image" and result["input_shape"] == [8, 8, 1] and result["input_scale"] == 16.0
    assert result["feature_stats"] is None
    assert result["float"] >= 0.95
    assert (tmp_path / "model.tflite").stat().st_size == result["tflite_bytes"]
