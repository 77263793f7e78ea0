//! The lofi treatment: tape wow/flutter, saturation, bit and sample-rate reduction,
//! filtering, bus compression and the vinyl/tape/rain textures.

use fundsp::prelude::*;

use crate::SAMPLE_RATE;

const SR: f64 = SAMPLE_RATE as f64;

/// Runs a mono fundsp node over a buffer in place, at the daemon's sample rate.
pub fn run_mono<N: AudioNode<Inputs = U1, Outputs = U1>>(mut node: An<N>, samples: &mut [f32]) {
    node.set_sample_rate(SR);
    for s in samples.iter_mut() {
        *s = node.filter_mono(*s);
    }
}

pub fn lowpass(samples: &mut [f32], cutoff_hz: f32) {
    run_mono(lowpass_hz(cutoff_hz, 0.6), samples);
}

pub fn highpass(samples: &mut [f32], cutoff_hz: f32) {
    run_mono(highpass_hz(cutoff_hz, 0.7), samples);
}

/// Tape saturation: soft clipping that rounds peaks and adds warm harmonics. Uses a
/// Padé approximation of tanh (within 2 % below |x| = 3, clamped beyond), ~5x cheaper.
pub fn saturate(samples: &mut [f32], drive: f32) {
    let soft = |x: f32| {
        let x = x.clamp(-3.0, 3.0);
        x * (27.0 + x * x) / (27.0 + 9.0 * x * x)
    };
    let norm = 1.0 / soft(drive);
    samples.iter_mut().for_each(|s| *s = soft(*s * drive) * norm);
}

/// Tape wow (slow pitch drift) and flutter (fast shimmer) through a modulated delay.
/// `depth` 0..1 scales both; the output is delayed by the 6 ms centre of the line.
pub fn wow_flutter(samples: &mut [f32], depth: f32, seed: u64) {
    let phase = (seed % 1000) as f32 / 1000.0 * std::f32::consts::TAU;
    let wow = 0.0012 * depth;
    let flutter = 0.00006 * depth;
    let modulation = lfo(move |t: f32| {
        0.006
            + wow * (std::f32::consts::TAU * 0.5 * t + phase).sin()
            + wow * 0.4 * (std::f32::consts::TAU * 0.13 * t).sin()
            + flutter * (std::f32::consts::TAU * 6.5 * t).sin()
    });
    run_mono((pass() | modulation) >> tap_linear(0.001, 0.012), samples);
}

/// Light bit and sample-rate reduction (sampler grit): hold each sample at `rate_hz`,
/// quantise to `bits`.
pub fn crush(samples: &mut [f32], bits: u32, rate_hz: f32) {
    let levels = (1u32 << (bits - 1)) as f32;
    let step = rate_hz / SAMPLE_RATE as f32;
    let (mut phase, mut held) = (1.0f32, 0.0f32);
    for s in samples.iter_mut() {
        phase += step;
        if phase >= 1.0 {
            phase -= 1.0;
            held = (*s * levels).round() / levels;
        }
        *s = held;
    }
}

/// Bus compression: `ratio`:1 above `threshold` (linear), with a peak follower
/// (30 ms attack lets transients through, 250 ms release). The gain is recomputed every
/// 8 samples (0.25 ms), far below any audible rate. `linked` (the side of a stereo mix)
/// gets the same gain, so the image holds still while the mix is squeezed.
pub fn compress(samples: &mut [f32], linked: &mut [f32], threshold: f32, ratio: f32) {
    let mut detector = afollow(0.03, 0.25);
    detector.set_sample_rate(SR);
    let exponent = 1.0 - 1.0 / ratio;
    for (block, linked_block) in samples.chunks_mut(8).zip(linked.chunks_mut(8)) {
        let mut level = 0.0;
        for s in block.iter() {
            level = detector.filter_mono(s.abs());
        }
        if level > threshold {
            let gain = (threshold / level).powf(exponent);
            block.iter_mut().for_each(|s| *s *= gain);
            linked_block.iter_mut().for_each(|s| *s *= gain);
        }
    }
}

/// Sidechain-style ducking: the gain dips by `depth` at each trigger (sorted sample
/// indices) within ~2 ms and recovers exponentially over `release_sec`, so keys and bass
/// breathe with the kick without clicks.
pub fn duck(samples: &mut [f32], triggers: &[usize], depth: f32, release_sec: f32) {
    let release = (-1.0 / (release_sec * SAMPLE_RATE as f32)).exp();
    let attack = 1.0 - (-1.0 / (0.002 * SAMPLE_RATE as f32)).exp();
    let lead = (SAMPLE_RATE / 250) as usize;
    let (mut target, mut dip) = (0.0f32, 0.0f32);
    let mut next = triggers.iter().copied().peekable();
    for (i, s) in samples.iter_mut().enumerate() {
        while next.peek().is_some_and(|&t| t <= i + lead) {
            next.next();
            target = depth;
        }
        dip = if target > dip {
            dip + (target - dip) * attack
        } else {
            target
        };
        *s *= 1.0 - dip;
        target *= release;
    }
}

/// Adds `texture` looped end to end, scaled by `gain`, starting `offset` samples into it.
pub fn add_looped(samples: &mut [f32], texture: &[f32], gain: f32, offset: usize) {
    if texture.is_empty() || gain == 0.0 {
        return;
    }
    let looped = texture.iter().cycle().skip(offset % texture.len());
    for (s, t) in samples.iter_mut().zip(looped) {
        *s += t * gain;
    }
}

/// A seamless loop of tape hiss: soft pink noise, band-limited.
pub fn hiss_loop(seconds: f64) -> Vec<f32> {
    let mut hiss = pink::<f32>().seed(17) >> highpass_hz(1500.0, 0.5) >> lowpass_hz(9000.0, 0.5);
    hiss.set_sample_rate(SR);
    let fade = SAMPLE_RATE as usize / 10;
    let noise: Vec<f32> = (0..(seconds * SR) as usize + fade).map(|_| hiss.get_mono()).collect();
    super::kit::make_loop(noise, fade)
}
