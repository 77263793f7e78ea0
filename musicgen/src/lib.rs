//! MusicGen (T5 text encoder → 4-codebook decoder LM with the delay pattern and
//! classifier-free guidance → EnCodec 32 kHz decoder) on GGML, from a GGUF file: the safe API
//! over the engine `ggml-sys` builds.
//!
//! - [`inspect_model`]: every check loading runs, without reading the weights.
//! - [`Musicgen`]: load (the file opened and checked once), then a whole track
//!   ([`Musicgen::generate_track`]: windows past the model's context, progress over all of
//!   them, typed cancellation).
//! - [`Radio`]: an endless stream, window after window, steered by the prompt of the moment.
//! - [`Run`]: one generation's state, kept on the C side like whisper.cpp's `whisper_state`
//!   (T5 states, codes, audio), stage by stage for tests and benchmarks.

mod check;
mod engine;
mod radio;
mod run;
mod tokenizer;
mod track;

pub use check::{inspect_model, ModelInfo};
pub use engine::{Musicgen, MusicgenParams, Sampling, StepWeightsProbe};
pub use ggml_sys::GgmlError;
pub use radio::Radio;
pub use run::{leading_frames, Run, RunError, RunState};
pub use track::{AudioSink, Track};
