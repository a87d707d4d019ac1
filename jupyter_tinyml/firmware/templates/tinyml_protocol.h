// tinyml_protocol.h — the jupyter-tinyml serial protocol, device side (PROTOCOL.md in jupyter_tinyml/firmware).
// Copied unchanged into every generated project. It knows nothing of TFLite Micro or Arduino: the sketch feeds it
// the characters it receives and gives it three hooks (the input tensor's bytes, one inference, text out).

#ifndef TINYML_PROTOCOL_H_
#define TINYML_PROTOCOL_H_

#include <stddef.h>
#include <stdint.h>

namespace tinyml {

enum class TensorType : uint8_t { kInt8, kUInt8, kInt16, kInt32, kFloat32 };

// What the protocol reports and needs about the model; the sketch fills it from model_settings.h.
struct ModelDescription {
  const char* name;               // model=<name>
  const char* board_id;           // board=<board id>
  size_t input_count;             // values in the input tensor
  size_t input_bytes;             // bytes an INFER line carries (two hex digits each); READY and INFO say in=<this>
  size_t output_count;
  size_t output_bytes;
  const char* input_scale_text;   // INFO prints the scales exactly as generated, without float formatting
  int32_t input_zero_point;
  const char* output_scale_text;
  int32_t output_zero_point;
  TensorType output_type;
  float output_scale;             // 0 when the output is not quantized
  bool output_is_probability;     // the model ends in SOFTMAX/LOGISTIC: CLASSIFY reports the output as it is
  const char* op_names;           // "CONV_2D,FULLY_CONNECTED,..."
  const char* const* labels;
  size_t label_count;
};

struct DeviceHooks {
  uint8_t* (*input)();                            // the input tensor's bytes
  const uint8_t* (*invoke)(uint32_t* elapsed_us);  // one inference: the output tensor's bytes, nullptr on failure
  void (*write)(const char* text);                 // text to the host, as it is
};

// Board support that counts processor cycles defines this (the virtual board counts emulated instructions); RESULT
// lines then report cycles=<n> per inference beside us=. On other boards it stays undefined: a weak reference is
// null, and RESULT lines carry us= alone.
extern "C" uint64_t tinyml_cycle_count() __attribute__((weak));

// The output value at `index` as a real number (dequantized with the output's scale and zero point).
float OutputValue(const ModelDescription& model, const uint8_t* output, size_t index);

// The index of the largest output and, in *score, its score 0..1: the output itself when the model ends in a
// softmax or logistic, else the softmax of the outputs (what CLASSIFY prints).
size_t TopClass(const ModelDescription& model, const uint8_t* output, float* score);

class Protocol {
 public:
  // `line` holds one request; PROTOCOL.md bounds a line by 2 * input bytes + 16 characters (+1 for the end).
  Protocol(const ModelDescription& model, const DeviceHooks& hooks, char* line, size_t capacity);

  // The interpreter is ready: prints the READY line and answers requests from now on.
  void Ready(size_t arena_used_bytes);
  // The model cannot run: prints "TINYML ERROR <message>" and answers every request with that line.
  // `message` must stay valid (a literal or a static buffer).
  void Fail(const char* message);
  // Prints the READY (or ERROR) line again, e.g. when a host opens the port after the board booted.
  void Announce();
  // One received character; a complete line is answered before Feed returns.
  void Feed(char c);

 private:
  void Handle();
  void Info();
  void Run(const char* hex, size_t length, bool classify);

  ModelDescription model_;
  DeviceHooks hooks_;
  char* line_;
  size_t capacity_;
  size_t length_ = 0;     // characters stored in line_
  size_t received_ = 0;   // characters received in this line, including those that did not fit
  bool overflow_ = false;
  bool ready_ = false;
  size_t arena_used_ = 0;
  const char* failure_ = nullptr;
};

}  // namespace tinyml

#endif  // TINYML_PROTOCOL_H_
