//! Mastering: integrated loudness to -14 LUFS, true peak at or below -1 dBTP; for a whole
//! track at once, or for a stream that cannot see its future ([`StreamMaster`]).

use fundsp::prelude::*;

use crate::analysis::{self, Loudness};
use crate::SAMPLE_RATE;

pub const TARGET_LUFS: f64 = -14.0;
pub const CEILING_DBTP: f64 = -1.0;

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

const LIMITER_ATTACK_SEC: f32 = 0.005;

/// fundsp's look-ahead limiter, to `ceiling_db` sample peak (it works on ±1, so the signal is
/// scaled around it).
fn limiter_to(ceiling_db: f64) -> (impl AudioUnit, f32) {
    let mut limiter = limiter(LIMITER_ATTACK_SEC, 0.12);
    limiter.set_sample_rate(SAMPLE_RATE as f64);
    (limiter, db_to_gain(ceiling_db))
}

/// Samples the limiter's look-ahead delays its output by.
fn limiter_latency() -> usize {
    (SAMPLE_RATE as f32 * LIMITER_ATTACK_SEC).round() as usize
}

/// Limits a whole track, its look-ahead latency removed.
fn limit(samples: &mut Vec<f32>, ceiling_db: f64) {
    let (mut limiter, ceiling) = limiter_to(ceiling_db);
    let latency = limiter_latency();
    let input = samples.iter().copied().chain(std::iter::repeat_n(0.0, latency));
    let limited: Vec<f32> = input
        .map(|s| limiter.filter_mono(s / ceiling) * ceiling)
        .skip(latency)
        .collect();
    *samples = limited;
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
}

impl Default for StreamMaster {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamMaster {
    pub fn new() -> StreamMaster {
        let (limiter, ceiling) = limiter_to(CEILING_DBTP - 0.5);
        StreamMaster {
            gain_db: None,
            limiter: Box::new(limiter),
            ceiling,
        }
    }

    /// Masters the next piece in place.
    pub fn process(&mut self, piece: &mut [f32]) {
        let lufs = analysis::integrated_lufs(piece, SAMPLE_RATE);
        let wanted = if lufs.is_finite() {
            (TARGET_LUFS - lufs).clamp(-24.0, 24.0)
        } else {
            0.0
        };
        let from = self.gain_db.unwrap_or(wanted);
        let seconds = piece.len() as f64 / SAMPLE_RATE as f64;
        let to = from + (wanted - from).clamp(-STREAM_GAIN_DB_PER_SEC * seconds, STREAM_GAIN_DB_PER_SEC * seconds);
        self.gain_db = Some(to);
        let n = piece.len() as f64;
        for (i, s) in piece.iter_mut().enumerate() {
            let gain = db_to_gain(from + (to - from) * i as f64 / n);
            *s = self.limiter.filter_mono(*s * gain / self.ceiling) * self.ceiling;
        }
    }
}

/// Brings the track to the loudness target and keeps its true peak under the ceiling.
pub fn master(samples: &mut Vec<f32>) -> Loudness {
    // Gain to target, limit, and once more to win back what the limiter took.
    for _ in 0..2 {
        let lufs = analysis::integrated_lufs(samples, SAMPLE_RATE);
        if !lufs.is_finite() {
            return analysis::loudness(samples); // silence: nothing to normalise
        }
        if (lufs - TARGET_LUFS).abs() < 0.3 {
            break;
        }
        let gain = db_to_gain(TARGET_LUFS - lufs);
        samples.iter_mut().for_each(|s| *s *= gain);
        // Leave 0.5 dB for inter-sample peaks the sample-peak limiter cannot see.
        let ceiling = CEILING_DBTP - 0.5;
        let peak = samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
        if peak > db_to_gain(ceiling) {
            limit(samples, ceiling);
        }
    }
    let mut measured = analysis::loudness(samples);
    if measured.true_peak_dbtp > CEILING_DBTP {
        let gain = db_to_gain(CEILING_DBTP - 0.05 - measured.true_peak_dbtp);
        samples.iter_mut().for_each(|s| *s *= gain);
        measured = analysis::loudness(samples);
    }
    measured
}
