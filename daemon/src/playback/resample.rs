//! Sample-rate conversion with rubato's FFT resampler: a piece at a time (a track that plays
//! while it generates) or a whole track at once, with the same result.

use rubato::{FftFixedIn, Resampler};

/// Converts interleaved frames of `channels` channels from one rate to another as they come,
/// with the resampler's delay removed: after [`StreamResampler::finish`], exactly
/// `frames in × to / from` frames came out, in time with the input.
pub struct StreamResampler {
    /// `None` when the rates are equal.
    fft: Option<FftFixedIn<f32>>,
    channels: usize,
    from: u32,
    to: u32,
    /// Input not yet resampled, one buffer per channel.
    pending: Vec<Vec<f32>>,
    /// Output frames still to drop: the resampler's delay.
    delay_left: usize,
    frames_in: u64,
    frames_out: u64,
}

impl StreamResampler {
    pub fn new(from: u32, to: u32, channels: usize) -> Result<StreamResampler, String> {
        let channels = channels.max(1);
        let fft = if from == to {
            None
        } else {
            Some(FftFixedIn::<f32>::new(from as usize, to as usize, 1024, 2, channels).map_err(|e| e.to_string())?)
        };
        Ok(StreamResampler {
            delay_left: fft.as_ref().map_or(0, |f| f.output_delay()),
            fft,
            channels,
            from,
            to,
            pending: vec![Vec::new(); channels],
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resamples `input` (interleaved), appending what is ready to `out` (interleaved).
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.frames_in += (input.len() / self.channels) as u64;
        if self.fft.is_none() {
            self.frames_out += (input.len() / self.channels) as u64;
            out.extend_from_slice(input);
            return Ok(());
        }
        for frame in input.chunks_exact(self.channels) {
            for (pending, &s) in self.pending.iter_mut().zip(frame) {
                pending.push(s);
            }
        }
        loop {
            let fft = self.fft.as_mut().expect("checked");
            let n = fft.input_frames_next();
            if self.pending[0].len() < n {
                return Ok(());
            }
            let chunk: Vec<&[f32]> = self.pending.iter().map(|p| &p[..n]).collect();
            let resampled = fft.process(&chunk, None).map_err(|e| e.to_string())?;
            self.pending.iter_mut().for_each(|p| drop(p.drain(..n)));
            self.emit(&resampled, u64::MAX, out);
        }
    }

    /// Resamples what is left and the resampler's tail, so the output ends in time with the
    /// input.
    pub fn finish(&mut self, out: &mut Vec<f32>) -> Result<(), String> {
        let expected = self.frames_in * u64::from(self.to) / u64::from(self.from);
        if let Some(fft) = self.fft.as_mut() {
            if !self.pending[0].is_empty() {
                let rest: Vec<&[f32]> = self.pending.iter().map(Vec::as_slice).collect();
                let resampled = fft.process_partial(Some(&rest), None).map_err(|e| e.to_string())?;
                self.pending.iter_mut().for_each(Vec::clear);
                self.emit(&resampled, expected, out);
            }
            while self.frames_out < expected {
                let fft = self.fft.as_mut().expect("checked");
                let flushed = fft.process_partial::<&[f32]>(None, None).map_err(|e| e.to_string())?;
                if flushed[0].is_empty() {
                    break;
                }
                self.emit(&flushed, expected, out);
            }
        }
        while self.frames_out < expected {
            out.extend(std::iter::repeat_n(0.0, self.channels));
            self.frames_out += 1;
        }
        Ok(())
    }

    /// Appends resampled channels interleaved, after the delay still to drop, up to `limit`
    /// frames out in all.
    fn emit(&mut self, channels: &[Vec<f32>], limit: u64, out: &mut Vec<f32>) {
        let skip = self.delay_left.min(channels[0].len());
        self.delay_left -= skip;
        let room = limit.saturating_sub(self.frames_out) as usize;
        let frames = (channels[0].len() - skip).min(room);
        for i in skip..skip + frames {
            out.extend(channels.iter().map(|c| c[i]));
        }
        self.frames_out += frames as u64;
    }
}

/// Resamples a whole track of interleaved `channels` from `from` Hz to `to` Hz.
pub fn resample(samples: &[f32], channels: usize, from: u32, to: u32) -> Result<Vec<f32>, String> {
    let mut resampler = StreamResampler::new(from, to, channels)?;
    let frames = samples.len() / channels.max(1);
    let mut out = Vec::with_capacity((frames as u64 * u64::from(to) / u64::from(from)) as usize * channels + 16);
    resampler.push(samples, &mut out)?;
    resampler.finish(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(frames: usize, rate: f32, channels: usize) -> Vec<f32> {
        (0..frames)
            .flat_map(|i| {
                let s = (i as f32 / rate * 440.0 * std::f32::consts::TAU).sin() * 0.5;
                (0..channels).map(move |c| if c == 0 { s } else { -s })
            })
            .collect()
    }

    #[test]
    fn resampling_keeps_length_pitch_and_level() {
        let input = tone(32_000, 32_000.0, 1);
        let out = resample(&input, 1, 32_000, 48_000).unwrap();
        assert_eq!(out.len(), 48_000);
        // Same phase at the same instant: no delay left in.
        let expected = tone(48_000, 48_000.0, 1);
        for i in (1000..47_000).step_by(997) {
            assert!(
                (out[i] - expected[i]).abs() < 0.01,
                "sample {i}: {} vs {}",
                out[i],
                expected[i]
            );
        }
        assert_eq!(resample(&input, 1, 32_000, 32_000).unwrap(), input);
    }

    #[test]
    fn a_stream_in_uneven_pieces_equals_the_whole() {
        let input = tone(40_000, 32_000.0, 2);
        let whole = resample(&input, 2, 32_000, 44_100).unwrap();
        assert_eq!(whole.len(), 2 * 55_125);
        let mut resampler = StreamResampler::new(32_000, 44_100, 2).unwrap();
        let mut streamed = Vec::new();
        for piece in input.chunks(2 * 777) {
            resampler.push(piece, &mut streamed).unwrap();
            assert!(streamed.len() <= whole.len());
        }
        resampler.finish(&mut streamed).unwrap();
        assert_eq!(streamed, whole);
        assert!(
            (whole[2 * 30_000] + whole[2 * 30_000 + 1]).abs() < 1e-6,
            "channels stay apart"
        );
    }
}
