//! Turns a cached track into a [`PreparedTrack`]: decode (WAV, or MP3 through
//! `lame --decode`) and resample once to the device rate with rubato (each channel), off the
//! audio thread.

use std::sync::Arc;

use rubato::{FftFixedIn, Resampler};

use super::mixer::PreparedTrack;
use super::PlaybackError;
use crate::audio_file::{self, Audio};
use crate::cache::{Cache, TrackMeta};

/// Resamples mono audio from `from` Hz to `to` Hz (FFT resampler, delay removed, length
/// exactly `len * to / from`).
pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to {
        return Ok(input.to_vec());
    }
    let mut resampler = FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, 1).map_err(|e| e.to_string())?;
    let expected = (input.len() as u64 * to as u64 / from as u64) as usize;
    let delay = resampler.output_delay();
    let mut out = Vec::with_capacity(expected + delay + 4096);
    let mut pos = 0;
    while pos + resampler.input_frames_next() <= input.len() {
        let n = resampler.input_frames_next();
        let chunk = resampler
            .process(&[&input[pos..pos + n]], None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&chunk[0]);
        pos += n;
    }
    if pos < input.len() {
        let tail = resampler
            .process_partial(Some(&[&input[pos..]]), None)
            .map_err(|e| e.to_string())?;
        out.extend_from_slice(&tail[0]);
    }
    while out.len() < expected + delay {
        let flushed = resampler
            .process_partial::<&[f32]>(None, None)
            .map_err(|e| e.to_string())?;
        if flushed[0].is_empty() {
            break;
        }
        out.extend_from_slice(&flushed[0]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

/// Resamples every channel of `audio` to `to` Hz; interleaved as it came.
pub fn resample_channels(audio: &Audio, to: u32) -> Result<Vec<f32>, String> {
    if audio.channels <= 1 {
        return resample(&audio.samples, audio.sample_rate, to);
    }
    let channels: Vec<Vec<f32>> = (0..usize::from(audio.channels))
        .map(|c| resample(&audio.channel(c), audio.sample_rate, to))
        .collect::<Result<_, _>>()?;
    let frames = channels[0].len();
    Ok((0..frames).flat_map(|i| channels.iter().map(move |c| c[i])).collect())
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
        samples,
        channels: usize::from(audio.channels),
        rate: device_rate,
        continues: meta.parent.filter(|_| meta.seamless),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_length_pitch_and_level() {
        let tone: Vec<f32> = (0..32_000)
            .map(|i| (i as f32 / 32_000.0 * 440.0 * std::f32::consts::TAU).sin() * 0.5)
            .collect();
        let out = resample(&tone, 32_000, 48_000).unwrap();
        assert_eq!(out.len(), 48_000);
        // Same phase at the same instant: no delay left in.
        for i in (1000..47_000).step_by(997) {
            let expected = (i as f32 / 48_000.0 * 440.0 * std::f32::consts::TAU).sin() * 0.5;
            assert!((out[i] - expected).abs() < 0.01, "sample {i}: {} vs {expected}", out[i]);
        }
        assert_eq!(resample(&tone, 32_000, 32_000).unwrap(), tone);
    }
}
