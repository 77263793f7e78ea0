//! A kick tuned to the key: a drum's fixed fundamental (the default kick sits at 50 Hz, between
//! G and A♭) would otherwise pull every key towards its own pitch.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

use crate::SAMPLE_RATE;

/// Zero-padded analysis length: 0.5 s at 32 kHz, 2 Hz bins.
const FFT_LEN: usize = 16_384;

/// The strongest frequency between 30 and 150 Hz in the first half second; None for silence.
pub fn fundamental_hz(sound: &[f32]) -> Option<f32> {
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FFT_LEN);
    let mut input = fft.make_input_vec();
    for (x, s) in input.iter_mut().zip(sound) {
        *x = *s;
    }
    let mut spectrum = fft.make_output_vec();
    fft.process(&mut input, &mut spectrum).ok()?;
    let bin_hz = SAMPLE_RATE as f32 / FFT_LEN as f32;
    let range = (30.0 / bin_hz) as usize..=(150.0 / bin_hz) as usize;
    let (bin, peak) = range
        .map(|k| (k, Complex::norm(spectrum[k])))
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    (peak > 1e-6).then_some(bin as f32 * bin_hz)
}

/// The pitch of pitch class `tonic` (0 = C) in the kick's register, 40–80 Hz (E1 to E♭2).
fn tonic_in_kick_register(tonic: i32) -> f32 {
    let e1 = 41.203_f32;
    e1 * 2f32.powf((tonic - 4).rem_euclid(12) as f32 / 12.0)
}

/// `sound` played faster or slower so its fundamental lands on the tonic in the kick's
/// register; unchanged when it has no clear pitch.
pub fn tuned_to(sound: &[f32], tonic: i32) -> Vec<f32> {
    let Some(hz) = fundamental_hz(sound) else {
        return sound.to_vec();
    };
    let ratio = (tonic_in_kick_register(tonic) / hz) as f64;
    let len = (sound.len() as f64 / ratio) as usize;
    (0..len)
        .map(|i| {
            let at = i as f64 * ratio;
            let (index, frac) = (at as usize, (at.fract()) as f32);
            let a = sound.get(index).copied().unwrap_or(0.0);
            let b = sound.get(index + 1).copied().unwrap_or(0.0);
            a + (b - a) * frac
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f32) -> Vec<f32> {
        (0..16_000)
            .map(|i| (std::f32::consts::TAU * hz * i as f32 / SAMPLE_RATE as f32).sin() * (-(i as f32) / 6000.0).exp())
            .collect()
    }

    #[test]
    fn the_kick_lands_on_the_tonic() {
        let kick = tone(50.0);
        assert!((fundamental_hz(&kick).unwrap() - 50.0).abs() < 2.5);
        for (tonic, hz) in [(2, 73.42), (9, 55.0), (7, 49.0), (0, 65.41), (5, 43.65), (4, 41.2)] {
            let tuned = fundamental_hz(&tuned_to(&kick, tonic)).unwrap();
            assert!((tuned - hz).abs() < 2.5, "tonic {tonic}: {tuned} Hz, wanted {hz}");
        }
        assert_eq!(tuned_to(&[0.0; 100], 3), vec![0.0; 100], "silence stays");
    }
}
