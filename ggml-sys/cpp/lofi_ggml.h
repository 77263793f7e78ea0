/* lofi.nvim's C API over GGML: the only header bindgen sees.
 * Every function that can fail takes (err, err_len) and writes a one-line reason there. */
#ifndef LOFI_GGML_H
#define LOFI_GGML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GGML tensor types (values of enum ggml_type) ---- */
const char *lofi_ggml_type_name(int type); /* NULL for an unknown type */
int64_t lofi_ggml_block_size(int type);
size_t lofi_ggml_row_size(int type, int64_t n_per_row);
bool lofi_ggml_type_is_quantized(int type);
/* Quantizes nrows rows of n_per_row floats with GGML's own functions; returns bytes written. */
size_t lofi_ggml_quantize(int type, const float *src, void *dst, int64_t nrows, int64_t n_per_row);
/* Converts n values of any type GGML can convert (F32, F16, quantized) to f32. */
bool lofi_ggml_to_f32(int type, const void *src, float *dst, int64_t n);

/* ---- The build ---- */
const char *lofi_ggml_version(void);
/* Which level of our CPU kernels (K-quant products in strips, attention, ELU, GELU) this CPU
   runs: "avx512-vnni" (the products and attention; the others AVX2), "avx-vnni" (the products and
   attention on 256-bit VNNI; the others AVX2), "avx2" or "portable" (chosen at run time, LOFI_CPU_KERNELS caps it). */
const char *lofi_cpu_kernels(void);
/* Whether this CPU runs the kernels of the level of that name (false for an unknown name). */
bool lofi_cpu_runs_kernels(const char *name);

/* The memory read bandwidth (bytes per second) `threads` threads reach streaming 1 GiB on 2 MB
   pages with this CPU's widest loads: the machine's figure beside the floor a decoder step's
   bytes are set against (lofi_weights_probe_bandwidth, read beside the steps). */
double lofi_read_bandwidth(int threads);

/* y = ELU(x) over n values by EnCodec's CPU kernel (the version lofi_cpu_kernels names). */
void lofi_cpu_elu(const float *x, float *y, int64_t n);
/* y = GELU(x) (the erf form) by the decoder's CPU kernel, the level lofi_cpu_kernels names. */
void lofi_cpu_gelu(const float *x, float *y, int64_t n);
/* The CPU features ggml-cpu was compiled for, space separated ("AVX2 FMA F16C ..."). */
void lofi_ggml_cpu_features(char *buf, size_t len);
/* Which ggml-cpu computes: "zen4, chosen at run time among x64 haswell zen4" where the build
 * has CPU variants, "built in, for this machine's instruction set" otherwise; or "none: " and
 * why none loads. */
void lofi_ggml_cpu_variant(char *buf, size_t len);
/* The accelerators model.device can pick on this machine with this build, "; " separated
 * ("vulkan: NVIDIA GeForce RTX 3060"), or "none". Starts each compiled GPU backend. */
void lofi_ggml_accelerators(char *buf, size_t len);
/* c[j*m + i] = dot(row i of a, row j of b) on GGML's CPU backend: a is m x k of type_a
 * (raw bytes as lofi_ggml_quantize writes them), b is n x k f32. Checks the build end to end. */
bool lofi_ggml_mul_mat(int type_a, const void *a, const float *b, int64_t m, int64_t n, int64_t k, float *c,
                       int threads, char *err, size_t err_len);
/* A Q4_K, Q5_K, Q6_K or Q8_0 weight of `rows` rows, as lofi_ggml_quantize writes it. */
typedef struct lofi_strip_weight {
    int type;
    const void *data;
    int64_t rows;
} lofi_strip_weight;
/* What b's rows go through before lofi_strip_mul_mat's products, as the decoder computes it: all
 * zero, nothing; with norm_w and norm_b (k floats each) their layer norm, (b - mean) /
 * sqrt(variance + norm_epsilon) * norm_w + norm_b, and with gelu GELU(b), either in the node that
 * quantizes them; with up.data (a feed-forward block's up weight: k rows, a multiple of 256, of
 * up_inputs values; b's rows then hold up_inputs values) GELU of their product with up, in that
 * product's node. */
