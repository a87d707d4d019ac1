// tinyml_protocol.cpp — the jupyter-tinyml serial protocol, device side. See tinyml_protocol.h.

#include "tinyml_protocol.h"

#include <math.h>
#include <string.h>

namespace tinyml {
namespace {

// Answers are assembled in a small buffer and written in pieces: one write per character is slow on a UART, and
// nothing here needs printf (whose float support many Arduino cores leave out).
class Writer {
 public:
  explicit Writer(void (*write)(const char*)) : write_(write) {}
  ~Writer() { Flush(); }

  Writer& Char(char c) {
    if (length_ == sizeof(buffer_) - 1) Flush();
    buffer_[length_++] = c;
    return *this;
  }
  Writer& Text(const char* text) {
    while (*text != '\0') Char(*text++);
    return *this;
  }
  Writer& Text(const char* text, size_t length) {
    for (size_t i = 0; i < length; ++i) Char(text[i]);
    return *this;
  }
  Writer& Unsigned(unsigned long long value) {
    char digits[24];
    size_t count = 0;
    do {
      digits[count++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (count > 0) Char(digits[--count]);
    return *this;
  }
  Writer& Signed(long value) {
    if (value < 0) {
      Char('-');
      return Unsigned(0ULL - static_cast<unsigned long long>(value));
    }
    return Unsigned(static_cast<unsigned long long>(value));
  }
  Writer& Hex(const uint8_t* bytes, size_t count) {
    static const char kDigits[] = "0123456789abcdef";
    for (size_t i = 0; i < count; ++i) {
      Char(kDigits[bytes[i] >> 4]);
      Char(kDigits[bytes[i] & 0x0f]);
    }
    return *this;
  }
  // A score 0..1 with four decimals ("0.9961").
  Writer& Score(float value) {
    if (!(value > 0.0f)) value = 0.0f;  // also NaN
    if (value > 1.0f) value = 1.0f;
    const unsigned long scaled = static_cast<unsigned long>(value * 10000.0f + 0.5f);
    Unsigned(scaled / 10000);
    Char('.');
    for (unsigned long place = 1000; place > 0; place /= 10) {
      Char(static_cast<char>('0' + scaled % 10000 / place % 10));
    }
    return *this;
  }
  void End() {
    Char('\n');
    Flush();
  }

 private:
  void Flush() {
    if (length_ == 0) return;
    buffer_[length_] = '\0';
    write_(buffer_);
    length_ = 0;
  }

  void (*write_)(const char*);
  char buffer_[64];
  size_t length_ = 0;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Commands are matched without regard to case: a person typing in a serial monitor may write "ping".
bool IsCommand(const char* word, size_t length, const char* command) {
  for (size_t i = 0; i < length; ++i) {
    char c = word[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (command[i] == '\0' || c != command[i]) return false;
  }
  return command[length] == '\0';
}

float Dequantize(float value, const ModelDescription& model) {
  // A tensor that is not quantized has scale 0: its values are the numbers themselves.
  if (model.output_scale == 0.0f) return value;
  return (value - static_cast<float>(model.output_zero_point)) * model.output_scale;
}

}  // namespace

float OutputValue(const ModelDescription& model, const uint8_t* output, size_t index) {
  switch (model.output_type) {
    case TensorType::kInt8:
      return Dequantize(static_cast<float>(static_cast<int8_t>(output[index])), model);
    case TensorType::kUInt8:
      return Dequantize(static_cast<float>(output[index]), model);
    case TensorType::kInt16: {
      int16_t value;
      memcpy(&value, output + index * sizeof(value), sizeof(value));
      return Dequantize(static_cast<float>(value), model);
    }
    case TensorType::kInt32: {
      int32_t value;
      memcpy(&value, output + index * sizeof(value), sizeof(value));
      return Dequantize(static_cast<float>(value), model);
    }
    case TensorType::kFloat32: {
      float value;
      memcpy(&value, output + index * sizeof(value), sizeof(value));
      return value;
    }
  }
  return 0.0f;
}

size_t TopClass(const ModelDescription& model, const uint8_t* output, float* score) {
  size_t best = 0;
  float best_value = OutputValue(model, output, 0);
  for (size_t i = 1; i < model.output_count; ++i) {
    const float value = OutputValue(model, output, i);
    if (value > best_value) {
      best = i;
      best_value = value;
    }
  }
  if (model.output_is_probability) {
    *score = best_value;
  } else {
    // Softmax of the top output: 1 / sum(exp(v_i - v_top)), safe from overflow since every exponent is <= 0.
    float sum = 0.0f;
    for (size_t i = 0; i < model.output_count; ++i) sum += expf(OutputValue(model, output, i) - best_value);
    *score = 1.0f / sum;
  }
  return best;
}

Protocol::Protocol(const ModelDescription& model, const DeviceHooks& hooks, char* line, size_t capacity)
    : model_(model), hooks_(hooks), line_(line), capacity_(capacity) {}

void Protocol::Ready(size_t arena_used_bytes) {
  ready_ = true;
  failure_ = nullptr;
  arena_used_ = arena_used_bytes;
  Announce();
}

void Protocol::Fail(const char* message) {
  failure_ = message;
  ready_ = false;
  Announce();
}

void Protocol::Announce() {
  Writer out(hooks_.write);
  if (failure_ != nullptr) {
    out.Text("TINYML ERROR ").Text(failure_).End();
  } else if (ready_) {
    // in= and out= count the bytes an INFER line carries and a RESULT line returns (the values, for int8 models):
    // what the host needs to frame them, whatever the tensor types.
    out.Text("TINYML READY v1 model=").Text(model_.name);
    out.Text(" in=").Unsigned(model_.input_bytes).Text(" out=").Unsigned(model_.output_bytes);
    out.Text(" arena=").Unsigned(arena_used_).Text(" board=").Text(model_.board_id).End();
  }
}

void Protocol::Feed(char c) {
  if (c == '\r') return;
  if (c != '\n') {
    if (length_ + 1 < capacity_) {
      line_[length_++] = c;
    } else {
      overflow_ = true;
    }
    ++received_;
    return;
  }
  line_[length_] = '\0';
  Handle();
  length_ = 0;
  received_ = 0;
  overflow_ = false;
}

void Protocol::Handle() {
  size_t start = 0;
  while (start < length_ && line_[start] == ' ') ++start;
  if (start == length_) return;  // an empty line (Enter in a serial monitor): nothing to answer
  size_t end = start;
  while (end < length_ && line_[end] != ' ') ++end;
  const char* word = line_ + start;
  const size_t word_length = end - start;
  size_t argument = end;
  while (argument < length_ && line_[argument] == ' ') ++argument;
  size_t argument_end = length_;
  while (argument_end > argument && line_[argument_end - 1] == ' ') --argument_end;

  Writer out(hooks_.write);
  if (failure_ != nullptr || !ready_) {
    out.Text("TINYML ERROR ").Text(failure_ != nullptr ? failure_ : "model not ready").End();
  } else if (IsCommand(word, word_length, "PING")) {
    out.Text("TINYML PONG").End();
  } else if (IsCommand(word, word_length, "INFO")) {
    Info();
  } else if (IsCommand(word, word_length, "INFER") || IsCommand(word, word_length, "CLASSIFY")) {
    const bool classify = IsCommand(word, word_length, "CLASSIFY");
    if (overflow_) {
      // The line did not fit, so it holds more bytes than the input: say how many, as for any wrong length.
      out.Text("TINYML ERROR expected ").Unsigned(model_.input_bytes).Text(" bytes, got ");
      out.Unsigned((received_ - argument) / 2).End();
    } else {
      Run(line_ + argument, argument_end - argument, classify);
    }
  } else {
    out.Text("TINYML ERROR unknown command ").Text(word, word_length).End();
  }
}

void Protocol::Info() {
  Writer out(hooks_.write);
  out.Text("TINYML INFO model=").Text(model_.name);
  out.Text(" in=").Unsigned(model_.input_bytes).Text(" out=").Unsigned(model_.output_bytes);  // bytes, as READY
  out.Text(" in_scale=").Text(model_.input_scale_text).Text(" in_zero=").Signed(model_.input_zero_point);
  out.Text(" out_scale=").Text(model_.output_scale_text).Text(" out_zero=").Signed(model_.output_zero_point);
  out.Text(" arena=").Unsigned(arena_used_).Text(" ops=").Text(model_.op_names).End();
}

void Protocol::Run(const char* hex, size_t length, bool classify) {
  Writer out(hooks_.write);
  if (length % 2 != 0) {
    out.Text("TINYML ERROR odd number of hex digits (").Unsigned(length).Text(")").End();
    return;
  }
  if (length / 2 != model_.input_bytes) {
    out.Text("TINYML ERROR expected ").Unsigned(model_.input_bytes).Text(" bytes, got ").Unsigned(length / 2).End();
    return;
  }
  uint8_t* input = hooks_.input();
  for (size_t i = 0; i < model_.input_bytes; ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) {
      out.Text("TINYML ERROR not a hex digit at position ").Unsigned(2 * i + (high < 0 ? 0 : 1)).End();
      return;
    }
    input[i] = static_cast<uint8_t>(high << 4 | low);
  }
  uint32_t elapsed_us = 0;
  const bool counting = tinyml_cycle_count != nullptr;
  const uint64_t start_cycles = counting ? tinyml_cycle_count() : 0;
  const uint8_t* output = hooks_.invoke(&elapsed_us);
  const uint64_t cycles = counting ? tinyml_cycle_count() - start_cycles : 0;
  if (output == nullptr) {
    out.Text("TINYML ERROR Invoke failed").End();
    return;
  }
  if (classify) {
    float score = 0.0f;
    const size_t index = TopClass(model_, output, &score);
    out.Text("TINYML CLASS ").Unsigned(index).Char(' ');
    if (index < model_.label_count) {
      out.Text(model_.labels[index]);
    } else {
      out.Unsigned(index);
    }
    out.Char(' ').Score(score).End();
  } else {
    out.Text("TINYML RESULT ").Hex(output, model_.output_bytes).Text(" us=").Unsigned(elapsed_us);
    if (counting) out.Text(" cycles=").Unsigned(cycles);
    out.End();
  }
}

}  // namespace tinyml
