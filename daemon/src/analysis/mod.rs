//! Measuring audio: EBU R128 loudness and true peak, tempo, a terminal waveform; the key
//! (`tonal`) and the form (`form`).

pub mod form;
pub mod pitch;
pub mod stereo;
pub mod tonal;

use ebur128::{EbuR128, Mode};

use crate::audio::Audio;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Loudness {
    /// Integrated loudness (LUFS); -inf for silence.
    pub integrated_lufs: f64,
    /// True peak (dBTP), 4× oversampled.
    pub true_peak_dbtp: f64,
}

/// Loudness of a track (BS.1770: the channels' power summed).
pub fn loudness(audio: &Audio) -> Loudness {
    loudness_at(&audio.samples, audio.channels, audio.sample_rate)
}

/// Integrated loudness alone (LUFS) of interleaved `channels`, much cheaper than with true
/// peak. A long piece is measured in two halves side by side and their gating blocks pooled:
/// the second meter starts 300 ms before the split, so its blocks continue the first one's
/// 100 ms grid (only its first block hears the K filter settle: far below 0.01 LU).
pub fn integrated_lufs(samples: &[f32], channels: u16, sample_rate: u32) -> f64 {
    let frame = usize::from(channels).max(1);
    let tenth = sample_rate as usize / 10 * frame;
    let meter = |part: &[f32]| -> Result<EbuR128, ebur128::Error> {
        let mut meter = EbuR128::new(channels.into(), sample_rate, Mode::I)?;
        meter.add_frames_f32(part)?;
        Ok(meter)
    };
    let measure = || -> Result<f64, ebur128::Error> {
        if samples.len() < 100 * tenth {
            return meter(samples)?.loudness_global();
        }
        let split = samples.len() / 2 / tenth * tenth;
        let (first, second) = rayon::join(|| meter(&samples[..split]), || meter(&samples[split - 3 * tenth..]));
        EbuR128::loudness_global_multiple([first?, second?].iter())
    };
    measure().unwrap_or(f64::NEG_INFINITY)
}

/// The true peak (dBTP) of interleaved `channels`: the louder channel's, 4× oversampled; a
/// long piece in two halves side by side.
fn true_peak_dbtp(samples: &[f32], channels: u16, sample_rate: u32) -> f64 {
    let frame = usize::from(channels).max(1);
    let peak = |part: &[f32]| -> Result<f64, ebur128::Error> {
        let mut meter = EbuR128::new(channels.into(), sample_rate, Mode::TRUE_PEAK)?;
        meter.add_frames_f32(part)?;
        let mut peak = 0f64;
        for channel in 0..channels.into() {
            peak = peak.max(meter.true_peak(channel)?);
        }
        Ok(peak)
    };
    if samples.len() < sample_rate as usize * 10 * frame {
        return peak(samples).map_or(f64::NEG_INFINITY, |p| 20.0 * p.max(1e-12).log10());
    }
    // The oversampling filter's history is a few dozen frames: an overlap of 100 lets the
    // second half's scan see the samples around the split.
    let split = (samples.len() / 2 / frame * frame).saturating_sub(100 * frame);
    let (first, second) = rayon::join(|| peak(&samples[..split + 100 * frame]), || peak(&samples[split..]));
    match (first, second) {
        (Ok(a), Ok(b)) => 20.0 * a.max(b).max(1e-12).log10(),
        _ => f64::NEG_INFINITY,
    }
}

