// tinyml_model.h — the model on the board and the serial protocol, for the sketch and its application glue.
// Part of the fixed skeleton that jupyter-tinyml writes; tinyml_model.cpp holds the code.

#ifndef TINYML_MODEL_H_
#define TINYML_MODEL_H_

#include <stddef.h>
#include <stdint.h>

#include "model_settings.h"

// The sketch calls these two.
void TinymlBegin();  // opens the serial port, builds the interpreter, prints the READY (or ERROR) line
void TinymlServe();  // answers the requests that have arrived (PING, INFO, INFER, CLASSIFY); never blocks

// For the application glue. SetInput and DequantizeOutput take and give real values whatever the tensor types
// (int8 or float32, kInputIsFloat / kOutputIsFloat in model_settings.h), so glue written with them fits any model.
bool ModelReady();                          // false when the model could not start (the serial ERROR line says why)
bool SetInput(size_t index, float value);   // input `index` (0..kInputCount-1) = a real value: quantized for an
                                            // integer input, as it is for float32; false if not ready/out of range
int8_t* ModelInput();                       // the int8 input tensor (kInputCount values); nullptr if not ready or
                                            // the input is not int8 (a float32 input: use SetInput)
int8_t QuantizeInput(float value);          // a real input value as the int8 the model expects (int8 input only)
bool RunModel();                            // one inference on the input that SetInput (or ModelInput()) filled
bool RunModel(uint32_t* elapsed_us);        // the same, and the time Invoke() took
size_t TopClass(float* score);              // after RunModel(): the most likely class and its score 0..1
float DequantizeOutput(size_t index);       // after RunModel(): output `index` as a real number (int8 or float32)
const char* LabelOf(size_t index);          // the class's label

#endif  // TINYML_MODEL_H_
