"""What a prep -> train -> convert lifecycle must leave in the notebook's namespace, asked of a live kernel.

Shared by the recipe chains (tests/test_recipes.py) and the demo notebook (tests/test_demo.py), which runs the
digits lifecycle once for both.
"""
from __future__ import annotations

import json

CONTRACT = """
import json, os
from ai_edge_litert.interpreter import Interpreter as _Interpreter
_details = _Interpreter(model_content=tflite_model)
print("RESULT", json.dumps({
    "x_dtype": str(x_train.dtype), "x_test_dtype": str(x_test.dtype),
    "y_dtype": str(y_train.dtype), "y_test_dtype": str(y_test.dtype),
    "num_classes": num_classes, "labels_span": [int(y_train.min()), int(y_train.max())],
    "input_shape": list(input_shape), "input_shape_is_tuple": isinstance(input_shape, tuple),
    "class_names": class_names, "data_kind": data_kind,
    "input_scale": globals().get("input_scale"),
    "feature_stats": [str(feature_mean.dtype), list(feature_mean.shape), str(feature_std.dtype)]
                     if "feature_mean" in globals() else None,
    "epochs": len(history.epoch), "float": float_accuracy, "int8": quantized_accuracy,
    "magic": tflite_model[4:8].decode(), "tflite_bytes": tflite_bytes,
    "input_dtype": _details.get_input_details()[0]["dtype"].__name__,
    "output_dtype": _details.get_output_details()[0]["dtype"].__name__,
}))
"""


def contract_result(stdout: str) -> dict:
    """The CONTRACT cell's printed values."""
    line = next(line for line in stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def assert_int8_contract(result: dict) -> None:
    assert (result["x_dtype"], result["x_test_dtype"]) == ("float32", "float32")
    assert (result["y_dtype"], result["y_test_dtype"]) == ("int64", "int64")
    assert result["labels_span"] == [0, result["num_classes"] - 1]
    assert len(result["class_names"]) == result["num_classes"] and result["input_shape_is_tuple"]
    assert result["magic"] == "TFL3" and (result["input_dtype"], result["output_dtype"]) == ("int8", "int8")
    assert abs(result["int8"] - result["float"]) <= 0.03, result
