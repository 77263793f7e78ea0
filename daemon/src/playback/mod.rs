//! Playback: a playlist played through a cpal device (or the `none` clock), with
//! equal-power crossfades, smooth volume, device switching and recovery.

pub mod alsa_log;
mod device_watch;
mod engine;
mod error;
pub mod growing;
pub mod mixer;
pub mod output;
mod playlist;
pub mod prepare;
pub mod resample;
pub mod spectrum;
pub mod stream;
pub mod visualizer;

pub use engine::{Engine, PlaybackEvent};
pub use error::PlaybackError;
pub use output::NONE_DEVICE;
pub use visualizer::{Frame, Visualizer};
