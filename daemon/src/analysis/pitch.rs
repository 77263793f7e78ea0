//! Pitch wobble: how far held notes drift in pitch, in cents — what tape wow and flutter
//! do, and what a steady synth does not. Measured on the isolated partials of the keys'
//! range (200–1500 Hz) frame by frame, each one's frequency read from the phase advance
//! between frames (a phase vocoder: far finer than the FFT's bins), over every partial
//! followed for at least a second (a held note).

use realfft::RealFftPlanner;

const FRAME: usize = 4096;
const HOP: usize = 256;
const LOW_HZ: f64 = 200.0;
const HIGH_HZ: f64 = 1500.0;
const MIN_HELD_SEC: f64 = 1.0;

/// Pitch deviation (cents, RMS) of a held partial from its mean pitch, the median over
/// every partial held long enough; `None` when nothing is held long enough to tell.
pub fn wobble_cents(samples: &[f32], sample_rate: u32) -> Option<f64> {
    let rate = f64::from(sample_rate);
    let bin_hz = rate / FRAME as f64;
    let (low, high) = ((LOW_HZ / bin_hz) as usize, (HIGH_HZ / bin_hz) as usize);
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME);
    let window = super::hann(FRAME);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let min_frames = (MIN_HELD_SEC * rate / HOP as f64) as usize;
    let advance = std::f64::consts::TAU * HOP as f64 / FRAME as f64;

    // Partials being followed: (bin, frequencies frame by frame).
    let mut open: Vec<(usize, Vec<f64>)> = Vec::new();
    let mut deviations: Vec<f64> = Vec::new(); // each held partial's RMS deviation
    let close = |track: Vec<f64>, deviations: &mut Vec<f64>| {
        if track.len() >= min_frames {
            let mean = track.iter().sum::<f64>() / track.len() as f64;
            let squares: f64 = track.iter().map(|f| (1200.0 * (f / mean).log2()).powi(2)).sum();
            deviations.push((squares / track.len() as f64).sqrt());
        }
    };
    let mut previous_phases: Option<Vec<f64>> = None;
    for start in (0..samples.len().saturating_sub(FRAME)).step_by(HOP) {
        for ((i, s), w) in input.iter_mut().zip(&samples[start..start + FRAME]).zip(&window) {
            *i = s * w;
        }
        fft.process(&mut input, &mut spectrum).ok()?;
        let power: Vec<f32> = spectrum.iter().map(|c| c.norm_sqr()).collect();
        let phases: Vec<f64> = spectrum.iter().map(|c| f64::from(c.arg())).collect();
        let Some(previous) = previous_phases.replace(phases) else {
            continue;
        };
        let phases = previous_phases.as_ref().expect("just set");
        // The partials: local maxima within 20 dB of the band's strongest, standing 12 dB
        // over the spectrum three bins away (a neighbour that close beats with it and
        // bends its phase).
        let loudest = power[low..=high].iter().copied().fold(0f32, f32::max);
        let peaks = (low..=high).filter(|&k| {
            let p = power[k];
            p > loudest * 1e-2
                && p > 1e-9
                && p >= power[k - 1]
                && p > power[k + 1]
                && p > 16.0 * power[k - 3].max(power[k + 3])
        });
        let mut continued: Vec<(usize, Vec<f64>)> = Vec::new();
        for k in peaks {
            let deviation = wrap(phases[k] - previous[k] - advance * k as f64);
            let frequency = (k as f64 + deviation / advance) * bin_hz;
            // A partial goes on while its peak moves at most one bin (a wobbling partial
            // crosses bin edges) and its pitch less than a quarter tone.
            let same = open.iter().position(|(bin, track)| {
                bin.abs_diff(k) <= 1
                    && track
                        .last()
                        .is_some_and(|&last| (1200.0 * (frequency / last).log2()).abs() < 50.0)
            });
            let mut track = same.map(|i| open.swap_remove(i).1).unwrap_or_default();
            track.push(frequency);
            continued.push((k, track));
        }
        for (_, ended) in std::mem::replace(&mut open, continued) {
            close(ended, &mut deviations);
        }
    }
    for (_, track) in open {
        close(track, &mut deviations);
    }
    // The median partial: one that caught an attack or a neighbour's beating is an outlier.
    let middle = deviations.len() / 2;
    (!deviations.is_empty()).then(|| *deviations.select_nth_unstable_by(middle, f64::total_cmp).1)
}

/// An angle in -π..π.
fn wrap(angle: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    angle - tau * (angle / tau).round()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(depth_cents: f64) -> Vec<f32> {
        // 440 Hz, its pitch swinging ±depth at 0.5 Hz (tape wow).
        let mut phase = 0f64;
        (0..32_000 * 8)
            .map(|i| {
                let t = i as f64 / 32_000.0;
                let hz = 440.0 * 2f64.powf(depth_cents * (std::f64::consts::TAU * 0.5 * t).sin() / 1200.0);
                phase += std::f64::consts::TAU * hz / 32_000.0;
                (phase.sin() * 0.5) as f32
            })
            .collect()
    }

    #[test]
    fn a_steady_tone_does_not_wobble_and_wow_is_measured_in_cents() {
        let steady = wobble_cents(&tone(0.0), 32_000).unwrap();
        assert!(steady < 0.05, "{steady}");
        // A sine swing of ±20 cents has an RMS of 20/√2 ≈ 14.1.
        let wow = wobble_cents(&tone(20.0), 32_000).unwrap();
        assert!((wow - 14.1).abs() < 1.0, "{wow}");
        assert_eq!(wobble_cents(&[0.0; 1000], 32_000), None);
    }
}
