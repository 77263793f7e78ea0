//! An endless MusicGen stream: window after window, each continuing the last seconds of the one
//! before (as long tracks do), on the prompt's text at the time the window starts, so a new
//! prompt morphs the music instead of starting over. One EnCodec stream runs through all the
//! windows, so their audio joins without a seam; only the codes the next window continues stay
//! in memory.
use crate::engine::{Musicgen, Sampling};
use crate::run::{RunError, RunState};
use crate::track::{CONTEXT_SEC, WINDOW_SEC};

pub struct Radio {
    state: Option<RunState>,
    /// The prompt whose text states the run holds.
    prompt: Option<String>,
    windows: u64,
}

impl Default for Radio {
    fn default() -> Self {
        Self::new()
    }
}

impl Radio {
    pub fn new() -> Radio {
        Radio {
            state: None,
            prompt: None,
            windows: 0,
        }
    }

    /// The next window starts a new song (on the prompt it is given) instead of continuing
    /// the last window.
    pub fn start_over(&mut self) {
        self.state = None;
        self.prompt = None;
    }

    /// Windows generated so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Generates the next window on `model` (the one every window of this radio uses): its new
    /// audio goes to `audio` about a second at a time. Window `n` samples with `sampling`'s seed
    /// plus `n`. `progress(step, steps)` after each decoder step; false cancels, and a cancelled
    /// or failed radio starts over at its next window.
    pub fn next_window(
        &mut self,
        model: &mut Musicgen,
        prompt: &str,
        sampling: &Sampling,
        progress: impl FnMut(usize, usize) -> bool,
        audio: impl FnMut(&[f32]),
    ) -> Result<(), RunError> {
        let params = *model.params();
        let rate = params.frame_rate as usize;
        let window = params.max_frames.min(WINDOW_SEC * rate);
        let context = (CONTEXT_SEC * rate).min(window / 3);
        let ids = if self.prompt.as_deref() != Some(prompt) {
            Some(model.tokenize(prompt)?)
        } else {
            None
        };
        let mut run = match self.state.take() {
            Some(state) => model.resume(state),
            None => model.run(),
        };
        if let Some(ids) = ids {
            run.encode_text(&ids)?;
            self.prompt = Some(prompt.to_owned());
        }
        let prompt_frames = run.frames().min(context);
        let window_sampling = Sampling {
            seed: sampling.seed.wrapping_add(self.windows),
            ..*sampling
        };
        run.generate_streaming(prompt_frames, window - prompt_frames, &window_sampling, progress, audio)
            .inspect_err(|_| self.prompt = None)?;
        run.keep_last(context);
        self.windows += 1;
        self.state = Some(run.into_state());
        Ok(())
    }
}
