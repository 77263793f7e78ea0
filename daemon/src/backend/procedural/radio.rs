//! The procedural radio: one endless score. Chapters of [`CHAPTER_BARS`] bars are composed one
//! after another in one style (key, tempo, groove, sound: drawn once per prompt), each going on
//! from the last in the groove, and rendered whole; each chapter's ring-out past its last bar
//! (notes and effects still sounding) is added under the next one's start, and the textures
//! (crackle, rain, hiss) run on through their loops, so the stream has no seam. It is handed
//! over [`STRETCH_BARS`] bars at a time, not mastered (the radio masters the stream). A new
//! prompt cuts the chapter at the next bar line still to hand over: what was handed rings out
//! under a new song in the new style, which opens with its intro.

use std::sync::atomic::AtomicBool;

use rand_chacha::ChaCha8Rng;

use super::score::{Grid, Score};
use super::{arrangement, go_on, index, stereo, track_rng, ProceduralBackend, Style, TAIL_SEC};
use crate::backend::{BackendError, GenerationRequest, RadioSource};
use crate::SAMPLE_RATE;

/// A chapter's length: long enough for the whole form (A, B, bridge, breakdown).
const CHAPTER_BARS: usize = 32;
/// What [`RadioSource::next`] hands over at a time (a prompt is heard from the next one).
const STRETCH_BARS: usize = 2;

/// One chapter rendered: stereo frames, handed over from the start.
struct Chapter {
    prompt: String,
    score: Score,
    style: Style,
    seed: u64,
    /// Interleaved stereo: the chapter's bars, the previous ring-out included.
    audio: Vec<f32>,
    /// Interleaved stereo: what sounds on past the last bar.
    ring: Vec<f32>,
    /// Frames handed over so far.
    handed: usize,
    /// Where in the textures' loops the chapter starts.
    texture_start: usize,
    bar_frames: f64,
}

/// A stretch of the score rendered: its mid and side (no textures yet) and what rings on after.
struct Rendered {
    mid: Vec<f32>,
    side: Vec<f32>,
    /// Interleaved stereo.
    ring: Vec<f32>,
}

pub(super) struct ProceduralRadio<'a> {
    backend: &'a ProceduralBackend,
    seed: u64,
    chapters: u64,
    /// The style of the prompt of the moment.
    style: Option<(String, Style)>,
    chapter: Option<Chapter>,
    /// Samples of the textures' loops used so far.
    texture_at: usize,
}

impl<'a> ProceduralRadio<'a> {
    pub(super) fn new(backend: &'a ProceduralBackend, seed: u64) -> Self {
        ProceduralRadio {
            backend,
            seed,
            chapters: 0,
            style: None,
            chapter: None,
            texture_at: 0,
        }
    }

    /// The style for `prompt`, drawn once per prompt from the radio's seed.
    fn style_for(&mut self, prompt: &str) -> Style {
        if self.style.as_ref().is_none_or(|(kept, _)| kept != prompt) {
            let mut rng = self.rng(prompt, 0);
            self.style = Some((prompt.to_owned(), Style::from_prompt(prompt, &mut rng)));
        }
        self.style.as_ref().map(|(_, style)| style.clone()).expect("set above")
    }

    fn rng(&self, prompt: &str, n: u64) -> ChaCha8Rng {
        track_rng(&GenerationRequest {
            prompt: prompt.to_owned(),
            seed: self.seed.wrapping_add(n),
            duration_sec: 0.0,
        })
    }

    /// The score rendered over `frames` frames, and what rings on for [`TAIL_SEC`] after.
    fn render(
        &self,
        score: &Score,
        style: &Style,
        seed: u64,
        frames: usize,
        cancel: &AtomicBool,
    ) -> Result<Rendered, BackendError> {
        let (mut mid, mut side) = self
            .backend
            .render_mix(score, style, seed, frames + index(TAIL_SEC), &mut |_| go_on(cancel))?;
        let ring = stereo::join(&mid.split_off(frames), &side.split_off(frames)).samples;
        Ok(Rendered { mid, side, ring })
    }

    /// Composes and renders the next chapter on `prompt`, `ring` sounding under its start.
    fn next_chapter(
        &mut self,
        prompt: &str,
        opening: bool,
        ring: &[f32],
        cancel: &AtomicBool,
    ) -> Result<Chapter, BackendError> {
        let style = self.style_for(prompt);
        self.chapters += 1;
        let seed = self.seed.wrapping_add(self.chapters);
        let mut rng = self.rng(prompt, self.chapters);
        let bar_sec = Grid::new(style.bpm, style.swing).bar_sec();
        let score = arrangement::compose(&style, CHAPTER_BARS as f64 * bar_sec, opening, &mut rng);
        let frames = index(CHAPTER_BARS as f64 * bar_sec);
        let texture_start = self.texture_at;
        let Rendered {
            mut mid,
            mut side,
            ring: ring_out,
        } = self.render(&score, &style, seed, frames, cancel)?;
        // The textures go on from the stream's place in their loops.
        self.backend.add_textures(&mut mid, &mut side, &style, texture_start);
        self.texture_at += frames;
        let mut audio = stereo::join(&mid, &side).samples;
        audio.iter_mut().zip(ring).for_each(|(a, r)| *a += r);
        Ok(Chapter {
            prompt: prompt.to_owned(),
            score,
            style,
            seed,
            audio,
            ring: ring_out,
            handed: 0,
            texture_start,
            bar_frames: bar_sec * SAMPLE_RATE as f64,
        })
    }

