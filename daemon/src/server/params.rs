//! Typed method params: deserialised with the offending field named on error.

use crate::defaults::MAX_CROSSFADE_SEC;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::audio_file::AudioFormat;
use crate::rpc::{ErrorReason, RpcError};
use crate::track_id;

/// Deserialises `params`, naming the field that is wrong, missing or unknown.
pub fn parse<T: DeserializeOwned>(params: &Map<String, Value>) -> Result<T, RpcError> {
    serde_path_to_error::deserialize(Value::Object(params.clone())).map_err(|e| {
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        // serde reports missing/unknown fields at the root ("."); the name is in backticks.
        let field = if path == "." {
            inner.split('`').nth(1).unwrap_or("params").to_owned()
        } else {
            path
        };
        RpcError::invalid_params(&field, format!("invalid params: {field}: {inner}"))
    })
}

/// A request with no params must not carry any.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    #[default]
    Normal,
    High,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub prompt: Option<String>,
    pub duration_sec: Option<f64>,
    pub seed: Option<u64>,
    #[serde(default)]
    pub priority: Priority,
    /// Extension: start playing the track when it is ready.
    #[serde(default)]
    pub play: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadioStart {
    pub prompt: Option<String>,
    pub seed: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadioPrompt {
    pub prompt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackRef {
    pub track_id: String,
}

impl TrackRef {
    /// The id, checked to be 8 lowercase hex digits so it can never name another path.
    pub fn checked(&self) -> Result<&str, RpcError> {
        if track_id::is_valid(&self.track_id) {
            Ok(&self.track_id)
        } else {
            Err(RpcError::new(
                ErrorReason::InvalidTrackId,
                format!("track_id {:?} is not 8 lowercase hex digits", self.track_id),
            )
            .with("field", "track_id"))
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefetchStrategy {
    SamePrompt,
    PresetCycle,
    RandomPreset,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefetchConfig {
    pub enabled: Option<bool>,
    pub strategy: Option<PrefetchStrategy>,
    pub presets: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub max_mb: Option<f64>,
    /// `null` removes the limit; absent leaves it as it is.
    #[serde(default, deserialize_with = "explicit_null")]
    pub max_tracks: Option<Option<usize>>,
    pub format: Option<AudioFormat>,
}

fn explicit_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<usize>>, D::Error> {
    Option::<usize>::deserialize(d).map(Some)
}

/// `play`: a track id, or nothing (resume / playlist / most recent).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Play {
    pub track_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    pub level: f64,
}

impl Volume {
    pub fn checked(&self) -> Result<f32, RpcError> {
        if crate::defaults::VOLUME_RANGE.contains(&self.level) {
            Ok(self.level as f32)
        } else {
            Err(RpcError::invalid_params(
                "level",
                format!("level must be between 0.0 and 1.0, got {}", self.level),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisualizerSubscribe {
    pub fps: Option<u32>,
}

impl VisualizerSubscribe {
    pub fn checked(&self) -> Result<u32, RpcError> {
        let max = crate::playback::visualizer::MAX_FPS;
        match self.fps {
            None => Ok(max),
            Some(fps) if (1..=max).contains(&fps) => Ok(fps),
            Some(fps) => Err(RpcError::invalid_params(
                "fps",
                format!("fps must be 1 to {max}, got {fps}"),
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crossfade {
    pub duration_sec: f64,
}

impl Crossfade {
    pub fn checked(&self) -> Result<f64, RpcError> {
        if (0.0..=MAX_CROSSFADE_SEC).contains(&self.duration_sec) {
            Ok(self.duration_sec)
        } else {
            Err(RpcError::invalid_params(
                "duration_sec",
                format!(
                    "duration_sec must be between 0 and {MAX_CROSSFADE_SEC}, got {}",
                    self.duration_sec
                ),
            ))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub device: String,
}

/// Extension (README, Methods): playback settings without a method of their own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybackConfig {
    #[serde(rename = "loop")]
    pub loop_playlist: Option<bool>,
}

/// Extension: a block-character waveform of a cached track, for editor previews.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waveform {
    pub track_id: String,
    pub width: Option<usize>,
    pub rows: Option<usize>,
}

impl Waveform {
    pub const MAX_WIDTH: usize = 400;
    pub const MAX_ROWS: usize = 32;

    /// `(width, rows)`: width 1–400 (default 60), rows even 2–32 (default 6).
    pub fn size(&self) -> Result<(usize, usize), RpcError> {
        let width = self.width.unwrap_or(60);
        let rows = self.rows.unwrap_or(6);
        if !(1..=Self::MAX_WIDTH).contains(&width) {
            return Err(RpcError::invalid_params(
                "width",
                format!("width must be between 1 and {}, got {width}", Self::MAX_WIDTH),
            ));
        }
        if !(2..=Self::MAX_ROWS).contains(&rows) || !rows.is_multiple_of(2) {
            return Err(RpcError::invalid_params(
                "rows",
                format!(
                    "rows must be an even number between 2 and {}, got {rows}",
                    Self::MAX_ROWS
                ),
            ));
        }
        Ok((width, rows))
    }

    pub fn track(&self) -> TrackRef {
        TrackRef {
            track_id: self.track_id.clone(),
        }
    }
}
