//! Pitched instruments: electric piano / piano, bass, pad. Each note renders into a
//! buffer once and is reused wherever the same note repeats (chords repeat a lot).

use std::collections::{HashMap, HashSet};
use std::f32::consts::TAU;
use std::sync::OnceLock;

use fundsp::prelude::*;
use rayon::prelude::*;

use crate::SAMPLE_RATE;

const SR: f32 = SAMPLE_RATE as f32;

pub fn midi_to_hz(midi: i32) -> f32 {
    440.0 * 2f32.powf((midi - 69) as f32 / 12.0)
}

/// Sine of a phase in cycles (0..1) from a 4096-point table with linear interpolation:
/// ~100 dB clean, several times cheaper than `sin` in the per-sample note loops.
fn table_sin(phase: f32) -> f32 {
    const N: usize = 4096;
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    let table = TABLE.get_or_init(|| (0..=N).map(|i| (i as f32 / N as f32 * TAU).sin()).collect());
    let x = phase.rem_euclid(1.0) * N as f32;
    let i = x as usize;
    let frac = x - i as f32;
    table[i] + (table[i + 1] - table[i]) * frac
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Instrument {
    ElectricPiano,
    Piano,
    Bass,
    Pad,
}

/// A note to render: pitch, loudness bucket and held length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct NoteKey {
    instrument: Instrument,
    midi: i32,
    /// Velocity quantised to 1/8 steps so repeats share a buffer (the exact velocity is
    /// applied as gain when mixing; the bucket only sets the timbre).
    velocity_step: u8,
    /// Held length quantised to 25 ms.
    held_steps: u32,
}

/// Every distinct note of a score, rendered once.
pub struct NoteCache {
    notes: HashMap<NoteKey, Vec<f32>>,
}

/// A note as the score has it: instrument, pitch, velocity (0..1) and held seconds.
pub type NoteSpec = (Instrument, i32, f32, f32);

impl NoteKey {
    fn new((instrument, midi, velocity, held_sec): NoteSpec) -> Self {
        NoteKey {
            instrument,
            midi,
            velocity_step: (velocity.clamp(0.01, 1.0) * 8.0).round().max(1.0) as u8,
            held_steps: (held_sec.max(0.025) * 40.0).round() as u32,
        }
    }

    fn bucket_velocity(self) -> f32 {
        self.velocity_step as f32 / 8.0
    }

    fn render(self) -> Vec<f32> {
        let held = (self.held_steps as f32 / 40.0 * SR) as usize;
        let (freq, v) = (midi_to_hz(self.midi), self.bucket_velocity());
        match self.instrument {
            Instrument::ElectricPiano => electric_piano(freq, v, held),
            Instrument::Piano => piano(freq, v, held),
            Instrument::Bass => bass(freq, v, held),
            Instrument::Pad => pad(freq, v, held),
        }
    }
}

impl NoteCache {
    /// Renders each distinct note of `notes` once, spread over the CPU's cores (notes are
    /// independent, so the result does not depend on how they were spread).
    pub fn render(notes: impl Iterator<Item = NoteSpec>) -> Self {
        let keys: HashSet<NoteKey> = notes.map(NoteKey::new).collect();
        NoteCache {
            notes: keys.into_par_iter().map(|key| (key, key.render())).collect(),
        }
    }

    /// The rendered note (including its release tail) and the gain to mix it with.
    pub fn note(&self, spec: NoteSpec) -> (&[f32], f32) {
        let key = NoteKey::new(spec);
        let velocity = spec.2.clamp(0.01, 1.0);
        (&self.notes[&key], velocity / key.bucket_velocity())
    }
}

/// Gain of a note held `held` samples: attack, exponential decay while held, release after.
fn envelope(i: usize, held: usize, attack: f32, decay: f32, release: f32) -> f32 {
    let t = i as f32 / SR;
    let a = (t / attack).min(1.0);
    let d = (-t / decay).exp();
    if i < held {
        a * d
    } else {
        let held_t = held as f32 / SR;
        (held_t / attack).min(1.0) * (-held_t / decay).exp() * (-(t - held_t) / release).exp()
    }
}

/// Held part plus a release tail long enough to fall below -35 dB.
fn tail_len(held: usize, release: f32) -> usize {
    held + (release * 4.0 * SR) as usize
}

/// Rhodes-like tine: 1:1 FM whose index falls after the strike, plus a short metallic
/// partial for the bark; velocity brightens it.
fn electric_piano(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let decay = 1.6 * (220.0 / freq).powf(0.35);
    let (mut carrier, mut modulator, mut tine) = (0.0f32, 0.0f32, 0.0f32);
    (0..tail_len(held, 0.12))
        .map(|i| {
            let t = i as f32 / SR;
            let index = (0.4 + 1.6 * velocity) * (-t / 0.35).exp() + 0.25;
            modulator = (modulator + freq / SR).fract();
            carrier = (carrier + freq / SR).fract();
            tine = (tine + freq * 14.0 / SR).fract();
            let fm = table_sin(carrier + index / TAU * table_sin(modulator));
            let bark = if t < 0.15 {
                table_sin(tine) * 0.08 * velocity * (-t / 0.02).exp()
            } else {
                0.0
            };
            (fm + bark) * envelope(i, held, 0.003, decay, 0.12) * velocity
        })
        .collect()
}

/// Soft felt piano: a few harmonic partials, higher ones decaying faster. Each partial
/// is a damped complex oscillator (one rotation per sample) rather than `sin`·`exp`.
fn piano(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let decay = 2.2 * (220.0 / freq).powf(0.4);
    // (re, im, rotation re, rotation im) per partial; amplitude lives in the state.
    let mut partials: Vec<[f32; 4]> = (1..=6)
        .map(|k| k as f32)
        .filter(|k| freq * k < SR * 0.45)
        .map(|k| {
            let amplitude = velocity.powf(k * 0.3) / k.powf(1.6);
            let damping = (-1.0 / (SR * decay / k.powf(0.7))).exp();
            let w = TAU * freq * k / SR;
            [0.0, amplitude, damping * w.cos(), damping * w.sin()]
        })
        .collect();
    (0..tail_len(held, 0.25))
        .map(|i| {
            let mut sum = 0.0;
            for p in partials.iter_mut() {
                let re = p[0] * p[2] - p[1] * p[3];
                let im = p[0] * p[3] + p[1] * p[2];
                p[0] = re;
                p[1] = im;
                sum += re;
            }
            sum * envelope(i, held, 0.004, 30.0, 0.25) * velocity * 0.8
        })
        .collect()
}

/// Round electric bass: sine with a little second and third harmonic, plucked envelope.
fn bass(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..tail_len(held, 0.06))
        .map(|i| {
            phase = (phase + freq / SR).fract();
            let tone = table_sin(phase) + 0.25 * table_sin(2.0 * phase) + 0.08 * table_sin(3.0 * phase);
            tone * envelope(i, held, 0.008, 1.8, 0.06) * velocity
        })
        .collect()
}

/// Warm detuned pad with a slow swell, for ambient prompts.
fn pad(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let mut voice = ((soft_saw_hz(freq) + soft_saw_hz(freq * 1.006)) * 0.5) >> lowpass_hz(1100.0, 0.5);
    voice.set_sample_rate(SR as f64);
    (0..tail_len(held, 0.8))
        .map(|i| voice.get_mono() * envelope(i, held, 0.9, 60.0, 0.8) * velocity * 0.5)
        .collect()
}
