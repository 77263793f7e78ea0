// One step of an LSTM layer as one GGML node: the gates' nonlinearities, the cell's update and
// the output written into the layer's run, where GGML's ops took ~15 nodes a step and a tree of
// concatenations to gather the outputs (on two threads a node costs ~1.5 us of barriers, and
// EnCodec's frame stage takes 2 x 50 steps per second of audio).
#pragma once

#include <cstdint>

#include "ggml.h"

namespace lofi {

// A layer's run over `steps` steps is an F32 tensor [channels, steps + 2]: column 0 the output
// before the first step, columns 1..steps the outputs, the last column the cell (the cell before
// the first step until the first step runs).

// Step t of a layer: gates = input_gates (W_ih x_t + both biases, [4 channels]) + recurrent
// (W_hh times column t of `run`, [4 channels]) in PyTorch's order (input, forget, candidate,
// output); writes the cell and column t + 1 of `run`, which the result views.
ggml_tensor *lstm_step(ggml_context *ctx, ggml_tensor *run, ggml_tensor *input_gates, ggml_tensor *recurrent, int64_t t);

} // namespace lofi
