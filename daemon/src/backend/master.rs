//! Mastering: integrated loudness to -14 LUFS, true peak at or below -1 dBTP; for a whole
//! track at once, or for a stream that cannot see its future ([`StreamMaster`]).

use fundsp::prelude::*;

use crate::analysis::{self, Loudness};
use crate::audio::Audio;
use crate::SAMPLE_RATE;

pub const TARGET_LUFS: f64 = -14.0;
pub const CEILING_DBTP: f64 = -1.0;

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

const LIMITER_ATTACK_SEC: f32 = 0.005;

const LIMITER_RELEASE_SEC: f32 = 0.12;

/// fundsp's look-ahead limiter for `channels` (stereo linked: both channels get one gain, so
/// the image holds still), to `ceiling_db` sample peak (it works on ±1, so the signal is
/// scaled around it).
fn limiter_to(channels: u16, ceiling_db: f64) -> (Box<dyn AudioUnit>, f32) {
    let mut limiter: Box<dyn AudioUnit> = if channels == 2 {
        Box::new(limiter_stereo(LIMITER_ATTACK_SEC, LIMITER_RELEASE_SEC))
    } else {
        Box::new(limiter(LIMITER_ATTACK_SEC, LIMITER_RELEASE_SEC))
    };
    limiter.set_sample_rate(SAMPLE_RATE as f64);
    (limiter, db_to_gain(ceiling_db))
}

/// Runs one interleaved frame through the limiter, `gain` applied before it, in place.
fn limit_frame(limiter: &mut dyn AudioUnit, ceiling: f32, gain: f32, frame: &mut [f32]) {
    let mut input = [0f32; 2];
    let channels = frame.len();
    for (i, s) in frame.iter().enumerate() {
        input[i] = *s * gain / ceiling;
    }
    limiter.tick(&input[..channels], frame);
    frame.iter_mut().for_each(|s| *s *= ceiling);
}

/// Samples the limiter's look-ahead delays its output by.
fn limiter_latency() -> usize {
    (SAMPLE_RATE as f32 * LIMITER_ATTACK_SEC).round() as usize
}

/// How long a limiter runs before the frames it is asked for, so that its state (a 5 ms
/// look-ahead, a follower that forgets in ~50 ms) is what it would be had it run from the start.
const LIMITER_WARMUP_SEC: f64 = 1.0;

/// Limits a whole track, its look-ahead latency removed. A long track is limited in two halves
/// side by side, in place, the second's limiter warmed up on the second before it.
fn limit(audio: &mut Audio, ceiling_db: f64) {
    let width = Ord::max(usize::from(audio.channels), 1);
    let channels = audio.channels;
    let frames = audio.frames();
    if frames < 20 * SAMPLE_RATE as usize {
        return limit_in_place(&mut audio.samples, channels, ceiling_db, &[], &[]);
    }
    let middle = frames / 2 * width;
    let warmup_start = middle - (LIMITER_WARMUP_SEC * SAMPLE_RATE as f64) as usize * width;
    let warmup = audio.samples[warmup_start..middle].to_vec();
    let after = audio.samples[middle..middle + limiter_latency() * width].to_vec();
    let (first, second) = audio.samples.split_at_mut(middle);
    rayon::join(
        || limit_in_place(first, channels, ceiling_db, &[], &after),
        || limit_in_place(second, channels, ceiling_db, &warmup, &[]),
    );
}

/// Limits `samples` (interleaved `channels`) in place with a fresh limiter that first hears
/// `warmup` (what comes before them; its output dropped) and, for its look-ahead at the end,
/// `after` (what follows them; silence beyond it). Each output is written back the look-ahead
/// latency late, where its input was already read.
fn limit_in_place(samples: &mut [f32], channels: u16, ceiling_db: f64, warmup: &[f32], after: &[f32]) {
    let width = Ord::max(usize::from(channels), 1);
    let (mut limiter, ceiling) = limiter_to(channels, ceiling_db);
    let latency = limiter_latency();
    let mut frame = [0f32; 2];
    for input in warmup.chunks_exact(width) {
        frame[..width].copy_from_slice(input);
        limit_frame(limiter.as_mut(), ceiling, 1.0, &mut frame[..width]);
    }
    let frames = samples.len() / width;
    for i in 0..frames + latency {
        let input = if i < frames {
            &samples[i * width..(i + 1) * width]
        } else {
            after
                .get((i - frames) * width..(i - frames + 1) * width)
                .unwrap_or(&[0.0; 2][..width])
        };
        frame[..width].copy_from_slice(input);
        limit_frame(limiter.as_mut(), ceiling, 1.0, &mut frame[..width]);
        if i >= latency {
            samples[(i - latency) * width..(i - latency + 1) * width].copy_from_slice(&frame[..width]);
        }
    }
}

