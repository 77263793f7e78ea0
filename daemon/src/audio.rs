//! Audio in memory: frames of one channel (MusicGen) or two (the procedural backend's
//! stereo), interleaved, at a known sample rate. Files, the cache, mastering and playback all
//! carry this, so a stereo track stays stereo from the render to the device.

use std::borrow::Cow;
use std::f32::consts::FRAC_1_SQRT_2;

use crate::SAMPLE_RATE;

#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Interleaved frames in -1..1.
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    /// 1 or 2.
    pub channels: u16,
}

impl Audio {
    /// 32 kHz mono.
    pub fn mono(samples: Vec<f32>) -> Audio {
        Audio {
            samples,
            sample_rate: SAMPLE_RATE,
            channels: 1,
        }
    }

    /// 32 kHz stereo from interleaved left/right frames.
    pub fn stereo(interleaved: Vec<f32>) -> Audio {
        Audio {
            samples: interleaved,
            sample_rate: SAMPLE_RATE,
            channels: 2,
        }
    }

    /// 32 kHz stereo from its two channels.
    pub fn from_channels(left: &[f32], right: &[f32]) -> Audio {
        Audio::stereo(left.iter().zip(right).flat_map(|(&l, &r)| [l, r]).collect())
    }

    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1) as usize
    }

    pub fn duration_sec(&self) -> f64 {
        self.frames() as f64 / self.sample_rate as f64
    }

    /// One channel, de-interleaved.
    pub fn channel(&self, index: usize) -> Vec<f32> {
        let channels = self.channels.max(1) as usize;
        self.samples.iter().skip(index).step_by(channels).copied().collect()
    }

    /// The channels' average: what a mono speaker plays, and what the measurements of tempo,
    /// key and form listen to.
    pub fn mono_mix(&self) -> Cow<'_, [f32]> {
        match self.channels {
            0 | 1 => Cow::Borrowed(&self.samples),
            n => Cow::Owned(
                self.samples
                    .chunks_exact(n as usize)
                    .map(|frame| frame.iter().sum::<f32>() / n as f32)
                    .collect(),
            ),
        }
    }

    /// The same audio as two channels; mono is placed in the centre at -3 dB per side, so it
    /// is as loud (BS.1770 sums the channels' power) as it measured in one channel.
    pub fn into_stereo(self) -> Audio {
        match self.channels {
            2 => self,
            _ => Audio {
                samples: self.samples.iter().flat_map(|&s| [s * FRAC_1_SQRT_2; 2]).collect(),
                sample_rate: self.sample_rate,
                channels: 2,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_split_mix_and_widen() {
        let audio = Audio::from_channels(&[1.0, 0.5], &[0.0, 0.5]);
        assert_eq!(audio.samples, vec![1.0, 0.0, 0.5, 0.5]);
        assert_eq!(audio.frames(), 2);
        assert_eq!(audio.channel(0), vec![1.0, 0.5]);
        assert_eq!(audio.channel(1), vec![0.0, 0.5]);
        assert_eq!(audio.mono_mix().as_ref(), &[0.5, 0.5]);
        let centred = Audio::mono(vec![1.0]).into_stereo();
        assert_eq!(centred.samples, vec![FRAC_1_SQRT_2, FRAC_1_SQRT_2]);
        assert_eq!(audio.clone().into_stereo(), audio);
    }
}
