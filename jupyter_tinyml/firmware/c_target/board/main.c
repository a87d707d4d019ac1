/* The jupyter-tinyml serial protocol (firmware/PROTOCOL.md) in portable C99 around the generated C model
 * (model_c.h: tinyml_invoke and the model's constants). Bytes come and go through board.h; nothing here needs
 * printf, whose float support small C libraries leave out. */
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "model_c.h"

#ifndef TINYML_BOARD_ID
#define TINYML_BOARD_ID "virtual-cortex-m4"
#endif
/* QEMU's -icount shift: one emulated instruction takes 2^shift ns of virtual time, so the virtual time an
 * inference took gives the instructions it executed. */
#ifndef TINYML_ICOUNT_SHIFT
#define TINYML_ICOUNT_SHIFT 0
#endif

/* Class names for CLASSIFY (tinyml_labels.c, written with the build; count 0 prints the index instead). */
extern const char *const tinyml_labels[];
extern const uint32_t tinyml_label_count;

/* One request line: the command word, a space and two hex digits per input byte (PROTOCOL.md). */
#define LINE_CAPACITY (2u * TINYML_INPUT_BYTES + 16u)

static char line[LINE_CAPACITY + 1u];
static uint32_t line_length;
static uint32_t line_received;
static int line_overflow;
static int8_t input[TINYML_INPUT_BYTES];
static int8_t output[TINYML_OUTPUT_BYTES];

/* -- output: answers are assembled in a small buffer and written in pieces */

static char out_buffer[64];
static uint32_t out_length;

static void out_flush(void)
{
    uart_write(out_buffer, out_length);
    out_length = 0;
}

static void out_char(char c)
{
    if (out_length == sizeof(out_buffer)) {
        out_flush();
    }
    out_buffer[out_length++] = c;
}

static void out_text(const char *text)
{
    while (*text != '\0') {
        out_char(*text++);
    }
}

static void out_span(const char *text, uint32_t length)
{
    uint32_t i;
    for (i = 0; i < length; i++) {
        out_char(text[i]);
    }
}

