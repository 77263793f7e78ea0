//! The procedural backend: instant, deterministic lofi hip hop from (prompt, seed,
//! duration). Compose a score, render instruments and the sample pack onto buses,
//! apply the lofi treatment, master.

mod arrangement;
mod drums;
mod effects;
mod form;
mod harmony;
pub mod kit;
mod radio;
mod score;
mod stereo;
mod style;
mod tuning;
mod voices;

use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

pub use kit::Kit;
pub use style::Style;

use super::{Backend, BackendError, Generated, GenerationRequest, ModelInfo, Progress, RadioSource};
use crate::audio::Audio;
use crate::SAMPLE_RATE;
use kit::Sound;
use score::Score;
use voices::NoteCache;

/// Bumped whenever the rendering changes what a (prompt, seed, duration) sounds like.
pub const MODEL_VERSION: &str = "procedural-v3";

/// Extra render time after the end, folded back onto the start so the loop is seamless.
const TAIL_SEC: f64 = 2.0;

pub struct ProceduralBackend {
    kit: Kit,
    /// A seamless tape-hiss loop, made once rather than per track.
    hiss: Vec<f32>,
}

impl ProceduralBackend {
    pub fn new(kit: Kit) -> Self {
        ProceduralBackend {
            kit,
            hiss: effects::hiss_loop(3.0),
        }
    }
}

impl Default for ProceduralBackend {
    fn default() -> Self {
        ProceduralBackend::new(Kit::default_pack())
    }
}

/// One RNG stream per track, from everything that defines it.
fn track_rng(request: &GenerationRequest) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(request.prompt.as_bytes());
    hasher.update([0]);
    hasher.update(request.seed.to_le_bytes());
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

fn index(time: f64) -> usize {
    (time * SAMPLE_RATE as f64).round().max(0.0) as usize
}

fn mix_into(bus: &mut [f32], at: usize, sound: &[f32], gain: f32) {
    if let Some(dest) = bus.get_mut(at..) {
        dest.iter_mut().zip(sound).for_each(|(d, s)| *d += s * gain);
    }
}

/// The separate buses of a rendered score, before effects.
struct Buses {
    keys: Vec<f32>,
    bass: Vec<f32>,
    drums: Vec<f32>,
    /// The stereo side (see `stereo`): so far the hats' placement.
    side: Vec<f32>,
}

fn render_buses(score: &Score, kit: &Kit, tonic: i32, len: usize) -> Buses {
    let mut buses = Buses {
        keys: vec![0.0; len],
        bass: vec![0.0; len],
        drums: vec![0.0; len],
        side: vec![0.0; len],
    };
    let spec = |note: &score::Note| (note.instrument, note.midi, note.velocity, note.held);
    let cache = NoteCache::render(score.notes.iter().map(spec));
    for note in &score.notes {
        let bus = match note.instrument {
            voices::Instrument::Bass => &mut buses.bass,
            _ => &mut buses.keys,
        };
        let (rendered, gain) = cache.note(spec(note));
        mix_into(bus, index(note.time), rendered, gain);
    }
    let kick = tuning::tuned_to(kit.get(Sound::Kick), tonic);
    for hit in &score.hits {
        let sound = match hit.sound {
            Sound::Kick => &kick,
            other => kit.get(other),
        };
        let gain = match hit.sound {
            Sound::HatClosed | Sound::HatOpen => 0.35,
            Sound::Rim => 0.5,
            _ => 1.0,
        };
        mix_into(&mut buses.drums, index(hit.time), sound, hit.velocity * gain);
        if matches!(hit.sound, Sound::HatClosed | Sound::HatOpen) {
            // In the drum bus's units: the drums enter the mix at 0.8.
            mix_into(
                &mut buses.side,
                index(hit.time),
                sound,
                hit.velocity * gain * 0.8 * stereo::HATS_PAN,
            );
        }
    }
    buses
}

impl ProceduralBackend {
    /// Renders a track; `progress` gets (steps done, steps total) after each stage.
    pub fn render(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(f64),
        cancel: &AtomicBool,
    ) -> Result<Audio, BackendError> {
        let mut check = |done: f64| {
            go_on(cancel)?;
            progress(done);
            Ok(())
        };
        let mut rng = track_rng(request);
        let mut style = Style::from_prompt(&request.prompt, &mut rng);
        style.bpm = arrangement::fit_tempo(style.bpm, request.duration_sec, style.bpm_range);
        let score = arrangement::compose(&style, request.duration_sec, true, &mut rng);
        let len = request.sample_count();
        check(0.1)?;
        let (mut mix, mut side) = self.render_mix(&score, &style, request.seed, len + index(TAIL_SEC), &mut check)?;
        self.add_textures(&mut mix, &mut side, &style, 0);
        // Fold the tail onto the start: the track loops back into its own release.
        for bus in [&mut mix, &mut side] {
            let tail = bus.split_off(len);
            bus.iter_mut().zip(&tail).for_each(|(m, t)| *m += t);
        }
        let mut audio = stereo::join(&mix, &side);
        check(0.85)?;

        super::master::master(&mut audio);
        fade_edges(&mut audio);
        check(1.0)?;
        Ok(audio)
    }

