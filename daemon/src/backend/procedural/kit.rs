//! The sample pack: drum one-shots and texture loops.
//!
//! The default pack in `samples/default/` is rendered by [`synthesize`] (run
//! `lofi-daemon render-samples samples/default` to rebuild it) and embedded in the
//! binary. A user pack directory overrides any of its files by name.

use std::path::Path;

use fundsp::prelude::*;

use crate::audio::Audio;
use crate::audio_file::wav;
use crate::SAMPLE_RATE;

/// Every sound a pack provides, by file stem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sound {
    Kick,
    Snare,
    HatClosed,
    HatOpen,
    Rim,
    Crackle,
    Rain,
}

impl Sound {
    pub const ALL: [Sound; 7] = [
        Sound::Kick,
        Sound::Snare,
        Sound::HatClosed,
        Sound::HatOpen,
        Sound::Rim,
        Sound::Crackle,
        Sound::Rain,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Sound::Kick => "kick.wav",
            Sound::Snare => "snare.wav",
            Sound::HatClosed => "hat_closed.wav",
            Sound::HatOpen => "hat_open.wav",
            Sound::Rim => "rim.wav",
            Sound::Crackle => "crackle.wav",
            Sound::Rain => "rain.wav",
        }
    }

    fn embedded(self) -> &'static [u8] {
        match self {
            Sound::Kick => include_bytes!("../../../../samples/default/kick.wav"),
            Sound::Snare => include_bytes!("../../../../samples/default/snare.wav"),
            Sound::HatClosed => include_bytes!("../../../../samples/default/hat_closed.wav"),
            Sound::HatOpen => include_bytes!("../../../../samples/default/hat_open.wav"),
            Sound::Rim => include_bytes!("../../../../samples/default/rim.wav"),
            Sound::Crackle => include_bytes!("../../../../samples/default/crackle.wav"),
            Sound::Rain => include_bytes!("../../../../samples/default/rain.wav"),
        }
    }
}

/// Decoded samples for every [`Sound`], 32 kHz mono.
#[derive(Debug, Clone)]
pub struct Kit {
    sounds: Vec<(Sound, Vec<f32>)>,
}

fn decode(bytes: &[u8]) -> Result<Vec<f32>, hound::Error> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))?;
    reader
        .into_samples::<i16>()
        .map(|s| s.map(|v| v as f32 / i16::MAX as f32))
        .collect()
}

impl Kit {
    /// The embedded default pack.
    pub fn default_pack() -> Kit {
        let sounds = Sound::ALL
            .iter()
            .map(|&s| (s, decode(s.embedded()).expect("embedded sample pack is valid WAV")))
            .collect();
        Kit { sounds }
    }

    /// The default pack with any same-named 32 kHz WAVs from `dir` swapped in.
    /// Files that are missing or unreadable keep the default, with a warning in the log.
    pub fn with_overrides(dir: &Path) -> Kit {
        let mut kit = Kit::default_pack();
        for (sound, samples) in &mut kit.sounds {
            let path = dir.join(sound.file_name());
            if !path.exists() {
                continue;
            }
            match wav::read(&path) {
                Ok(audio) if audio.sample_rate == SAMPLE_RATE => *samples = audio.mono_mix().into_owned(),
                Ok(audio) => tracing::warn!(
                    "{} is {} Hz; the pack needs {SAMPLE_RATE} Hz, keeping the default",
                    path.display(),
                    audio.sample_rate
                ),
                Err(e) => {
                    tracing::warn!("cannot read {}: {e}; keeping the default", path.display())
                }
            }
        }
        kit
    }

    pub fn get(&self, sound: Sound) -> &[f32] {
        self.sounds
            .iter()
            .find(|(s, _)| *s == sound)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }
}

/// A fundsp node running at the pack's sample rate (fundsp defaults to 44.1 kHz).
fn at_rate<N: AudioNode>(mut node: An<N>) -> An<N> {
    node.set_sample_rate(SAMPLE_RATE as f64);
    node
}