/// Integrated loudness and true peak (the louder channel's) of interleaved `channels`, the
/// two measured side by side.
pub fn loudness_at(samples: &[f32], channels: u16, sample_rate: u32) -> Loudness {
    let (integrated_lufs, true_peak_dbtp) = rayon::join(
        || integrated_lufs(samples, channels, sample_rate),
        || true_peak_dbtp(samples, channels, sample_rate),
    );
    Loudness {
        integrated_lufs,
        true_peak_dbtp,
    }
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
    let hop = (sample_rate / 400) as usize; // 2.5 ms frames
    let onset = onset_strength(&high_band(samples, sample_rate, 2500.0), hop);
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

/// The groove: mean onset strength (10 ms frames) at each 16th step of the bar, bars counted
/// from the start of the file at `bpm`.
pub fn groove_profile(samples: &[f32], sample_rate: u32, bpm: f64) -> [f32; 16] {
    let hop = (sample_rate / 100) as usize;
    let onset = onset_strength(samples, hop);
    let step_sec = 60.0 / bpm / 4.0;
    let (mut sum, mut count) = ([0f32; 16], [0u32; 16]);
    for (i, o) in onset.iter().enumerate() {
        let t = i as f64 * hop as f64 / sample_rate as f64;
        let step = (t / step_sec).round() as usize % 16;
        sum[step] += o.max(0.0);
        count[step] += 1;
    }
    std::array::from_fn(|k| sum[k] / count[k].max(1) as f32)
}

/// How the last second's loudness compares with the median second's (dB): a track that
/// loops should end at the level it plays at.
pub fn seam_level_db(samples: &[f32], sample_rate: u32) -> f64 {
    let mut seconds: Vec<f64> = samples
        .chunks_exact(sample_rate as usize)
        .map(|second| integrated_lufs(second, 1, sample_rate))
        .filter(|l| l.is_finite())
        .collect();
    let Some(&last) = seconds.last() else {
        return 0.0;
    };
    let middle = seconds.len() / 2;
    last - *seconds.select_nth_unstable_by(middle, f64::total_cmp).1
}

/// A periodic Hann window of `len` samples (what every FFT analysis here multiplies by).
pub fn hann(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / len as f32).cos())
        .collect()
}

/// The signal between `low` and `high` Hz (4th-order slopes on both sides).
pub fn band_pass(samples: &[f32], sample_rate: u32, low: f32, high: f32) -> Vec<f32> {
    use fundsp::prelude::*;
    let mut filter = highpass_hz(low, 0.7) >> highpass_hz(low, 0.7) >> lowpass_hz(high, 0.7) >> lowpass_hz(high, 0.7);
    filter.set_sample_rate(sample_rate as f64);
    samples.iter().map(|&s| filter.filter_mono(s)).collect()
}

/// The signal above `hz` (a 2nd-order high-pass).
fn high_band(samples: &[f32], sample_rate: u32, hz: f64) -> Vec<f32> {
    use fundsp::prelude::*;
    let mut filter = highpass_hz(hz as f32, 0.7);
    filter.set_sample_rate(sample_rate as f64);
    samples.iter().map(|&s| filter.filter_mono(s)).collect()
}

/// How percussive a piece is: the spread of onset strength (rise of log energy in 10 ms frames)
/// above 2.5 kHz, where hats, snares and brushes are. About 0 for pads alone.
pub fn percussiveness(samples: &[f32], sample_rate: u32) -> f64 {
    let onset = onset_strength(&high_band(samples, sample_rate, 2500.0), (sample_rate / 100) as usize);
    // onset_strength removes the mean; the spread is what drums add.
    (onset.iter().map(|o| (o * o) as f64).sum::<f64>() / onset.len().max(1) as f64).sqrt()
}

/// Vinyl crackle: clicks per second, counted as spikes above 12 kHz (where a lofi mix has
/// little music left, only noise and the clicks' broadband spikes) that reach ten times the
/// band's median level (the noise floor, which sparse clicks do not move).
pub fn clicks_per_second(samples: &[f32], sample_rate: u32) -> f64 {
    let band = high_band(samples, sample_rate, 12_000.0);
    let mut levels: Vec<f32> = band.iter().map(|s| s.abs()).collect();
    if levels.is_empty() {
        return 0.0;
    }
    let middle = levels.len() / 2;
    let floor = *levels.select_nth_unstable_by(middle, f32::total_cmp).1;
    let mut clicks = 0usize;
    let mut quiet_for = usize::MAX;
    for s in &band {
        if s.abs() > 10.0 * floor {
            if quiet_for > (sample_rate / 200) as usize {
                clicks += 1; // one click, however many samples it spans (5 ms apart at least)
            }
            quiet_for = 0;
        } else {
            quiet_for = quiet_for.saturating_add(1);
        }
    }
    clicks as f64 * sample_rate as f64 / samples.len() as f64
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
