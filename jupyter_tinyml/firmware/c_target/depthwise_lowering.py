"""DEPTHWISE_CONV_2D and the pooling ops lowered to C: kernels/tinyml_depthwise.c."""
from __future__ import annotations

from . import fixed_point
from .conv_lowering import emit_convolution
from .op_context import Lowerer, OpContext, check_int8, conv_geometry, hwc


def lower_depthwise(op: OpContext) -> None:
    emit_convolution(op, conv_geometry(op, depthwise=True), "tinyml_depthwise_conv_2d")


def _pool(kernel: str, name: str) -> Lowerer:
    def lower_pool(op: OpContext) -> None:
        data, out = op.tensor(0), op.output
        check_int8(name, data, out)
        in_h, in_w, c = hwc(data.shape, f"{name} input")
        out_h, out_w, _ = hwc(out.shape, f"{name} output")
        filter_h, filter_w = int(op.option("filterHeight")), int(op.option("filterWidth"))
        stride_h, stride_w = int(op.option("strideH")), int(op.option("strideW"))
        act_min, act_max = fixed_point.activation_range(int(op.option("fusedActivationFunction")), out.scale,
                                                        out.zero_point)
        op.emit.params("tinyml_pool_params", f"{op.prefix}_params", {
            "in_h": in_h, "in_w": in_w, "c": c, "out_h": out_h, "out_w": out_w,
            "filter_h": filter_h, "filter_w": filter_w, "stride_h": stride_h, "stride_w": stride_w,
            "pad_h": fixed_point.compute_padding(stride_h, in_h, filter_h, out_h),
            "pad_w": fixed_point.compute_padding(stride_w, in_w, filter_w, out_w),
            "act_min": act_min, "act_max": act_max})
        op.emit.calls.append(f"  {kernel}(&{op.prefix}_params, {op.input_pointers[0]}, {op.output_pointer});")
    return lower_pool


LOWERERS: dict[str, Lowerer] = {
    "AVERAGE_POOL_2D": _pool("tinyml_average_pool_2d", "AVERAGE_POOL_2D"),
    "DEPTHWISE_CONV_2D": lower_depthwise,
    "MAX_POOL_2D": _pool("tinyml_max_pool_2d", "MAX_POOL_2D"),
}