typedef struct lofi_strip_input {
    const float *norm_w, *norm_b;
    float norm_epsilon;
    bool gelu;
    lofi_strip_weight up;
    int64_t up_inputs;
} lofi_strip_input;
/* The same product for Q4_K, Q5_K, Q6_K or Q8_0 weights (rows a multiple of 16, k a multiple of 256) through
 * the decoder's strip layout and kernels, after `input`: with `count` (1 to 9) weights, all of
 * them in one node as the decoder computes a layer's Q, K and V, c holding each product (rows x
 * n, as lofi_ggml_mul_mat's c) after the previous one's. `kernels` names a level ("portable",
 * "avx2", "avx512-vnni"; NULL: this CPU's best), refused where this CPU does not run it. */
bool lofi_strip_mul_mat(const lofi_strip_weight *weights, int count, const float *b, int64_t n, int64_t k, const char *kernels,
                        const lofi_strip_input *input, float *c, int threads, char *err, size_t err_len);
/* EnCodec's convolution output from its taps' products by the CPU node the decoder uses:
 * y[t * out + o] = bias[o] + sum over k of taps[s * out * kernel + k * out + o], s the input step
 * at position t + k * dilation of the input padded by left and right as transformers'
 * EncodecConv1d._pad1d pads it. taps: length steps of out * kernel floats; y: length * out. */
bool lofi_conv_tap_sum(const float *taps, const float *bias, int64_t out, int64_t length, int64_t kernel, int64_t dilation,
                       int64_t left, int64_t right, float *y, char *err, size_t err_len);

/* ---- GGUF files ---- */
typedef struct lofi_gguf lofi_gguf;

typedef struct lofi_tensor_info {
    const char *name; /* owned by the lofi_gguf */
    int type;
    int n_dims;
    int64_t ne[4];
    uint64_t offset; /* from the start of the file */
    uint64_t nbytes;
} lofi_tensor_info;

/* Opens a GGUF's metadata after checking that every tensor's data lies inside the file. */
lofi_gguf *lofi_gguf_open(const char *path, char *err, size_t err_len);
void lofi_gguf_close(lofi_gguf *file);
int64_t lofi_gguf_tensor_count(const lofi_gguf *file);
bool lofi_gguf_tensor_info(const lofi_gguf *file, int64_t index, lofi_tensor_info *out);
/* Reads a tensor's raw bytes (dst holds info.nbytes). */
bool lofi_gguf_read_tensor(const lofi_gguf *file, int64_t index, void *dst, char *err, size_t err_len);
/* The string value of a key, NULL if absent or not a string. */
const char *lofi_gguf_get_string(const lofi_gguf *file, const char *key);
/* An array key: its length (0 if absent), and its elements by type (NULL / false on a mismatch). */
size_t lofi_gguf_array_len(const lofi_gguf *file, const char *key);
const char *lofi_gguf_array_string(const lofi_gguf *file, const char *key, size_t index);
bool lofi_gguf_array_f32(const lofi_gguf *file, const char *key, float *dst, size_t n);
const uint8_t *lofi_gguf_array_u8(const lofi_gguf *file, const char *key);
/* An unsigned integer key; false if absent or of another type. */
bool lofi_gguf_get_u32(const lofi_gguf *file, const char *key, uint32_t *out);

typedef struct lofi_gguf_writer lofi_gguf_writer;

/* A new file with a copy of every key/value of `metadata_from` (which may be closed afterwards). */
lofi_gguf_writer *lofi_gguf_writer_new(const lofi_gguf *metadata_from);
void lofi_gguf_writer_set_u32(lofi_gguf_writer *writer, const char *key, uint32_t value);
/* Adds a tensor; the bytes are copied. ne has n_dims entries. */
bool lofi_gguf_writer_add_tensor(lofi_gguf_writer *writer, const char *name, int type, int n_dims, const int64_t *ne,
                                 const void *data, size_t nbytes, char *err, size_t err_len);
bool lofi_gguf_writer_write(lofi_gguf_writer *writer, const char *path, char *err, size_t err_len);
void lofi_gguf_writer_free(lofi_gguf_writer *writer);

/* ---- MusicGen model files ---- */
typedef struct lofi_model_info {
    char name[128];
    uint32_t file_type; /* general.file_type (llama.cpp's LLAMA_FTYPE numbering) */
    uint64_t file_size;
    int64_t n_tensors;
    int64_t n_params;
    uint32_t tokenizer_size;
    uint32_t t5_layers, t5_width;
    uint32_t decoder_layers, decoder_width, decoder_heads;
    uint32_t codebooks, codebook_size;
    uint32_t sample_rate, frame_rate;
    uint32_t audio_channels;     /* 1 mono, 2 stereo */
    int64_t tensors_by_type[48]; /* count per ggml_type */
} lofi_model_info;

