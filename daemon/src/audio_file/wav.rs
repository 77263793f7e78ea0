//! 16-bit WAV writing (mono or stereo, as the audio is) and reading of any PCM WAV.

use std::io::{Read, Seek, Write};
use std::path::Path;

pub use crate::audio::Audio;

fn spec(audio: &Audio) -> hound::WavSpec {
    hound::WavSpec {
        channels: audio.channels.max(1),
        sample_rate: audio.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

/// Converts a float sample in -1..1 to 16-bit PCM (clamped, rounded).
pub fn to_i16(sample: f32) -> i16 {
    (sample.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16
}

pub fn write<W: Write + Seek>(out: W, audio: &Audio) -> Result<(), hound::Error> {
    let mut writer = hound::WavWriter::new(out, spec(audio))?;
    let mut pcm = writer.get_i16_writer(audio.samples.len() as u32);
    for &s in &audio.samples {
        pcm.write_sample(to_i16(s));
    }
    pcm.flush()?;
    writer.finalize()
}

/// Reads any PCM WAV (int or float): one or two channels as they are, more mixed down to mono.
pub fn read(path: &Path) -> Result<Audio, hound::Error> {
    let reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int if spec.bits_per_sample == 16 => {
            // Our own format, read on the way to every first sample played: the data chunk in
            // one read (hound's per-sample iterator takes ~20 ms for a 30 s track).
            let mut bytes = vec![0u8; reader.len() as usize * 2];
            reader.into_inner().read_exact(&mut bytes)?;
            bytes
                .chunks_exact(2)
                .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
                .collect()
        }
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let audio = Audio {
        samples: interleaved,
        sample_rate: spec.sample_rate,
        channels: channels as u16,
    };
    if channels <= 2 {
        return Ok(audio);
    }
    Ok(Audio {
        samples: audio.mono_mix().into_owned(),
        channels: 1,
        ..audio
    })
}
