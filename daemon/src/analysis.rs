//! Measuring audio: EBU R128 loudness and true peak, tempo, and a terminal waveform.

use ebur128::{EbuR128, Mode};

use crate::SAMPLE_RATE;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated loudness (LUFS); -inf for silence.
    pub integrated_lufs: f64,
    /// True peak (dBTP), 4× oversampled.
    pub true_peak_dbtp: f64,
}

/// Loudness of 32 kHz mono audio.
pub fn loudness(samples: &[f32]) -> Loudness {
    loudness_at(samples, SAMPLE_RATE)
}

/// Integrated loudness alone (LUFS), much cheaper than with true peak.
pub fn integrated_lufs(samples: &[f32]) -> f64 {
    let measure = || -> Result<f64, ebur128::Error> {
        let mut meter = EbuR128::new(1, SAMPLE_RATE, Mode::I)?;
        meter.add_frames_f32(samples)?;
        meter.loudness_global()
    };
    measure().unwrap_or(f64::NEG_INFINITY)
}

pub fn loudness_at(samples: &[f32], sample_rate: u32) -> Loudness {
    let measure = || -> Result<Loudness, ebur128::Error> {
        let mut meter = EbuR128::new(1, sample_rate, Mode::I | Mode::TRUE_PEAK)?;
        meter.add_frames_f32(samples)?;
        Ok(Loudness {
            integrated_lufs: meter.loudness_global()?,
            true_peak_dbtp: 20.0 * meter.true_peak(0)?.max(1e-12).log10(),
        })
    };
    measure().unwrap_or(Loudness {
        integrated_lufs: f64::NEG_INFINITY,
        true_peak_dbtp: f64::NEG_INFINITY,
    })
}

/// Onset strength per frame of `hop` samples: positive change of log energy (half-wave rectified).
fn onset_strength(samples: &[f32], hop: usize) -> Vec<f32> {
    let energies: Vec<f32> = samples
        .chunks(hop)
        .map(|frame| (frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32 + 1e-9).ln())
        .collect();
    let flux: Vec<f32> = energies.windows(2).map(|w| (w[1] - w[0]).max(0.0)).collect();
    // Smooth over ~12 ms so humanised timing does not split the autocorrelation peaks.
    let mut onset: Vec<f32> = flux.windows(5).map(|w| w.iter().sum::<f32>() / 5.0).collect();
    let mean = onset.iter().sum::<f32>() / onset.len().max(1) as f32;
    onset.iter_mut().for_each(|o| *o -= mean);
    onset
}

/// Estimated tempo in BPM from the autocorrelation of an onset envelope, searched over
/// 60–180 BPM. The envelope is taken above 2.5 kHz, where hats and snares mark the grid
/// clearly (boom-bap kicks are syncopated and the bass smears the low band); each
/// candidate beat is scored with its multiples (2 and 4 beats, i.e. the bar) and a mild
/// preference for 70–110 BPM against double/half-tempo errors. `None` for audio too
/// short or without a beat.
pub fn estimate_bpm(samples: &[f32], sample_rate: u32) -> Option<f64> {
    use fundsp::prelude::*;
    let hop = (sample_rate / 400) as usize; // 2.5 ms frames
    let mut high_band = highpass_hz(2500.0, 0.7);
    high_band.set_sample_rate(sample_rate as f64);
    let high: Vec<f32> = samples.iter().map(|&s| high_band.filter_mono(s)).collect();
    let onset = onset_strength(&high, hop);
    let frame_rate = sample_rate as f64 / hop as f64;
    let lag_for = |bpm: f64| frame_rate * 60.0 / bpm;
    let (min_lag, max_lag) = (lag_for(180.0) as usize, lag_for(60.0).ceil() as usize);
    if onset.len() < max_lag * 6 {
        return None;
    }
    let autocorr = |lag: usize| -> f64 {
        if lag >= onset.len() {
            return 0.0;
        }
        onset
            .iter()
            .zip(&onset[lag..])
            .map(|(a, b)| (a * b) as f64)
            .sum::<f64>()
            / (onset.len() - lag) as f64
    };
    let score = |lag: usize| autocorr(lag) + 0.5 * autocorr(2 * lag) + 0.25 * autocorr(4 * lag);
    let scores: Vec<(usize, f64)> = (min_lag..=max_lag).map(|lag| (lag, score(lag))).collect();
    let (best_lag, best) = scores
        .iter()
        .map(|&(lag, score)| {
            let bpm = frame_rate * 60.0 / lag as f64;
            let prior = (-0.5 * ((bpm / 88.0).log2() / 0.8).powi(2)).exp();
            (lag, score * prior)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    if best <= 0.0 {
        return None;
    }
    // Parabolic interpolation around the peak for sub-frame precision.
    let at = |lag: usize| scores.iter().find(|s| s.0 == lag).map(|s| s.1);
    let refined = match (at(best_lag - 1), at(best_lag), at(best_lag + 1)) {
        (Some(a), Some(b), Some(c)) if a - 2.0 * b + c < 0.0 => best_lag as f64 + 0.5 * (a - c) / (a - 2.0 * b + c),
        _ => best_lag as f64,
    };
    Some(frame_rate * 60.0 / refined)
}

/// A `width`×`rows` waveform of peak levels in block characters, mirrored around the
/// centre line (rows must be even).
pub fn waveform(samples: &[f32], width: usize, rows: usize) -> String {
    const BLOCKS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let half = rows / 2;
    let chunk = samples.len().div_ceil(width.max(1)).max(1);
    let peaks: Vec<f32> = samples
        .chunks(chunk)
        .map(|c| c.iter().fold(0.0f32, |m, s| m.max(s.abs())).min(1.0))
        .collect();
    let mut lines = Vec::with_capacity(rows);
    for row in 0..half {
        // Row 0 is the top; each row covers 1/half of the amplitude range in 8 steps.
        let floor = (half - 1 - row) as f32 / half as f32;
        let line: String = peaks
            .iter()
            .map(|&p| {
                let fill = ((p - floor) * half as f32 * 8.0).clamp(0.0, 8.0) as usize;
                BLOCKS[fill]
            })
            .collect();
        lines.push(line);
    }
    let mirrored: Vec<String> = lines.iter().rev().cloned().collect();
    lines.extend(mirrored);
    lines.join("\n")
}
