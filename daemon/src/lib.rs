//! lofi-daemon: generates lofi tracks (procedural or GGML MusicGen) and serves them to
//! lofi.nvim over newline-delimited JSON-RPC 2.0 on stdin/stdout.

pub mod analysis;
pub mod audio;
pub mod audio_file;
pub mod backend;
pub mod cache;
pub mod cli;
pub mod defaults;
pub mod generation;
pub mod lifecycle;
pub mod playback;
pub mod queue;
pub mod radio;
pub mod rpc;
pub mod server;
pub mod track_id;

/// Sample rate of every generated track (MusicGen's native rate).
pub const SAMPLE_RATE: u32 = 32_000;
