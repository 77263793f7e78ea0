//! Turns a cached track into a [`PreparedTrack`]: decode (WAV, or MP3 through
//! `lame --decode`) and resample once to the device rate, off the audio thread.

use std::sync::Arc;

use super::mixer::PreparedTrack;
use super::resample::resample;
use super::PlaybackError;
use crate::audio_file::{self, Audio};
use crate::cache::{Cache, TrackMeta};

/// Resamples every channel of `audio` to `to` Hz; interleaved as it came.
pub fn resample_channels(audio: &Audio, to: u32) -> Result<Vec<f32>, String> {
    resample(&audio.samples, usize::from(audio.channels), audio.sample_rate, to)
}

/// Decodes a cached track at its own sample rate.
pub fn decode(cache: &Cache, track_id: &str) -> Result<Audio, PlaybackError> {
    decode_with_meta(cache, track_id).map(|(_, audio)| audio)
}

fn decode_with_meta(cache: &Cache, track_id: &str) -> Result<(TrackMeta, Audio), PlaybackError> {
    let meta = cache
        .get(track_id)
        .map_err(|_| PlaybackError::NotCached(track_id.to_owned()))?;
    let audio = audio_file::read(&cache.audio_path(track_id, meta.format), meta.format).map_err(PlaybackError::Load)?;
    Ok((meta, audio))
}

/// Loads a cached track at the device rate.
pub fn prepare(cache: &Cache, track_id: &str, device_rate: u32) -> Result<Arc<PreparedTrack>, PlaybackError> {
    let (meta, audio) = decode_with_meta(cache, track_id)?;
    let samples = resample_channels(&audio, device_rate).map_err(PlaybackError::Load)?;
    Ok(Arc::new(PreparedTrack {
        track_id: track_id.to_owned(),
        samples: samples.into(),
        channels: usize::from(audio.channels),
        rate: device_rate,
        continues: meta.parent.filter(|_| meta.seamless),
    }))
}