/// How far a stream's gain may move per second of audio: slow enough to be heard as a mix
/// settling, never as a jump.
const STREAM_GAIN_DB_PER_SEC: f64 = 0.3;

/// Mastering for audio that arrives in pieces: a gain toward -14 LUFS, set from the first
/// piece and then moved slowly by each piece's loudness (ramped inside the piece, so no step is
/// heard), and the limiter always on, its state carried from piece to piece. The output lags
/// the input by the limiter's look-ahead (5 ms of silence at the start of the stream).
pub struct StreamMaster {
    gain_db: Option<f64>,
    limiter: Box<dyn AudioUnit>,
    ceiling: f32,
    channels: u16,
}

impl StreamMaster {
    /// For a stream of `channels` interleaved.
    pub fn new(channels: u16) -> StreamMaster {
        let (limiter, ceiling) = limiter_to(channels, CEILING_DBTP - 0.5);
        StreamMaster {
            gain_db: None,
            limiter,
            ceiling,
            channels: Ord::max(channels, 1),
        }
    }

    /// Masters the next piece (32 kHz, interleaved frames) in place.
    pub fn process(&mut self, piece: &mut [f32]) {
        let lufs = analysis::integrated_lufs(piece, self.channels, SAMPLE_RATE);
        let wanted = if lufs.is_finite() {
            (TARGET_LUFS - lufs).clamp(-24.0, 24.0)
        } else {
            0.0
        };
        let from = self.gain_db.unwrap_or(wanted);
        let frames = piece.len() / self.channels as usize;
        let seconds = frames as f64 / SAMPLE_RATE as f64;
        let to = from + (wanted - from).clamp(-STREAM_GAIN_DB_PER_SEC * seconds, STREAM_GAIN_DB_PER_SEC * seconds);
        self.gain_db = Some(to);
        let n = frames as f64;
        for (i, frame) in piece.chunks_exact_mut(self.channels as usize).enumerate() {
            let gain = db_to_gain(from + (to - from) * i as f64 / n);
            limit_frame(self.limiter.as_mut(), self.ceiling, gain, frame);
        }
    }
}

/// Brings the track to the loudness target and keeps its true peak under the ceiling.
pub fn master(audio: &mut Audio) -> Loudness {
    let lufs = analysis::integrated_lufs(&audio.samples, audio.channels, SAMPLE_RATE);
    if !lufs.is_finite() {
        return analysis::loudness(audio); // silence: nothing to normalise
    }
    gain_db(audio, TARGET_LUFS - lufs);
    // Leave 0.5 dB for inter-sample peaks the sample-peak limiter cannot see. A mix that
    // arrives on target is limited too: its peaks are its own.
    let ceiling = CEILING_DBTP - 0.5;
    let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if peak > db_to_gain(ceiling) {
        limit(audio, ceiling);
    }
    let mut measured = analysis::loudness(audio);
    // Win back what the limiter took (or trim an inter-sample peak over the ceiling), as far
    // as the true peak allows. A gain moves loudness and true peak by the same decibels, so
    // nothing is measured again.
    let correction = (TARGET_LUFS - measured.integrated_lufs).min(CEILING_DBTP - 0.05 - measured.true_peak_dbtp);
    if correction.abs() >= 0.01 {
        gain_db(audio, correction);
        measured.integrated_lufs += correction;
        measured.true_peak_dbtp += correction;
    }
    measured
}

fn gain_db(audio: &mut Audio, db: f64) {
    let gain = db_to_gain(db);
    audio.samples.iter_mut().for_each(|s| *s *= gain);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_track_limited_in_halves_equals_one_pass() {
        // 40 s of stereo with loud bursts (over the ceiling) across the split at 20 s.
        let frames = 40 * SAMPLE_RATE as usize;
        let samples: Vec<f32> = (0..frames)
            .flat_map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                let burst = if (t % 3.0) < 0.4 { 2.5 } else { 0.4 };
                let l = (t * 220.0 * std::f32::consts::TAU).sin() * burst;
                [l, l * 0.7 + (t * 330.0 * std::f32::consts::TAU).sin() * 0.2]
            })
            .collect();
        let mut halves = Audio::stereo(samples.clone());
        limit(&mut halves, -1.5);
        let mut one_pass = samples;
        limit_in_place(&mut one_pass, 2, -1.5, &[], &[]);
        assert_eq!(halves.samples.len(), one_pass.len());
        let worst = halves
            .samples
            .iter()
            .zip(&one_pass)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // The warmed-up limiter's follower converges to the one-pass state, not to the last bit:
        // under -80 dB.
        assert!(worst < 1e-4, "halves differ from one pass by {worst}");
        let peak = one_pass.iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak <= db_to_gain(-1.5) * 1.001, "limited to the ceiling: {peak}");
    }
}
