//! Mastering: integrated loudness to -14 LUFS, true peak at or below -1 dBTP.

use fundsp::prelude::*;

use crate::analysis::{self, Loudness};
use crate::SAMPLE_RATE;

pub const TARGET_LUFS: f64 = -14.0;
pub const CEILING_DBTP: f64 = -1.0;

fn db_to_gain(db: f64) -> f32 {
    10f64.powf(db / 20.0) as f32
}

/// Look-ahead limiter to `ceiling_db` sample peak (fundsp's limiter works on ±1, so the
/// signal is scaled around it; its look-ahead latency is removed).
fn limit(samples: &mut Vec<f32>, ceiling_db: f64) {
    let ceiling = db_to_gain(ceiling_db);
    let attack = 0.005;
    let mut limiter = limiter(attack, 0.12);
    limiter.set_sample_rate(SAMPLE_RATE as f64);
    let latency = (SAMPLE_RATE as f32 * attack).round() as usize;
    let input = samples.iter().copied().chain(std::iter::repeat_n(0.0, latency));
    let limited: Vec<f32> = input
        .map(|s| limiter.filter_mono(s / ceiling) * ceiling)
        .skip(latency)
        .collect();
    *samples = limited;
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
