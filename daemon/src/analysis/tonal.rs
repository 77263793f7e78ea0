//! Pitch content: chroma (energy per pitch class) from spectral peaks, and the key by
//! Krumhansl–Kessler profile correlation.

use realfft::num_complex::Complex;
use realfft::RealFftPlanner;

/// Samples per analysis frame: 256 ms at 32 kHz, ~4 Hz bins, enough to tell semitones
/// apart down to the bass register.
const FRAME: usize = 8192;
/// Pitches counted: the bass's (and a kick's) fundamentals up to the keys' upper partials.
const LOWEST_HZ: f32 = 50.0;
const HIGHEST_HZ: f32 = 2_000.0;

pub const PITCH_CLASSES: [&str; 12] = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];

/// Krumhansl–Kessler probe-tone ratings, tonic first.
const MAJOR_PROFILE: [f32; 12] = [6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88];
const MINOR_PROFILE: [f32; 12] = [6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17];

/// Chroma of each frame of `hop` samples (frames of [`FRAME`] samples, Hann window);
/// each frame sums the magnitudes of the spectral peaks that fall on each pitch class.
pub fn chroma_frames(samples: &[f32], sample_rate: u32, hop: usize) -> Vec<[f32; 12]> {
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(FRAME);
    let window = super::hann(FRAME);
    let bin_hz = sample_rate as f32 / FRAME as f32;
    let (first, last) = (
        (LOWEST_HZ / bin_hz).ceil() as usize,
        ((HIGHEST_HZ / bin_hz) as usize).min(FRAME / 2 - 1),
    );
    let pitch_class: Vec<usize> = (0..=last)
        .map(|k| {
            let midi = 69.0 + 12.0 * (k.max(1) as f32 * bin_hz / 440.0).log2();
            (midi.round() as i64).rem_euclid(12) as usize
        })
        .collect();
    let (mut input, mut spectrum) = (fft.make_input_vec(), fft.make_output_vec());
    let mut magnitude = vec![0f32; FRAME / 2 + 1];
    let mut frames = Vec::new();
    let mut start = 0;
    while start + FRAME <= samples.len() {
        for ((x, s), w) in input.iter_mut().zip(&samples[start..start + FRAME]).zip(&window) {
            *x = s * w;
        }
        if fft.process(&mut input, &mut spectrum).is_err() {
            break;
        }
        for (m, c) in magnitude.iter_mut().zip(&spectrum) {
            *m = Complex::norm(*c);
        }
        let mut chroma = [0f32; 12];
        for k in first..=last {
            // Peaks only: the partials of notes, not the broadband noise of drums and crackle.
            if magnitude[k] > magnitude[k - 1] && magnitude[k] >= magnitude[k + 1] {
                chroma[pitch_class[k]] += magnitude[k];
            }
        }
        frames.push(chroma);
        start += hop;
    }
    frames
}

/// A key: tonic pitch class (0 = C), mode, and how well the profile fits (Pearson r).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Key {
    pub tonic: usize,
    pub minor: bool,
    pub fit: f32,
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = if self.minor { "minor" } else { "major" };
        write!(f, "{} {mode}", PITCH_CLASSES[self.tonic])
    }
}

fn pearson(a: &[f32; 12], b: &[f32; 12]) -> f32 {
    let mean = |v: &[f32; 12]| v.iter().sum::<f32>() / 12.0;
    let (ma, mb) = (mean(a), mean(b));
    let (mut num, mut da, mut db) = (0.0, 0.0, 0.0);
    for i in 0..12 {
        num += (a[i] - ma) * (b[i] - mb);
        da += (a[i] - ma).powi(2);
        db += (b[i] - mb).powi(2);
    }
    num / (da * db).sqrt().max(1e-12)
}

/// The key whose rotated profile correlates best with `chroma` (summed over the piece).
pub fn estimate_key(chroma: &[f32; 12]) -> Key {
    let mut best = Key {
        tonic: 0,
        minor: false,
        fit: f32::MIN,
    };
    for tonic in 0..12 {
        for (minor, profile) in [(false, &MAJOR_PROFILE), (true, &MINOR_PROFILE)] {
            let rotated: [f32; 12] = std::array::from_fn(|pc| profile[(pc + 12 - tonic) % 12]);
            let fit = pearson(chroma, &rotated);
            if fit > best.fit {
                best = Key { tonic, minor, fit };
            }
        }
    }
    best
}

/// The key of a whole piece of audio.
pub fn key_of(samples: &[f32], sample_rate: u32) -> Option<Key> {
    let frames = chroma_frames(samples, sample_rate, FRAME / 2);
    let mut total = [0f32; 12];
    for frame in &frames {
        for (t, c) in total.iter_mut().zip(frame) {
            *t += c;
        }
    }
    (total.iter().sum::<f32>() > 0.0).then(|| estimate_key(&total))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chord progression of sine tones, each chord a second.
    fn progression(chords: &[&[f32]]) -> Vec<f32> {
        let rate = 32_000.0;
        chords
            .iter()
            .flat_map(|chord| {
                (0..32_000).map(move |i| {
                    chord
                        .iter()
                        .map(|&midi| {
                            (std::f32::consts::TAU * 440.0 * 2f32.powf((midi - 69.0) / 12.0) * i as f32 / rate).sin()
                        })
                        .sum::<f32>()
                        * 0.1
                })
            })
            .collect()
    }

    #[test]
    fn cadences_name_their_key() {
        // I–IV–V–I in D major; i–iv–V–i in A minor.
        let d_major = progression(&[
            &[50.0, 62.0, 66.0, 69.0],
            &[43.0, 62.0, 67.0, 71.0],
            &[45.0, 61.0, 64.0, 69.0],
            &[50.0, 62.0, 66.0, 69.0],
        ]);
        let key = key_of(&d_major, 32_000).unwrap();
        assert_eq!((key.tonic, key.minor), (2, false), "{key}");
        let a_minor = progression(&[
            &[45.0, 57.0, 60.0, 64.0],
            &[50.0, 57.0, 62.0, 65.0],
            &[52.0, 56.0, 59.0, 64.0],
            &[45.0, 57.0, 60.0, 64.0],
        ]);
        let key = key_of(&a_minor, 32_000).unwrap();
        assert_eq!((key.tonic, key.minor, key.to_string().as_str()), (9, true, "A minor"));
        assert!(key_of(&vec![0.0; 64_000], 32_000).is_none(), "silence has no key");
    }
}
