//! A whole track from a prompt: T5 once, the decoder window by window when the track is
//! longer than its context (as audiocraft extends a track), then EnCodec in bounded chunks —
//! or streamed, EnCodec decoding beside the decoder so the audio can play as it comes (a
//! higher peak: EnCodec's weights and buffers stay resident through the decoder loop).

use crate::engine::{Musicgen, MusicgenParams, Sampling};
use crate::run::RunError;

/// How many seconds of the previous window a window continues: audiocraft extends a track with
/// windows of 30 s that keep the last 10 s as the audio prompt.
pub const WINDOW_SEC: usize = 30;
pub const CONTEXT_SEC: usize = 10;

/// One decoder run: `prompt` frames fed from the track so far, then `new` frames generated.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Window {
    prompt: usize,
    new: usize,
}

/// Splits `frames` into decoder runs: one when the model's context holds the track, otherwise a
/// first window and continuations that each keep the end of the track so far as their prompt
/// (so the music goes on from it rather than starting again).
fn plan_windows(frames: usize, params: &MusicgenParams) -> Vec<Window> {
    if frames <= params.max_frames {
        return vec![Window { prompt: 0, new: frames }];
    }
    let rate = params.frame_rate as usize;
    let window = params.max_frames.min(WINDOW_SEC * rate);
    let prompt = (CONTEXT_SEC * rate).min(window / 3);
    let mut windows = vec![Window { prompt: 0, new: window }];
    let mut done = window;
    while done < frames {
        let new = (window - prompt).min(frames - done);
        windows.push(Window { prompt, new });
        done += new;
    }
    windows
}

/// Where streamed audio goes, a piece at a time.
pub type AudioSink<'a> = dyn FnMut(&[f32]) + 'a;

/// A generated track: samples at the model's rate (stereo models' interleaved, left first),
/// its channel count, and the decoder steps it took.
pub struct Track {
    pub samples: Vec<f32>,
    pub channels: usize,
    pub steps: usize,
}

impl Musicgen {
    /// `frames` frames of music for `prompt` (`frames × hop_length` samples). Each window is
    /// sampled with `sampling`'s seed plus its index. `progress(step, steps)` runs after every
    /// decoder step, counted over all windows; returning false cancels. With `stream`, the
    /// samples also go to it as they are decoded, in order (the same samples, within float
    /// rounding, as decoding after the decoder).
    pub fn generate_track(
        &mut self,
        prompt: &str,
        frames: usize,
        sampling: &Sampling,
        mut progress: impl FnMut(usize, usize) -> bool,
        mut stream: Option<&mut AudioSink<'_>>,
    ) -> Result<Track, RunError> {
        let ids = self.tokenize(prompt)?;
        let windows = plan_windows(frames, self.params());
        let window_steps: Vec<usize> = windows.iter().map(|w| self.run_steps(w.prompt, w.new)).collect();
        let steps = window_steps.iter().sum();
        let mut run = self.run();
        run.encode_text(&ids)?;
        let mut steps_done = 0;
        let streaming = stream.is_some();
        let mut streamed = Vec::new();
        let mut keep = |chunk: &[f32]| {
            streamed.extend_from_slice(chunk);
            if let Some(stream) = stream.as_mut() {
                stream(chunk);
            }
        };
        for ((index, window), window_steps) in windows.iter().enumerate().zip(window_steps) {
            let window_sampling = Sampling {
                seed: sampling.seed.wrapping_add(index as u64),
                ..*sampling
            };
            let window_progress = |step, _| progress(steps_done + step, steps);
            if streaming {
                run.generate_streaming(window.prompt, window.new, &window_sampling, window_progress, &mut keep)?;
            } else {
                run.generate(window.prompt, window.new, &window_sampling, window_progress)?;
            }
            steps_done += window_steps;
        }
        let samples = if streaming {
            run.finish_stream(&mut keep)?;
            streamed
        } else {
            run.decode_audio(0)?.to_vec()
        };
        Ok(Track {
            samples,
            channels: self.params().channels,
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_frames: usize) -> MusicgenParams {
        MusicgenParams {
            t5_width: 768,
            codebooks: 4,
            codebook_size: 2048,
            sample_rate: 32_000,
            frame_rate: 50,
            hop_length: 640,
            max_frames,
            channels: 1,
        }
    }

    #[test]
    fn tracks_past_the_context_continue_in_windows() {
        let small = params(2044); // musicgen-small: 2048 positions
        assert_eq!(plan_windows(1500, &small), vec![Window { prompt: 0, new: 1500 }]);
        assert_eq!(plan_windows(2044, &small), vec![Window { prompt: 0, new: 2044 }]);
        // 2 minutes: 30 s, then 20 s more at a time, each after the last 10 s.
        let windows = plan_windows(6000, &small);
        assert_eq!(windows[0], Window { prompt: 0, new: 1500 });
        assert!(windows[1..].iter().all(|w| w.prompt == 500 && w.prompt + w.new <= 1500));
        assert_eq!(windows.iter().map(|w| w.new).sum::<usize>(), 6000);
        assert_eq!(windows.len(), 1 + 4500usize.div_ceil(1000));
        // A small context: a third of it is the prompt.
        let tiny = plan_windows(750, &params(508));
        assert_eq!(
            tiny,
            vec![Window { prompt: 0, new: 508 }, Window { prompt: 169, new: 242 }]
        );
    }
}