    /// `score` in `style` over `len` samples through the lofi treatment up to the bus
    /// compressor: the mid and the side (see `stereo`), without textures, not mastered. `seed`
    /// sets the tape's wow; `check` reports progress and stops a cancelled render.
    fn render_mix(
        &self,
        score: &Score,
        style: &Style,
        seed: u64,
        len: usize,
        check: &mut dyn FnMut(f64) -> Result<(), BackendError>,
    ) -> Result<(Vec<f32>, Vec<f32>), BackendError> {
        let Buses {
            mut keys,
            mut bass,
            mut drums,
            mut side,
        } = render_buses(score, &self.kit, style.tonic, len);
        check(0.5)?;

        let mut kicks: Vec<usize> = score
            .hits
            .iter()
            .filter(|h| h.sound == Sound::Kick)
            .map(|h| index(h.time))
            .collect();
        kicks.sort_unstable();
        // The buses are independent until mixed: keys on one core, bass and drums on another.
        rayon::join(
            || {
                effects::duck(&mut keys, &kicks, 0.35, 0.22);
                effects::wow_flutter(&mut keys, style.wobble, seed);
                effects::lowpass(&mut keys, style.cutoff_hz);
                effects::saturate(&mut keys, 1.5);
            },
            || {
                effects::duck(&mut bass, &kicks, 0.3, 0.15);
                effects::lowpass(&mut bass, 900.0);
                effects::saturate(&mut drums, 1.3);
                effects::lowpass(&mut drums, (style.cutoff_hz * 1.5).min(11000.0));
            },
        );
        const KEYS_LEVEL: f32 = 0.17;
        let mut mix: Vec<f32> = keys
            .iter()
            .zip(&bass)
            .zip(&drums)
            .map(|((k, b), d)| k * KEYS_LEVEL + b * 0.36 + d * 0.8)
            .collect();
        keys.iter_mut().for_each(|k| *k *= KEYS_LEVEL);
        stereo::place_keys(&keys, &mut side);
        check(0.7)?;

        let bus_cutoff_hz = (style.cutoff_hz * 1.3).min(12000.0);
        rayon::join(
            || {
                effects::crush(&mut mix, 12, 26_000.0);
                effects::lowpass(&mut mix, bus_cutoff_hz);
                effects::highpass(&mut mix, 32.0);
            },
            || stereo::treat_side(&mut side, bus_cutoff_hz),
        );
        effects::compress(&mut mix, &mut side, 0.25, 3.0);
        Ok((mix, side))
    }

    /// The style's crackle, rain and hiss under the mid and side, from `offset` samples into
    /// their loops (a stream's next piece goes on where the last one stopped).
    fn add_textures(&self, mix: &mut [f32], side: &mut [f32], style: &Style, offset: usize) {
        effects::add_looped(mix, self.kit.get(Sound::Crackle), 0.01 + 0.06 * style.crackle, offset);
        stereo::add_texture(mix, side, self.kit.get(Sound::Rain), 0.12 * style.rain, 0.5, offset);
        stereo::add_texture(mix, side, &self.hiss, 0.006 * style.hiss, 0.7, offset);
    }
}

/// `Err(Cancelled)` once `cancel` is set: a render stops between its stages.
fn go_on(cancel: &AtomicBool) -> Result<(), BackendError> {
    if cancel.load(Ordering::Relaxed) {
        Err(BackendError::Cancelled)
    } else {
        Ok(())
    }
}

/// 5 ms fades at both ends so the loop seam never clicks.
fn fade_edges(audio: &mut Audio) {
    let channels = audio.channels as usize;
    let frames = audio.frames();
    let n = (SAMPLE_RATE as usize / 200).min(frames / 2);
    for i in 0..n {
        let g = i as f32 / n as f32;
        for c in 0..channels {
            audio.samples[i * channels + c] *= g;
            audio.samples[(frames - 1 - i) * channels + c] *= g;
        }
    }
}

impl Backend for ProceduralBackend {
    fn channels(&self) -> u16 {
        2
    }

    fn info(&self) -> ModelInfo {
        ModelInfo {
            backend: "procedural",
            quantization: None,
            device: "cpu".into(),
            model_version: MODEL_VERSION.to_owned(),
            loaded: None,
        }
    }

    fn generate(
        &self,
        request: &GenerationRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &AtomicBool,
    ) -> Result<Generated, BackendError> {
        let tokens_estimated = request.tokens_estimated();
        let audio = self.render(
            request,
            &mut |fraction| {
                progress(Progress {
                    tokens_generated: (fraction * tokens_estimated as f64) as u64,
                    tokens_estimated,
                })
            },
            cancel,
        )?;
        Ok(Generated {
            audio,
            tokens_actual: tokens_estimated,
        })
    }

    fn radio(&self, seed: u64) -> Box<dyn RadioSource + '_> {
        Box::new(radio::ProceduralRadio::new(self, seed))
    }
}
