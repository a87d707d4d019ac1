// tinyml_model.cpp — the model on the board: TFLite Micro interpreter, tensor arena, serial protocol.
// Part of the fixed skeleton that jupyter-tinyml writes; every number comes from model_settings.h.

#include "tinyml_model.h"

#include <Arduino.h>
#include <${library_header}>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "op_resolver.h"
#include "tinyml_protocol.h"

// Older TFLite Micro snapshots define this in tensorflow/lite/version.h, newer ones in no public header; the
// flatbuffer schema has been version 3 since 2018.
#ifndef TFLITE_SCHEMA_VERSION
#define TFLITE_SCHEMA_VERSION 3
#endif

namespace {

// TFLite Micro places every tensor in this arena. Its allocator aligns to 16 bytes; an aligned arena loses none
// of the measured size to alignment.
alignas(16) uint8_t tensor_arena[kTensorArenaSize];
tflite::MicroInterpreter* interpreter = nullptr;

// One request line: two hex digits per input byte and the command word.
char line_buffer[kLineCapacity];
char failure_message[112];
bool host_connected = false;

const tinyml::ModelDescription kModel = {
    kModelName,      kBoardId,
    kInputCount,     kInputBytes,     kOutputCount,     kOutputBytes,
    kInputScaleText, kInputZeroPoint, kOutputScaleText, kOutputZeroPoint,
    kOutputType,     kOutputScale,    kOutputIsProbability,
    kOpNames,        kLabels,         kLabelCount};

uint8_t* InputBytes() { return reinterpret_cast<uint8_t*>(interpreter->input(0)->data.raw); }

const uint8_t* OutputBytes() { return reinterpret_cast<const uint8_t*>(interpreter->output(0)->data.raw); }

// One inference; the time covers Invoke() only.
const uint8_t* InvokeModel(uint32_t* elapsed_us) {
  const unsigned long start = micros();
  const TfLiteStatus status = interpreter->Invoke();
  *elapsed_us = static_cast<uint32_t>(micros() - start);
  return status == kTfLiteOk ? OutputBytes() : nullptr;
}

void WriteText(const char* text) { Serial.print(text); }

tinyml::Protocol protocol(kModel, tinyml::DeviceHooks{InputBytes, InvokeModel, WriteText}, line_buffer,
                          sizeof(line_buffer));

void StartModel() {
  const tflite::Model* model = tflite::GetModel(g_model);
  if (model->version() != TFLITE_SCHEMA_VERSION) {
    snprintf(failure_message, sizeof(failure_message), "model schema version %lu, this TFLite Micro reads %lu",
             static_cast<unsigned long>(model->version()), static_cast<unsigned long>(TFLITE_SCHEMA_VERSION));
    protocol.Fail(failure_message);
    return;
  }
  static TinymlOpResolver resolver;
  if (RegisterOps(resolver) != kTfLiteOk) {
    protocol.Fail("an op of the model could not be registered with this TFLite Micro library");
    return;
  }
  static tflite::MicroInterpreter static_interpreter(model, resolver, tensor_arena, kTensorArenaSize);
  if (static_interpreter.AllocateTensors() != kTfLiteOk) {
    snprintf(failure_message, sizeof(failure_message),
             "AllocateTensors failed: arena %lu too small, or an op is missing (see the lines above)",
             static_cast<unsigned long>(kTensorArenaSize));
    protocol.Fail(failure_message);
    return;
  }
  if (static_interpreter.input(0)->bytes != kInputBytes || static_interpreter.output(0)->bytes != kOutputBytes) {
    protocol.Fail("model_settings.h does not match the model: write the project again");
    return;
  }
  interpreter = &static_interpreter;
  protocol.Ready(interpreter->arena_used_bytes());
}

}  // namespace

