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

/// Limits a whole track, its look-ahead latency removed.
fn limit(audio: &mut Audio, ceiling_db: f64) {
    let channels = Ord::max(usize::from(audio.channels), 1);
    let (mut limiter, ceiling) = limiter_to(audio.channels, ceiling_db);
    let latency = limiter_latency() * channels;
    let mut padded = std::mem::take(&mut audio.samples);
    padded.resize(padded.len() + latency, 0.0);
    for frame in padded.chunks_exact_mut(channels) {
        limit_frame(limiter.as_mut(), ceiling, 1.0, frame);
    }
    padded.drain(..latency);
    audio.samples = padded;
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