/* Checks an open GGUF against what the engine loads (architecture, keys, tensor names, shapes,
 * types) without reading the weights. */
bool lofi_model_inspect(const lofi_gguf *file, lofi_model_info *out, char *err, size_t err_len);

/* ---- MusicGen inference ----
 * Like whisper.cpp: a model (the weights, shared by runs) and a state per run (T5 states, the
 * codes so far, the audio), driven by parameters in a struct whose defaults come from the model. */
typedef struct lofi_musicgen lofi_musicgen;
typedef struct lofi_musicgen_state lofi_musicgen_state;

typedef enum lofi_status { LOFI_OK = 0, LOFI_FAILED = 1, LOFI_CANCELLED = 2 } lofi_status;

typedef struct lofi_musicgen_params {
    uint32_t t5_width;
    uint32_t codebooks, codebook_size;
    uint32_t sample_rate, frame_rate, hop_length; /* hop_length samples per frame */
    uint32_t max_frames;                          /* what the decoder's context allows */
    uint32_t audio_channels;                      /* 2: codebooks alternate left/right, audio is interleaved */
} lofi_musicgen_params;

typedef struct lofi_sampling {
    float guidance_scale;
    float temperature; /* 0 = greedy */
    int32_t top_k;     /* 0 = all, 1 = greedy */
    float top_p;       /* 0 = off */
    uint64_t seed;
} lofi_sampling;

/* Called after each decoder step of a run; return false to cancel. */
typedef bool (*lofi_progress_fn)(void *user, int64_t step, int64_t steps);
/* Receives a run's audio as it is decoded: n mono samples that follow the ones before. */
typedef void (*lofi_audio_fn)(void *user, const float *samples, int64_t n);

/* One decoder run (lofi_musicgen_generate). */
typedef struct lofi_run_params {
    int64_t prompt_frames; /* how many of the state's last frames the run continues (0: none) */
    int64_t new_frames;    /* frames to generate after them */
    lofi_sampling sampling;
    lofi_progress_fn progress; /* NULL: none */
    void *progress_user;
    /* Streaming: the state's EnCodec stream decodes each stream_frames new frames as the run
     * makes them and hands the samples that no later frame can change to audio (NULL: none).
     * The stream goes on across runs; lofi_musicgen_stream_finish decodes its last frames. */
    lofi_audio_fn audio;
    void *audio_user;
    int64_t stream_frames;
} lofi_run_params;

/* Loads a MusicGen GGUF (opened once, checked as lofi_model_inspect does; weights mapped, not
 * copied, until the first computation places them). device: "auto", "cpu", "cuda", "vulkan" or
 * "metal". */
lofi_musicgen *lofi_musicgen_load(const char *path, int threads, const char *device, char *err, size_t err_len);
void lofi_musicgen_free(lofi_musicgen *model);
void lofi_musicgen_get_params(const lofi_musicgen *model, lofi_musicgen_params *out);
/* What lofi_model_inspect reports, for the loaded file. */
void lofi_musicgen_get_info(const lofi_musicgen *model, lofi_model_info *out);
/* The loaded file's metadata (the tokenizer's keys), valid while the model is. */
const lofi_gguf *lofi_musicgen_file(const lofi_musicgen *model);
/* The device that computes: "cpu", "cuda", "vulkan" or "metal" (valid while the model is). */
const char *lofi_musicgen_device(const lofi_musicgen *model);
/* Whether pages of the mapped file were lost since it was loaded: the file was cut shorter under
 * the model (written over in place). What the model computed since read zeros for them. */
bool lofi_musicgen_file_damaged(const lofi_musicgen *model);
/* The decoder's self-attention cache: "f32" (F32 weights), "f16", "int8" (int8 with a scale per
 * position and head) or "int8-int4" (int8 keys, 4-bit values with a scale per position and head). */
const char *lofi_musicgen_kv_cache(const lofi_musicgen *model);
/* Sets it for the runs that follow (int8 and int8-int4: CPU only). */
bool lofi_musicgen_set_kv_cache(lofi_musicgen *model, const char *name, char *err, size_t err_len);
/* The bytes of the weights every decoder step multiplies by (a step's share of the memory it reads). */
size_t lofi_musicgen_step_weight_bytes(const lofi_musicgen *model);
/* Those weights where a step reads them (the model placed first), for timing reads of them
 * beside the steps; keeps them in memory until freed, the model's handle freed or not. NULL when
 * they are not in the CPU's memory or cannot be placed. */
