//! The visualizer's analysis: the level of ten octave bands (32 Hz … 16 kHz, like a graphic
//! EQ) in a window of mixed audio, log-scaled to 0–1.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

pub const BANDS: usize = 10;
/// Band centres; each band spans half an octave either side.
pub const BAND_CENTRES_HZ: [f32; BANDS] = [
    31.25, 62.5, 125.0, 250.0, 500.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0, 16_000.0,
];
/// Samples per analysis: 85 ms at 48 kHz, so the lowest band still spans two FFT bins.
pub const WINDOW: usize = 4096;
/// A band at or under this level shows 0; a full-scale sine at a band's centre shows 1 at
/// `CEILING_DB`. Mastered music (−14 LUFS) lands mid-scale.
const FLOOR_DB: f32 = -66.0;
const CEILING_DB: f32 = -6.0;

pub struct Spectrum {
    rate: u32,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// FFT bins of each band, `start..end`.
    bins: [(usize, usize); BANDS],
    /// Turns a band's summed |X|² into its mean square in the signal (Parseval, Hann window).
    power_scale: f32,
}

impl Spectrum {
    pub fn new(rate: u32) -> Spectrum {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW);
        let window = crate::analysis::hann(WINDOW);
        let window_energy: f32 = window.iter().map(|w| w * w).sum();
        let bin_hz = rate as f32 / WINDOW as f32;
        let last_bin = WINDOW / 2;
        let bins = BAND_CENTRES_HZ.map(|centre| {
            let edge = |hz: f32| ((hz / bin_hz).round() as usize).clamp(1, last_bin);
            let (start, end) = (
                edge(centre / std::f32::consts::SQRT_2),
                edge(centre * std::f32::consts::SQRT_2),
            );
            (start, end.max(start + 1))
        });
        Spectrum {
            rate,
            input: fft.make_input_vec(),
            output: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            fft,
            window,
            bins,
            power_scale: 2.0 / (WINDOW as f32 * window_energy),
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Band levels of the last [`WINDOW`] samples (fewer are padded with silence before them).
    pub fn levels(&mut self, samples: &[f32]) -> [f32; BANDS] {
        let samples = &samples[samples.len().saturating_sub(WINDOW)..];
        let pad = WINDOW - samples.len();
        self.input[..pad].fill(0.0);
        for ((x, s), w) in self.input[pad..].iter_mut().zip(samples).zip(&self.window[pad..]) {
            *x = s * w;
        }
        if self
            .fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .is_err()
        {
            return [0.0; BANDS]; // only on wrong buffer sizes, which `new` rules out
        }
        self.bins.map(|(start, end)| {
            let power: f32 = self.output[start..end].iter().map(Complex::norm_sqr).sum();
            // A sine of amplitude A has a mean square of A²/2: ×2 makes full scale 0 dB.
            let db = 10.0 * (2.0 * power * self.power_scale).max(1e-12).log10();
            ((db - FLOOR_DB) / (CEILING_DB - FLOOR_DB)).clamp(0.0, 1.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(hz: f32, amplitude: f32, rate: u32) -> Vec<f32> {
        (0..WINDOW)
            .map(|i| amplitude * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
            .collect()
    }

    #[test]
    fn a_tone_lights_its_band_only() {
        for rate in [48_000, 44_100] {
            let mut spectrum = Spectrum::new(rate);
            let levels = spectrum.levels(&sine(1_000.0, 0.5, rate));
            assert!(levels[5] > 0.8, "1 kHz band at {rate} Hz: {levels:?}");
            assert_eq!(levels[0], 0.0, "32 Hz band at {rate} Hz: {levels:?}");
            assert!(levels.iter().enumerate().all(|(i, &l)| i == 5 || l < levels[5] - 0.2));
            let low = spectrum.levels(&sine(40.0, 0.5, rate));
            assert!(low[0] > 0.8 && low[5] == 0.0, "40 Hz at {rate} Hz: {low:?}");
        }
    }

    #[test]
    fn silence_is_zero_and_levels_follow_amplitude() {
        let mut spectrum = Spectrum::new(48_000);
        assert_eq!(spectrum.levels(&[0.0; WINDOW]), [0.0; BANDS]);
        assert_eq!(spectrum.levels(&[]), [0.0; BANDS]);
        let loud = spectrum.levels(&sine(250.0, 0.5, 48_000))[3];
        let quiet = spectrum.levels(&sine(250.0, 0.05, 48_000))[3];
        // 20 dB down is a third of the 60 dB scale.
        assert!((loud - quiet - 20.0 / 60.0).abs() < 0.02, "{loud} vs {quiet}");
    }
}