/// Renders one sound of the default pack. Deterministic: same build, same samples.
pub fn synthesize(sound: Sound) -> Vec<f32> {
    let sr = SAMPLE_RATE as f64;
    let seconds = |s: f64| (s * sr) as usize;
    let t = |i: usize| i as f64 / sr;
    let mut out = match sound {
        Sound::Kick => {
            let mut click = at_rate(noise().seed(1) >> lowpass_hz(3000.0, 0.7));
            let mut phase = 0.0f64;
            (0..seconds(0.45))
                .map(|i| {
                    let t = t(i);
                    phase += (50.0 + 110.0 * (-t / 0.03).exp()) / sr;
                    let body = (phase * std::f64::consts::TAU).sin() * (-t / 0.17).exp();
                    let c = click.get_mono() as f64 * (-t / 0.003).exp() * 0.35;
                    ((body + c) * 1.6).tanh() as f32
                })
                .collect::<Vec<f32>>()
        }
        Sound::Snare => {
            let mut rattle = at_rate(noise().seed(2) >> bandpass_hz(2200.0, 0.6));
            let mut air = at_rate(noise().seed(3) >> highpass_hz(5000.0, 0.7));
            let mut phase = 0.0f64;
            (0..seconds(0.45))
                .map(|i| {
                    let t = t(i);
                    phase += (170.0 + 60.0 * (-t / 0.02).exp()) / sr;
                    let body = (phase * std::f64::consts::TAU).sin() * (-t / 0.06).exp() * 0.7;
                    let n = rattle.get_mono() as f64 * (-t / 0.13).exp() * 1.4
                        + air.get_mono() as f64 * (-t / 0.05).exp() * 0.4;
                    ((body + n) * 1.3).tanh() as f32
                })
                .collect()
        }
        Sound::HatClosed | Sound::HatOpen => {
            let decay = if sound == Sound::HatOpen { 0.22 } else { 0.035 };
            let metal = (square_hz(317.0) + square_hz(465.0) + square_hz(581.0) + square_hz(843.0)) * 0.25;
            let mut hat =
                at_rate((metal * 0.5 + noise().seed(4)) >> highpass_hz(7000.0, 0.8) >> lowpass_hz(12500.0, 0.6));
            (0..seconds(decay * 6.0))
                .map(|i| (hat.get_mono() as f64 * (-t(i) / decay).exp() * 0.8) as f32)
                .collect()
        }
        Sound::Rim => {
            let mut knock = at_rate(noise().seed(5) >> bandpass_hz(2600.0, 2.0));
            (0..seconds(0.12))
                .map(|i| {
                    let t = t(i);
                    let tone = (t * 1750.0 * std::f64::consts::TAU).sin() * (-t / 0.012).exp();
                    (tone * 0.6 + knock.get_mono() as f64 * (-t / 0.006).exp() * 2.0) as f32
                })
                .collect()
        }
        Sound::Crackle => crackle(seconds(4.0), 6),
        Sound::Rain => rain(seconds(8.0), 7),
    };
    let peak = out.iter().fold(0.0f32, |m, s| m.max(s.abs())).max(1e-9);
    out.iter_mut().for_each(|s| *s *= 0.89 / peak);
    out
}

/// Small deterministic PRNG for event timing inside the pack (xorshift64*).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Vinyl surface: a faint noise floor, many tiny ticks and a few louder pops.
fn crackle(len: usize, seed: u64) -> Vec<f32> {
    let mut surface = at_rate(pink::<f64>().seed(seed) >> highpass_hz(300.0, 0.7));
    let mut out: Vec<f32> = (0..len).map(|_| surface.get_mono() * 0.04).collect();
    let mut dice = Dice(seed * 0x9E37_79B9 + 1);
    let mut pos = 0.0;
    while (pos as usize) < len {
        pos += -dice.next().max(1e-9).ln() / 30.0 * SAMPLE_RATE as f64; // ~30 events/s
        let start = pos as usize;
        let big = dice.next() < 0.06;
        let amp = if big {
            0.5 + 0.5 * dice.next()
        } else {
            0.05 + 0.25 * dice.next().powi(2)
        };
        let width = if big { 24 } else { 4 };
        let sign = if dice.next() < 0.5 { -1.0 } else { 1.0 };
        for k in 0..width * 3 {
            if let Some(s) = out.get_mut(start + k) {
                let env = (-(k as f64) / width as f64).exp();
                *s += (sign * amp * env * if k % 2 == 0 { 1.0 } else { -0.6 }) as f32;
            }
        }
    }
    make_loop(out, SAMPLE_RATE as usize / 10)
}

/// Rain on a window: band-limited noise swelling slowly, with droplets.
fn rain(len: usize, seed: u64) -> Vec<f32> {
    let mut wash = at_rate(pink::<f64>().seed(seed) >> bandpass_hz(2500.0, 0.4));
    let mut dice = Dice(seed * 0x51_7CC1 + 3);
    let sr = SAMPLE_RATE as f64;
    let mut out: Vec<f32> = (0..len)
        .map(|i| {
            let t = i as f64 / sr;
            let swell = 0.8 + 0.2 * (t * 0.7).sin() * (t * 0.23).cos();
            wash.get_mono() * (0.5 * swell) as f32
        })
        .collect();
    let mut pos = 0.0;
    while (pos as usize) < len {
        pos += -dice.next().max(1e-9).ln() / 40.0 * sr;
        let freq = 2000.0 + 4000.0 * dice.next();
        let amp = 0.05 + 0.15 * dice.next();
        for k in 0..(0.01 * sr) as usize {
            if let Some(s) = out.get_mut(pos as usize + k) {
                let t = k as f64 / sr;
                *s += (amp * (t * freq * std::f64::consts::TAU).sin() * (-t / 0.002).exp()) as f32;
            }
        }
    }
    make_loop(out, SAMPLE_RATE as usize / 2)
}

/// Folds the last `fade` samples over the start with an equal-power crossfade, so the
/// result loops without a seam.
pub(super) fn make_loop(mut samples: Vec<f32>, fade: usize) -> Vec<f32> {
    let body = samples.len() - fade;
    for i in 0..fade {
        let x = i as f32 / fade as f32 * std::f32::consts::FRAC_PI_2;
        samples[i] = samples[i] * x.sin() + samples[body + i] * x.cos();
    }
    samples.truncate(body);
    samples
}

/// Writes the default pack into `dir`.
pub fn write_pack(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for sound in Sound::ALL {
        let file = std::fs::File::create(dir.join(sound.file_name()))?;
        wav::write(std::io::BufWriter::new(file), &Audio::mono(synthesize(sound))).map_err(std::io::Error::other)?;
    }
    Ok(())
}