typedef struct lofi_weights_probe lofi_weights_probe;
lofi_weights_probe *lofi_musicgen_weights_probe_new(lofi_musicgen *model);
/* The read bandwidth (bytes per second) `threads` threads reach reading them now, as
 * lofi_read_bandwidth reads its buffer: the floor a step meets in the same moment. */
double lofi_weights_probe_bandwidth(const lofi_weights_probe *probe, int threads);
void lofi_weights_probe_free(lofi_weights_probe *probe);
/* The bytes one position of that cache takes over all layers, with guidance's two branches. */
size_t lofi_musicgen_kv_bytes_per_position(const lofi_musicgen *model);

/* A run's parameters: the model file's sampling, one frame, no progress. */
lofi_run_params lofi_musicgen_default_run_params(const lofi_musicgen *model);
/* The decoder steps a run of prompt_frames + new_frames frames takes (the delay pattern adds some). */
int64_t lofi_musicgen_run_steps(const lofi_musicgen *model, int64_t prompt_frames, int64_t new_frames);

lofi_musicgen_state *lofi_musicgen_state_new(const lofi_musicgen *model);
void lofi_musicgen_state_free(lofi_musicgen_state *state);

/* T5's last hidden state for n token ids, kept in the state. n = 0: no prompt, the null condition
 * (as audiocraft treats an empty description): T5 is not run and the decoder computes one branch. */
bool lofi_musicgen_encode_text(lofi_musicgen *model, lofi_musicgen_state *state, const int32_t *ids, size_t n, char *err,
                               size_t err_len);
/* The kept T5 states: *n_tokens * t5_width floats, token-major (valid until the state changes). */
const float *lofi_musicgen_state_text(const lofi_musicgen_state *state, size_t *n_tokens);
/* The first decoding step's guided logits (start tokens in): out holds codebooks * codebook_size. */
bool lofi_musicgen_first_logits(lofi_musicgen *model, lofi_musicgen_state *state, float guidance_scale, float *out,
                                char *err, size_t err_len);
/* Replaces the state's codes with `frames` frames (codebook-major), e.g. an audio prompt to continue. */
bool lofi_musicgen_state_set_codes(lofi_musicgen_state *state, const int32_t *codes, int64_t frames, char *err,
                                   size_t err_len);
/* One decoder run on the kept T5 states: feeds the state's last params->prompt_frames frames,
 * then appends params->new_frames sampled frames to the state's codes. */
lofi_status lofi_musicgen_generate(lofi_musicgen *model, lofi_musicgen_state *state, const lofi_run_params *params,
                                   char *err, size_t err_len);
int64_t lofi_musicgen_state_frames(const lofi_musicgen_state *state);
/* The last run's last step's guided logits: *n = codebooks * codebook_size (0 before a run). */
const float *lofi_musicgen_state_last_logits(const lofi_musicgen_state *state, size_t *n);
/* Copies the state's codes out: codebooks * frames, codebook-major. */
void lofi_musicgen_state_codes(const lofi_musicgen_state *state, int32_t *out);
/* EnCodec over the state's codes -> frames * hop_length mono samples kept in the state, both
 * stages in chunks of chunk_frames (0 = the defaults: 500 frames for the frame stage, 64 for the
 * sample-rate stage; the result does not depend on it). */
bool lofi_musicgen_decode_audio(lofi_musicgen *model, lofi_musicgen_state *state, int64_t chunk_frames, char *err,
                                size_t err_len);
/* Ends the state's stream: decodes the frames it still holds back (the last few, which had no
 * frames after them) and hands them to audio; a run after it starts a new stream. */
bool lofi_musicgen_stream_finish(lofi_musicgen *model, lofi_musicgen_state *state, lofi_audio_fn audio, void *audio_user,
                                 char *err, size_t err_len);
/* Drops all but the state's last `frames` frames of codes (a radio keeps only what the next run
 * continues); the stream is not affected. */
void lofi_musicgen_state_keep_last(lofi_musicgen_state *state, int64_t frames);
/* The decoded samples (valid until the state changes). */
const float *lofi_musicgen_state_audio(const lofi_musicgen_state *state, size_t *n_samples);

#ifdef __cplusplus
}
#endif

#endif