static void out_unsigned(uint64_t value)
{
    char digits[24];
    uint32_t count = 0;
    do {
        digits[count++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    while (count > 0u) {
        out_char(digits[--count]);
    }
}

static void out_signed(int32_t value)
{
    if (value < 0) {
        out_char('-');
        out_unsigned(0u - (uint64_t)(int64_t)value);
    } else {
        out_unsigned((uint64_t)value);
    }
}

static void out_hex(const int8_t *bytes, uint32_t count)
{
    static const char digits[] = "0123456789abcdef";
    uint32_t i;
    for (i = 0; i < count; i++) {
        uint8_t byte = (uint8_t)bytes[i];
        out_char(digits[byte >> 4]);
        out_char(digits[byte & 0x0Fu]);
    }
}

/* A float as d.dddddddde+XX: nine significant digits, enough for a float to read back unchanged. */
static void out_float(float number)
{
    double value = (double)number;
    int exponent = 0;
    uint64_t digits;
    uint64_t place;
    if (value != value) {
        out_text("nan");
        return;
    }
    if (value < 0.0) {
        out_char('-');
        value = -value;
    }
    if (value == 0.0) {
        out_char('0');
        return;
    }
    while (value >= 10.0) {
        value /= 10.0;
        exponent++;
    }
    while (value < 1.0) {
        value *= 10.0;
        exponent--;
    }
    digits = (uint64_t)(value * 1e8 + 0.5);
    if (digits >= 1000000000u) {
        digits /= 10u;
        exponent++;
    }
    out_char((char)('0' + (int)(digits / 100000000u)));
    out_char('.');
    for (place = 10000000u; place > 0u; place /= 10u) {
        out_char((char)('0' + (int)(digits / place % 10u)));
    }
    out_char('e');
    out_char(exponent < 0 ? '-' : '+');
    if (exponent < 0) {
        exponent = -exponent;
    }
    out_char((char)('0' + exponent / 10));
    out_char((char)('0' + exponent % 10));
}

/* A score 0..1 with four decimals ("0.9961"). */
static void out_score(float value)
{
    uint32_t scaled;
    uint32_t place;
    if (!(value > 0.0f)) {
        value = 0.0f; /* also NaN */
    }
    if (value > 1.0f) {
        value = 1.0f;
    }
    scaled = (uint32_t)(value * 10000.0f + 0.5f);
    out_unsigned(scaled / 10000u);
    out_char('.');
    for (place = 1000u; place > 0u; place /= 10u) {
        out_char((char)('0' + (int)(scaled % 10000u / place % 10u)));
    }
}

static void out_end(void)
{
    out_char('\n');
    out_flush();
}

/* -- the protocol */

static void announce_ready(void)
{
    out_text("TINYML READY v1 model=");
    out_text(tinyml_model_name);
    out_text(" in=");
    out_unsigned(TINYML_INPUT_BYTES);
    out_text(" out=");
    out_unsigned(TINYML_OUTPUT_BYTES);
    out_text(" arena=");
    out_unsigned(TINYML_ARENA_BYTES);
    out_text(" board=" TINYML_BOARD_ID);
    out_end();
}

static void answer_info(void)
{
    out_text("TINYML INFO model=");
    out_text(tinyml_model_name);
    out_text(" in=");
    out_unsigned(TINYML_INPUT_BYTES);
    out_text(" out=");
    out_unsigned(TINYML_OUTPUT_BYTES);
    out_text(" in_scale=");
    out_float(tinyml_input_scale);
    out_text(" in_zero=");
    out_signed(tinyml_input_zero_point);
    out_text(" out_scale=");
    out_float(tinyml_output_scale);
    out_text(" out_zero=");
    out_signed(tinyml_output_zero_point);
    out_text(" arena=");
    out_unsigned(TINYML_ARENA_BYTES);
    out_text(" ops=");
    out_text(tinyml_op_names);
    out_end();
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Commands are matched without regard to case: a person typing in a serial monitor may write "ping". */
static int is_command(const char *word, uint32_t length, const char *command)
{
    uint32_t i;
    for (i = 0; i < length; i++) {
        char c = word[i];
        if (c >= 'a' && c <= 'z') {
            c = (char)(c - 'a' + 'A');
        }
        if (command[i] == '\0' || c != command[i]) {
            return 0;
        }
    }
    return command[length] == '\0';
}

/* Whether the model's last operator already gives probabilities, by name in tinyml_op_names. */
static int ends_in_probabilities(void)
{
    const char *last = tinyml_op_names;
    const char *p;
    for (p = tinyml_op_names; *p != '\0'; p++) {
        if (*p == ',') {
            last = p + 1;
        }
    }
    return is_command(last, (uint32_t)(p - last), "SOFTMAX") || is_command(last, (uint32_t)(p - last), "LOGISTIC");
}

static float output_value(uint32_t index)
{
    return ((float)output[index] - (float)tinyml_output_zero_point) * tinyml_output_scale;
}

/* e^x for x <= 0, as (1 + x/1024)^1024 by ten squarings: relative error about x*x/2048 (under 0.5% for x >= -3;
   the smaller terms weigh less in the sum, so the top score is off by well under 1%). The model's kernels run in integers; this only shows a logit model's top score, and
   keeping libm's expf out keeps the whole image free of float exponentials. */
static float exp_nonpositive(float x)
{
    float y;
    int i;
    if (x < -80.0f) {
        return 0.0f;
    }
    y = 1.0f + x / 1024.0f;
    if (y <= 0.0f) {
        return 0.0f;
    }
    for (i = 0; i < 10; i++) {
        y *= y;
    }
    return y;
}

static uint32_t top_class(float *score)
{
    uint32_t best = 0;
    uint32_t i;
    for (i = 1; i < TINYML_OUTPUT_BYTES; i++) {
        if (output[i] > output[best]) {
            best = i;
        }
    }
    if (ends_in_probabilities()) {
        *score = output_value(best);
    } else {
        /* Softmax of the top output: 1 / sum(exp(v_i - v_top)), safe from overflow since every exponent is <= 0. */
        float sum = 0.0f;
        float top = output_value(best);
        for (i = 0; i < TINYML_OUTPUT_BYTES; i++) {
            sum += exp_nonpositive(output_value(i) - top);
        }
        *score = 1.0f / sum;
    }
    return best;
}

static void run(const char *hex, uint32_t length, int classify)
{
    uint32_t i;
    uint64_t start, ticks;
    if (length % 2u != 0u) {
        out_text("TINYML ERROR odd number of hex digits (");
        out_unsigned(length);
        out_text(")");
        out_end();
        return;
    }
    if (length / 2u != TINYML_INPUT_BYTES) {
        out_text("TINYML ERROR expected ");
        out_unsigned(TINYML_INPUT_BYTES);
        out_text(" bytes, got ");
        out_unsigned(length / 2u);
        out_end();
        return;
    }
    for (i = 0; i < TINYML_INPUT_BYTES; i++) {
        int high = hex_value(hex[2u * i]);
        int low = hex_value(hex[2u * i + 1u]);
        if (high < 0 || low < 0) {
            out_text("TINYML ERROR not a hex digit at position ");
            out_unsigned(2u * i + (high < 0 ? 0u : 1u));
            out_end();
            return;
        }
        input[i] = (int8_t)(uint8_t)((high << 4) | low);
    }
    start = board_ticks();
    if (tinyml_invoke(input, output) != 0) {
        out_text("TINYML ERROR Invoke failed");
        out_end();
        return;
    }
    ticks = board_ticks() - start;
    if (classify) {
        float score = 0.0f;
        uint32_t index = top_class(&score);
        out_text("TINYML CLASS ");
        out_unsigned(index);
        out_char(' ');
        if (index < tinyml_label_count) {
            out_text(tinyml_labels[index]);
        } else {
            out_unsigned(index);
        }
        out_char(' ');
        out_score(score);
        out_end();
    } else {
        out_text("TINYML RESULT ");
        out_hex(output, TINYML_OUTPUT_BYTES);
        out_text(" us=");
        out_unsigned(ticks / (BOARD_CPU_HZ / 1000000u));
        out_text(" cycles=");
        out_unsigned((ticks * (1000000000u / BOARD_CPU_HZ)) >> TINYML_ICOUNT_SHIFT);
        out_end();
    }
}

static void handle_line(void)
{
    uint32_t start = 0, end, argument, argument_end;
    const char *word;
    uint32_t word_length;
    while (start < line_length && line[start] == ' ') {
        start++;
    }
    if (start == line_length) {
        return; /* an empty line (Enter in a serial monitor): nothing to answer */
    }
    end = start;
    while (end < line_length && line[end] != ' ') {
        end++;
    }
    word = line + start;
    word_length = end - start;
    argument = end;
    while (argument < line_length && line[argument] == ' ') {
        argument++;
    }
    argument_end = line_length;
    while (argument_end > argument && line[argument_end - 1u] == ' ') {
        argument_end--;
    }

    if (is_command(word, word_length, "PING")) {
        out_text("TINYML PONG");
        out_end();
    } else if (is_command(word, word_length, "INFO")) {
        answer_info();
    } else if (is_command(word, word_length, "INFER") || is_command(word, word_length, "CLASSIFY")) {
        if (line_overflow) {
            /* The line did not fit, so it holds more bytes than the input: say how many, as for any length. */
            out_text("TINYML ERROR expected ");
            out_unsigned(TINYML_INPUT_BYTES);
            out_text(" bytes, got ");
            out_unsigned((line_received - argument) / 2u);
            out_end();
        } else {
            run(line + argument, argument_end - argument, is_command(word, word_length, "CLASSIFY"));
        }
    } else {
        out_text("TINYML ERROR unknown command ");
        out_span(word, word_length);
        out_end();
    }
}

int main(void)
{
    announce_ready();
    for (;;) {
        char c = (char)uart_read_byte();
        if (c == '\r') {
            continue;
        }
        if (c != '\n') {
            if (line_length < LINE_CAPACITY) {
                line[line_length++] = c;
            } else {
                line_overflow = 1;
            }
            line_received++;
            continue;
        }
        line[line_length] = '\0';
        handle_line();
        line_length = 0;
        line_received = 0;
        line_overflow = 0;
    }
}