void TinymlBegin() {
  Serial.begin(kSerialBaud);
  // Boards with native USB drop what is printed before the host opens the port: wait a little for it, but not
  // forever (a board on a battery has no host).
  for (const unsigned long start = millis(); !Serial && millis() - start < kSerialWaitMs;) delay(10);
  StartModel();
  host_connected = static_cast<bool>(Serial);
}

void TinymlServe() {
  // A host that opens the port after boot gets the READY (or ERROR) line again.
  const bool connected = static_cast<bool>(Serial);
  if (connected && !host_connected) protocol.Announce();
  host_connected = connected;
  while (Serial.available() > 0) protocol.Feed(static_cast<char>(Serial.read()));
}

bool ModelReady() { return interpreter != nullptr; }

int8_t* ModelInput() {
  // Only an int8 input is an array of int8: writing int8 values into a float32 input would give it garbage.
  return ModelReady() && kInputType == tinyml::TensorType::kInt8 ? reinterpret_cast<int8_t*>(InputBytes()) : nullptr;
}

namespace {

// A real value quantized with the input's scale and zero point, clamped to [low, high] (the integer type's range)
// before rounding, so a value far out of range cannot overflow lroundf.
long QuantizedInput(float value, float low, float high) {
  float steps = kInputScale == 0.0f ? value : value / kInputScale;
  const float zero = static_cast<float>(kInputZeroPoint);
  steps = steps < low - zero ? low - zero : steps > high - zero ? high - zero : steps;
  return lroundf(steps) + kInputZeroPoint;
}

template <typename T>
void StoreInput(size_t index, T value) {
  memcpy(InputBytes() + index * sizeof(T), &value, sizeof(T));
}

}  // namespace

bool SetInput(size_t index, float value) {
  if (!ModelReady() || index >= kInputCount) return false;
  if (kInputType == tinyml::TensorType::kFloat32) {
    StoreInput<float>(index, value);  // the model's own QUANTIZE op (if any) quantizes it
    return true;
  }
  if (isnan(value)) return false;  // no integer stands for "not a number"
  switch (kInputType) {
    case tinyml::TensorType::kInt8:
      StoreInput<int8_t>(index, static_cast<int8_t>(QuantizedInput(value, -128.0f, 127.0f)));
      return true;
    case tinyml::TensorType::kUInt8:
      StoreInput<uint8_t>(index, static_cast<uint8_t>(QuantizedInput(value, 0.0f, 255.0f)));
      return true;
    case tinyml::TensorType::kInt16:
      StoreInput<int16_t>(index, static_cast<int16_t>(QuantizedInput(value, -32768.0f, 32767.0f)));
      return true;
    case tinyml::TensorType::kInt32:
      // float cannot hold INT32_MAX exactly: the bounds stay inside what both types represent.
      StoreInput<int32_t>(index, static_cast<int32_t>(QuantizedInput(value, -2147483520.0f, 2147483520.0f)));
      return true;
    case tinyml::TensorType::kFloat32:
      break;
  }
  return false;
}

int8_t QuantizeInput(float value) {
  const long quantized = kInputScale == 0.0f ? lroundf(value) : lroundf(value / kInputScale) + kInputZeroPoint;
  return static_cast<int8_t>(quantized < -128 ? -128 : quantized > 127 ? 127 : quantized);
}

bool RunModel(uint32_t* elapsed_us) {
  if (!ModelReady()) return false;
  return InvokeModel(elapsed_us) != nullptr;
}

bool RunModel() {
  uint32_t elapsed_us = 0;
  return RunModel(&elapsed_us);
}

size_t TopClass(float* score) {
  if (!ModelReady()) {
    *score = 0.0f;
    return 0;
  }
  return tinyml::TopClass(kModel, OutputBytes(), score);
}

float DequantizeOutput(size_t index) {
  return ModelReady() && index < kOutputCount ? tinyml::OutputValue(kModel, OutputBytes(), index) : 0.0f;
}

const char* LabelOf(size_t index) { return index < kLabelCount ? kLabels[index] : "?"; }
