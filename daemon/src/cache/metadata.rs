use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::AudioFormat;

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
}

impl TrackMeta {
    pub fn read(path: &Path) -> Option<TrackMeta> {
        serde_json::from_slice(&fs::read(path).ok()?).ok()
    }

    /// The LRU key: last play, or creation for a track never played.
    pub fn last_used(&self) -> u64 {
        self.last_played.unwrap_or(self.created_at).max(self.created_at)
    }
}
