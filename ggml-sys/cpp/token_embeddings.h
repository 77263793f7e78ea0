// The decoder's token embeddings, read a row at a time from the file.
//
// A step adds one row of each codebook's table to its input. Read through the mapping, the rows
// a track touches (and the 64 KB the kernel maps around each) stayed resident: 4.7 MB of
// musicgen-small Q4_K_M by the end of a 30 s track, for 2.3 kB a step. pread copies them from the
// page cache instead, which the process does not hold; handing the pages back every step cost a
// fault and a madvise each (~2.7 % slower steps, measured).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "musicgen_model.h"

namespace lofi {

// x += each codebook's embedding of its code (codes: one per codebook), in codebook order, as
// GGML's get_rows would give them in F32. False, with why in `error`, when a code is outside its
// table or the file cannot be read.
bool add_token_embeddings(const MusicgenModel &m, const int32_t *codes, std::vector<float> &x, std::string &error);

} // namespace lofi
