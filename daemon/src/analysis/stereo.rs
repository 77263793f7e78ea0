//! The stereo picture, as a producer checks it: how wide, whether the channels agree in
//! phase, and what is lost when a phone or a mono speaker sums them.

use crate::audio::Audio;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StereoImage {
    /// Side energy over mid energy: 0 for mono, 1 for unrelated channels of equal level.
    pub width: f64,
    /// Correlation of left and right: +1 mono, 0 unrelated, below 0 cancels in mono.
    pub correlation: f64,
    /// The mono sum's loudness (played on both speakers) minus the stereo loudness, dB:
    /// 0 for a mono-compatible mix, negative where the channels cancel.
    pub mono_sum_db: f64,
}

/// The stereo image of a two-channel track; `None` for mono.
pub fn image(audio: &Audio) -> Option<StereoImage> {
    if audio.channels != 2 {
        return None;
    }
    let (mut mid, mut side, mut left, mut right, mut cross) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for frame in audio.samples.chunks_exact(2) {
        let (l, r) = (f64::from(frame[0]), f64::from(frame[1]));
        mid += ((l + r) / 2.0).powi(2);
        side += ((l - r) / 2.0).powi(2);
        left += l * l;
        right += r * r;
        cross += l * r;
    }
    let stereo_lufs = super::integrated_lufs(&audio.samples, 2, audio.sample_rate);
    // The sum on both speakers: 3 dB over the same signal measured as one channel.
    let mono_lufs = super::integrated_lufs(&audio.mono_mix(), 1, audio.sample_rate) + 10.0 * 2f64.log10();
    Some(StereoImage {
        width: side / mid.max(1e-12),
        correlation: cross / (left * right).sqrt().max(1e-12),
        mono_sum_db: mono_lufs - stereo_lufs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f32, phase: f32) -> Vec<f32> {
        (0..32_000)
            .map(|i| (i as f32 / 32_000.0 * freq * std::f32::consts::TAU + phase).sin() * 0.3)
            .collect()
    }

    #[test]
    fn mono_unrelated_and_opposite_channels_are_told_apart() {
        let a = tone(440.0, 0.0);
        let same = image(&Audio::from_channels(&a, &a)).unwrap();
        assert!(same.width < 1e-9 && same.correlation > 0.999 && same.mono_sum_db.abs() < 0.05);

        let unrelated = image(&Audio::from_channels(&a, &tone(660.0, 0.0))).unwrap();
        assert!((unrelated.width - 1.0).abs() < 0.05, "{unrelated:?}");
        assert!(unrelated.correlation.abs() < 0.05);
        assert!((unrelated.mono_sum_db + 3.0).abs() < 0.3, "{unrelated:?}");

        let opposite = image(&Audio::from_channels(&a, &tone(440.0, std::f32::consts::PI))).unwrap();
        assert!(
            opposite.correlation < -0.99 && opposite.mono_sum_db < -40.0,
            "{opposite:?}"
        );
        assert_eq!(image(&Audio::mono(a)), None);
    }
}
