/* tinyml_kernels.h — int8 kernels of jupyter-tinyml's portable C target (TFLite's reference semantics, NHWC,
 * batch 1). Every parameter that TFLite computes in Prepare (multipliers, shifts, padding, activation bounds) is
 * computed on the host by the generator and passed in; nothing here allocates memory. The generated model_c.c
 * includes this one header; each kernel family has its own header and source. */
#ifndef TINYML_KERNELS_H_
#define TINYML_KERNELS_H_

#include "tinyml_conv.h"
#include "tinyml_depthwise.h"
#include "tinyml_ops.h"

#endif /* TINYML_KERNELS_H_ */
