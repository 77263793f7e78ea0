//! The GGUF quantizer behind `lofi-quantize`: F32/F16 MusicGen GGUF -> F16, Q8_0, Q5_K_M, Q4_K_M
//! (or back to F32) with GGML's own quantize functions.
pub mod policy;
pub mod quantize;

pub use policy::FileType;
pub use quantize::{quantize_file, QuantizeError, Report, TypeStats};
