//! GGML (built from the sources `llama-cpp-sys-2` ships) and lofi.nvim's MusicGen engine
//! (C++, `cpp/`), behind the small C API in `cpp/lofi_ggml.h`: the build, the raw bindings
//! ([`raw`]) and the GGML-level pieces other crates share. The MusicGen API on top of the
//! engine is the `musicgen` crate.
//!
//! - [`raw`]: bindgen's declarations of `cpp/lofi_ggml.h`; [`ErrorBuffer`], [`c_path`],
//!   [`c_string`] pass their strings.
//! - [`GgmlType`], [`quantize`], [`to_f32`]: GGML's tensor types and its own quantizers.
//! - [`GgufFile`], [`GgufWriter`]: GGUF files through GGML's parser, with data ranges checked.
//! - [`version`], [`cpu_features`], [`cpu_variant`], [`accelerators`], [`cpu_kernels`],
//!   [`cpu_runs_kernels`], [`CPU_KERNEL_LEVELS`], [`mul_mat`],
//!   [`strip_mul_mat`], [`strip_mul_mats`], [`cpu_elu`], [`cpu_gelu`], [`conv_tap_sum`]:
//!   what was built, and checks that it computes; [`read_bandwidth`]: the benchmarks' memory bandwidth.

mod build_info;
mod error;
mod gguf;
mod types;

/// The C API of `cpp/lofi_ggml.h`, as bindgen declares it.
#[allow(non_camel_case_types, non_upper_case_globals, dead_code, clippy::all, missing_docs)]
pub mod raw {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub use build_info::{
    accelerators, conv_tap_sum, cpu_elu, cpu_features, cpu_gelu, cpu_kernels, cpu_runs_kernels, cpu_variant, mul_mat,
    read_bandwidth, strip_mul_mat, strip_mul_mats, version, LayerNorm, StripInput, StripWeight, TapGeometry,
    CPU_KERNEL_LEVELS,
};
pub use error::{c_path, c_string, ErrorBuffer, GgmlError};
pub use gguf::{GgufFile, GgufMetadata, GgufWriter, TensorInfo};
pub use types::{quantize, to_f32, GgmlType};
