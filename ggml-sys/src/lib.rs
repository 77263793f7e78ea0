//! GGML (built from the sources `llama-cpp-sys-2` ships) and lofi.nvim's MusicGen engine, behind
//! the small C API in `cpp/lofi_ggml.h`; this crate wraps it safely.
//!
//! - [`GgmlType`], [`quantize`], [`to_f32`]: GGML's tensor types and its own quantizers.
//! - [`GgufFile`], [`GgufWriter`]: GGUF files through GGML's parser, with data ranges checked.
//! - [`inspect_model`]: the engine's load-time checks on a MusicGen GGUF.
//! - [`Musicgen`]: MusicGen inference (T5, decoder LM, EnCodec) on GGML.
//! - [`version`], [`cpu_features`], [`accelerators`], [`mul_mat`]: what was built, and a check that it computes.

mod build_info;
mod error;
mod gguf;
mod model;
mod musicgen;
mod tokenizer;
mod types;

#[allow(non_camel_case_types, non_upper_case_globals, dead_code, clippy::all)]
mod raw {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use build_info::{accelerators, cpu_features, mul_mat, version};
pub use error::GgmlError;
pub use gguf::{GgufFile, GgufWriter, TensorInfo};
pub use model::{inspect_model, ModelInfo};
pub use musicgen::{Musicgen, MusicgenParams, RunError, Sampling};
pub use types::{quantize, to_f32, GgmlType};
