//! Pitched instruments: electric piano / piano, bass, pad. Each note renders into a
//! buffer once and is reused wherever the same note repeats (chords repeat a lot).

use std::collections::HashMap;
use std::f32::consts::TAU;

use fundsp::prelude::*;

use crate::SAMPLE_RATE;

const SR: f32 = SAMPLE_RATE as f32;

pub fn midi_to_hz(midi: i32) -> f32 {
    440.0 * 2f32.powf((midi - 69) as f32 / 12.0)
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
    /// Velocity quantised to 1/16 steps so repeats share a buffer.
    velocity_step: u8,
    /// Held length in samples, quantised to 10 ms.
    held_steps: u32,
}

#[derive(Default)]
pub struct NoteCache {
    notes: HashMap<NoteKey, Vec<f32>>,
}

impl NoteCache {
    /// The rendered note (including its release tail).
    pub fn note(
        &mut self,
        instrument: Instrument,
        midi: i32,
        velocity: f32,
        held_sec: f32,
    ) -> &[f32] {
        let key = NoteKey {
            instrument,
            midi,
            velocity_step: (velocity.clamp(0.0, 1.0) * 16.0).round() as u8,
            held_steps: (held_sec.max(0.01) * 100.0).round() as u32,
        };
        self.notes.entry(key).or_insert_with(|| {
            let velocity = key.velocity_step as f32 / 16.0;
            let held = (key.held_steps as f32 / 100.0 * SR) as usize;
            match instrument {
                Instrument::ElectricPiano => electric_piano(midi_to_hz(midi), velocity, held),
                Instrument::Piano => piano(midi_to_hz(midi), velocity, held),
                Instrument::Bass => bass(midi_to_hz(midi), velocity, held),
                Instrument::Pad => pad(midi_to_hz(midi), velocity, held),
            }
        })
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

fn tail_len(held: usize, release: f32) -> usize {
    held + (release * 6.0 * SR) as usize
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
            let fm = (TAU * carrier + index * (TAU * modulator).sin()).sin();
            let bark = (TAU * tine).sin() * 0.08 * velocity * (-t / 0.02).exp();
            (fm + bark) * envelope(i, held, 0.003, decay, 0.12) * velocity
        })
        .collect()
}

/// Soft felt piano: a few inharmonic-free partials, higher ones decaying faster.
fn piano(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let decay = 2.2 * (220.0 / freq).powf(0.4);
    let partials: Vec<(f32, f32, f32)> = (1..=6)
        .map(|k| {
            let k = k as f32;
            (
                freq * k,
                velocity.powf(k * 0.3) / k.powf(1.6),
                decay / k.powf(0.7),
            )
        })
        .filter(|(f, _, _)| *f < SR * 0.45)
        .collect();
    (0..tail_len(held, 0.25))
        .map(|i| {
            let t = i as f32 / SR;
            let sum: f32 = partials
                .iter()
                .map(|&(f, a, d)| (TAU * f * t).sin() * a * (-t / d).exp())
                .sum();
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
            let x = (TAU * phase).sin();
            let tone = x + 0.25 * (2.0 * TAU * phase).sin() + 0.08 * (3.0 * TAU * phase).sin();
            tone * envelope(i, held, 0.008, 1.8, 0.06) * velocity
        })
        .collect()
}

/// Warm detuned pad with a slow swell, for ambient prompts.
fn pad(freq: f32, velocity: f32, held: usize) -> Vec<f32> {
    let mut voice =
        (soft_saw_hz(freq) + soft_saw_hz(freq * 1.006)) * 0.5 >> lowpass_hz(1100.0, 0.5);
    voice.set_sample_rate(SR as f64);
    (0..tail_len(held, 0.8))
        .map(|i| voice.get_mono() * envelope(i, held, 0.9, 60.0, 0.8) * velocity * 0.5)
        .collect()
}