    /// What rings on after `chapter` when it stops where it was handed up to (a bar line): the
    /// chapter rendered again without the notes after that. The drums on that downbeat stay
    /// (the old song's last hit): the kick ducks the keys a few ms ahead of itself, so without it
    /// the render before the cut would differ from what was heard.
    fn ring_at_cut(&self, chapter: &Chapter, cancel: &AtomicBool) -> Result<Vec<f32>, BackendError> {
        let cut_sec = chapter.handed as f64 / SAMPLE_RATE as f64;
        let mut score = chapter.score.clone();
        score.notes.retain(|n| n.time < cut_sec);
        score.hits.retain(|h| h.time < cut_sec + 0.01);
        Ok(self
            .render(&score, &chapter.style, chapter.seed, chapter.handed, cancel)?
            .ring)
    }
}

impl RadioSource for ProceduralRadio<'_> {
    fn next(&mut self, prompt: &str, cancel: &AtomicBool, audio: &mut dyn FnMut(&[f32])) -> Result<(), BackendError> {
        let frames_of = |c: &Chapter| c.audio.len() / 2;
        let (ring, opening) = match self.chapter.take() {
            Some(chapter) if chapter.prompt != prompt => {
                // The stream's textures go on from where it stopped.
                self.texture_at = chapter.texture_start + chapter.handed;
                (self.ring_at_cut(&chapter, cancel)?, true)
            }
            Some(chapter) if chapter.handed >= frames_of(&chapter) => (chapter.ring, false),
            Some(chapter) => {
                self.chapter = Some(chapter);
                (Vec::new(), false)
            }
            None => (Vec::new(), true),
        };
        if self.chapter.is_none() {
            self.chapter = Some(self.next_chapter(prompt, opening, &ring, cancel)?);
        }
        let chapter = self.chapter.as_mut().expect("set above");
        let bars_handed = (chapter.handed as f64 / chapter.bar_frames).round() as usize;
        let until =
            (((bars_handed + STRETCH_BARS) as f64 * chapter.bar_frames).round() as usize).min(frames_of(chapter));
        audio(&chapter.audio[2 * chapter.handed..2 * until]);
        chapter.handed = until;
        Ok(())
    }

    fn channels(&self) -> u16 {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endless score over two chapter boundaries and a prompt change: at every join the
    /// music goes on (what rang on sounds under the new start: no drop in level) and no click
    /// (the curvature across the join within twice the stream's 99.9th percentile).
    #[test]
    fn the_score_goes_on_across_chapters_and_a_new_prompt_without_a_seam() {
        let backend = ProceduralBackend::default();
        let mut radio = ProceduralRadio::new(&backend, 3);
        let cancel = AtomicBool::new(false);
        let mut stream: Vec<f32> = Vec::new();
        let mut joins = Vec::new();
        let mut prompt = "ambient dreamy";
        while joins.len() < 3 {
            let (chapters, before) = (radio.chapters, stream.len() / 2);
            if joins.len() == 2
                && before > 0
                && radio
                    .chapter
                    .as_ref()
                    .is_some_and(|c| c.handed > 8 * c.bar_frames as usize)
            {
                prompt = "fast happy boom bap";
            }
            radio
                .next(prompt, &cancel, &mut |piece| stream.extend_from_slice(piece))
                .unwrap();
            if radio.chapters != chapters && chapters > 0 {
                joins.push(before);
            }
        }
        let mono: Vec<f32> = stream.chunks_exact(2).map(|f| f[0] + f[1]).collect();
        let curvature: Vec<f32> = mono.windows(3).map(|w| (w[2] - 2.0 * w[1] + w[0]).abs()).collect();
        let mut sorted = curvature.clone();
        sorted.sort_by(f32::total_cmp);
        let p999 = sorted[sorted.len() * 999 / 1000];
        let ms = SAMPLE_RATE as usize / 1000;
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        for &j in &joins {
            // The windows that span the join (an onset right after it is the music's own).
            let click = curvature[j - 2].max(curvature[j - 1]);
            assert!(click <= 2.0 * p999, "a click at {j}: {click} against {p999}");
            let (before, after) = (rms(&mono[j - 10 * ms..j]), rms(&mono[j..j + 10 * ms]));
            assert!(after >= before / 4.0, "the music drops at {j}: {before} → {after}");
        }
        let (first, cut) = (joins[0], joins[2]);
        assert!(
            first > 60 * SAMPLE_RATE as usize,
            "a chapter lasts more than a minute: {first}"
        );
        assert!(
            radio
                .chapter
                .as_ref()
                .is_some_and(|c| c.prompt == "fast happy boom bap"),
            "{cut}"
        );
    }
}
