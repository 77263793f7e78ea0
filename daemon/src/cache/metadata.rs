use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio_file::AudioFormat;

/// A sidecar is ~400 bytes plus the prompt (at most 1000 characters, 4 bytes each when
/// escaped): anything past this is not ours.
pub const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// How much of its parent's end a seamless radio segment repeats at its start: the engine
/// fades across it, so neither track's edge (where resampling sees nothing beyond it) is heard.
pub const SEAMLESS_OVERLAP_SEC: f64 = 0.2;

/// Everything the cache knows about one track (the `<id>.json` sidecar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackMeta {
    pub track_id: String,
    pub prompt: String,
    pub seed: u64,
    pub duration_sec: f64,
    pub sample_rate: u32,
    pub backend: String,
    pub model_version: String,
    pub format: AudioFormat,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; `None` until first played.
    pub last_played: Option<u64>,
    pub size_bytes: u64,
    pub generation_time_sec: f64,
    pub tokens_actual: u64,
    /// The radio segment this one continues (README, Radio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// It continues its parent's audio (one MusicGen stream), starting with the parent's last
    /// [`SEAMLESS_OVERLAP_SEC`]: played after the parent, the two join without a seam.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub seamless: bool,
    /// Made by the radio (a segment or a bridge): eviction takes these before any other track,
    /// so hours of radio never push out the tracks asked for.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub radio: bool,
}

impl TrackMeta {
    /// The sidecar at `path`, if it is a regular file of at most [`MAX_SIDECAR_BYTES`] that
    /// parses. Anything else (a FIFO, a device, a 200 MB file, bad JSON) reads as no track: a
    /// damaged sidecar costs a warning, never a blocked thread or the memory to hold it.
    pub fn read(path: &Path) -> Option<TrackMeta> {
        let file = super::special_files::open_regular(path, false).ok()?;
        let mut bytes = Vec::new();
        file.take(MAX_SIDECAR_BYTES + 1).read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 > MAX_SIDECAR_BYTES {
            tracing::warn!("ignoring {}: larger than a track's metadata can be", path.display());
            return None;
        }
        match serde_json::from_slice(&bytes) {
            Ok(meta) => Some(meta),
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", path.display());
                None
            }
        }
    }

    /// The LRU key: last play, or creation for a track never played.
    pub fn last_used(&self) -> u64 {
        self.last_played.unwrap_or(self.created_at).max(self.created_at)
    }
}
