//! The stereo field, built as mid and side: the mix everyone hears in mono is the mid, and
//! everything that makes it wide lives in the side, which a mono sum cancels exactly. So
//! the mono sum is the mono mix, and it loses only the side's share of the loudness.
//!
//! Placed: the keys a little left, the hats right, a room of early reflections around the
//! keys, rain and hiss decorrelated between the speakers. Kept in the centre: kick, snare,
//! bass (and everything below 150 Hz, where the side is cut).

use super::effects;
use crate::audio::Audio;
use crate::SAMPLE_RATE;

/// Pan of the keys, as a share of their level moved to the left (negative: right).
pub const KEYS_PAN: f32 = 0.3;
/// Pan of the hats.
pub const HATS_PAN: f32 = -0.5;

/// Early reflections of a small room: (delay ms, gain), alternating in sign so that the
/// reflections land on opposite sides of the field.
const ROOM_TAPS: [(f32, f32); 5] = [(7.3, 0.35), (11.9, -0.3), (17.1, 0.25), (23.7, -0.2), (31.3, 0.15)];

/// The side is cut below this (low end stays mono for speakers, vinyl and phones).
const SIDE_HIGHPASS_HZ: f32 = 150.0;

/// Adds the keys' placement and their room to `side`.
pub fn place_keys(keys: &[f32], side: &mut [f32]) {
    for &(ms, gain) in &ROOM_TAPS {
        let delay = (ms / 1000.0 * SAMPLE_RATE as f32) as usize;
        if let Some(late) = side.get_mut(delay..) {
            late.iter_mut().zip(keys).for_each(|(s, k)| *s += k * gain);
        }
    }
    side.iter_mut().zip(keys).for_each(|(s, k)| *s += k * KEYS_PAN);
}

/// The side's own treatment: the music bus's low-pass, and nothing in the bass.
pub fn treat_side(side: &mut [f32], cutoff_hz: f32) {
    effects::lowpass(side, cutoff_hz);
    effects::highpass(side, SIDE_HIGHPASS_HZ);
}

/// Adds a looped texture (rain, hiss) to both: its own loop to the mid, the same loop half a
/// period later to the side, so the speakers get different drops of the same rain; `offset`
/// samples into the loop.
pub fn add_texture(mid: &mut [f32], side: &mut [f32], texture: &[f32], gain: f32, spread: f32, offset: usize) {
    effects::add_looped(mid, texture, gain, offset);
    if texture.is_empty() {
        return;
    }
    let offset = texture.len() / 2;
    let shifted: Vec<f32> = texture[offset..].iter().chain(&texture[..offset]).copied().collect();
    effects::add_looped(side, &shifted, gain * spread, offset);
}

/// Left = mid + side, right = mid - side.
pub fn join(mid: &[f32], side: &[f32]) -> Audio {
    let mut interleaved = vec![0.0; 2 * mid.len().min(side.len())];
    for ((frame, &m), &s) in interleaved.chunks_exact_mut(2).zip(mid).zip(side) {
        frame[0] = m + s;
        frame[1] = m - s;
    }
    Audio::stereo(interleaved)
}
