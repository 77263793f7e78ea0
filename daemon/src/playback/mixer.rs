//! The real-time side of playback: mixes the current track (and the next one during a
//! crossfade) into the device buffer. Called from the audio callback, so it never
//! allocates or blocks: tracks arrive prepared (resampled) and leave as `Arc`s whose last
//! owner is the control thread.

use std::f32::consts::{FRAC_1_SQRT_2, FRAC_PI_2};
use std::sync::Arc;

use super::growing::GrowingSamples;

/// A track at the device rate: mono, or stereo frames interleaved.
#[derive(Debug)]
pub struct PreparedTrack {
    pub track_id: String,
    pub samples: Samples,
    /// 1 or 2.
    pub channels: usize,
    pub rate: u32,
    /// The track whose last sample this one's first follows (a radio segment after its parent).
    pub continues: Option<String>,
}

/// A track's samples: all of them (decoded from the cache), or arriving as it generates.
#[derive(Debug)]
pub enum Samples {
    Whole(Vec<f32>),
    Growing(GrowingSamples),
}

impl From<Vec<f32>> for Samples {
    fn from(samples: Vec<f32>) -> Samples {
        Samples::Whole(samples)
    }
}

impl Samples {
    fn len(&self) -> usize {
        match self {
            Samples::Whole(s) => s.len(),
            Samples::Growing(g) => g.len(),
        }
    }

    /// Sample `i`; `None` while a growing track has not reached it.
    fn get(&self, i: usize) -> Option<f32> {
        match self {
            Samples::Whole(s) => Some(s.get(i).copied().unwrap_or(0.0)),
            Samples::Growing(g) => g.get(i),
        }
    }
}

impl PreparedTrack {
    /// Frames arrived so far, while the track still generates; `None` once it is whole.
    pub fn frames_arrived(&self) -> Option<usize> {
        match &self.samples {
            Samples::Growing(g) if !g.ended() => Some(g.written() / self.channels.max(1)),
            _ => None,
        }
    }

    pub fn frames(&self) -> usize {
        self.samples.len() / self.channels.max(1)
    }

    pub fn duration_sec(&self) -> f64 {
        self.frames() as f64 / self.rate as f64
    }

    /// Frame `i` as left and right (`None`: a growing track has not reached it yet); mono
    /// plays at `mono_gain` on each side.
    fn frame(&self, i: usize, mono_gain: f32) -> Option<[f32; 2]> {
        if self.channels == 2 {
            Some([self.samples.get(2 * i)?, self.samples.get(2 * i + 1)?])
        } else {
            Some([self.samples.get(i)? * mono_gain; 2])
        }
    }
}

/// The crossfade rules (README, Playback rules): a track shorter than two crossfades fades over a
/// quarter of its length; one under 2 s never fades.
pub fn effective_crossfade(crossfade_sec: f64, duration_sec: f64) -> f64 {
    if duration_sec < 2.0 || crossfade_sec <= 0.0 {
        0.0
    } else if duration_sec < 2.0 * crossfade_sec {
        duration_sec / 4.0
    } else {
        crossfade_sec
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerState {
    Playing,
    Paused,
    Stopped,
}

/// What happened inside the mixer since the control thread last looked.
#[derive(Debug, Clone, PartialEq)]
pub enum MixerEvent {
    /// `from` hands over to `to`: a crossfade started, or a gapless switch.
    Advanced { from: String, to: String },
    /// The track played to its end with nothing queued after it.
    Finished { track_id: String },
}

struct Voice {
    track: Arc<PreparedTrack>,
    pos: usize,
}

impl Voice {
    fn remaining(&self) -> usize {
        self.track.frames().saturating_sub(self.pos)
    }

    /// The next frame; a growing track that has not reached it holds its place in silence.
    fn next_frame(&mut self, mono_gain: f32) -> [f32; 2] {
        match self.track.frame(self.pos, mono_gain) {
            Some(frame) => {
                self.pos += 1;
                frame
            }
            None => [0.0; 2],
        }
    }
}

struct Fade {
    incoming: Voice,
    pos: usize,
    len: usize,
    /// The incoming track starts with the same audio the current one ends with (a radio
    /// segment and its parent overlap): a linear fade keeps their sum level where equal power
    /// would swell by 3 dB.
    linear: bool,
    /// The outgoing track's level when the fade began: below 1 when it was itself fading in
    /// (a skip during a crossfade).
    from_gain: f32,
}

impl Fade {
    /// The outgoing and incoming tracks' gains at this point of the fade.
    fn gains(&self) -> (f32, f32) {
        let t = self.pos as f32 / self.len as f32;
        let (out_gain, in_gain) = if self.linear {
            (1.0 - t, t)
        } else {
            // Equal power: cos²+sin² = 1, so uncorrelated tracks keep their loudness.
            ((t * FRAC_PI_2).cos(), (t * FRAC_PI_2).sin())
        };
        (out_gain * self.from_gain, in_gain)
    }
}

/// A track cut short while fading out (by a skip during a crossfade): it ramps down from
/// `gain` to silence at the pause ramp's rate (within [`RAMP_SEC`]), so the cut does not click.
/// Skips in quick succession leave several ramping out together, up to [`MAX_TAILS`].
struct Tail {
    voice: Voice,
    gain: f32,
}

/// Pause/resume fade and volume ramps last this long, so nothing clicks or zippers.
const RAMP_SEC: f32 = 0.05;
const MAX_EVENTS: usize = 8;
/// Tracks ramping out at once; past this (skips faster than one per 12 ms) the oldest, nearly
/// silent, is cut.
const MAX_TAILS: usize = 4;

pub struct Mixer {
    rate: u32,
    state: MixerState,
    current: Option<Voice>,
    /// The next track and its crossfade length in frames, started automatically when
    /// the current track has that many frames left.
    queued: Option<(Arc<PreparedTrack>, usize)>,
    fade: Option<Fade>,
    tails: Vec<Tail>,
    volume: f32,
    target_volume: f32,
    /// 0..1 gain that fades in on resume and out on pause.
    pause_gain: f32,
    ramp_step: f32,
    events: Vec<MixerEvent>,
    /// Tracks the audio thread let go of; dropped on the control thread.
    released: Vec<Arc<PreparedTrack>>,
    /// The latest mixed samples, for the visualizer; there only while one watches.
    tap: Option<Tap>,
    /// Each side's level of a mono track: on two channels it sits in the centre at -3 dB per
    /// side, as loud as a stereo track of the same loudness (the mastering measures both by
    /// BS.1770); a one-channel device, which plays the sides' average, gets it whole.
    mono_gain: f32,
}

/// A ring of the latest mixed samples (after pause fades and crossfades, before the volume,
/// so the picture does not depend on the listening level), both channels summed back to the
/// level of a mono track.
struct Tap {
    samples: Vec<f32>,
    next: usize,
}

impl Mixer {
    pub fn new(rate: u32, volume: f32) -> Mixer {
        Mixer {
            rate,
            state: MixerState::Stopped,
            current: None,
            queued: None,
            fade: None,
            tails: Vec::with_capacity(MAX_TAILS),
            volume,
            target_volume: volume,
            pause_gain: 0.0,
            ramp_step: 1.0 / (RAMP_SEC * rate as f32),
            events: Vec::with_capacity(MAX_EVENTS),
            released: Vec::with_capacity(MAX_EVENTS),
            tap: None,
            mono_gain: FRAC_1_SQRT_2,
        }
    }

    /// Keeps the latest `len` mixed samples from now on (0: stops keeping them). Called on
    /// the control thread, which allocates the ring.
    pub fn set_tap(&mut self, len: usize) {
        self.tap = (len > 0).then(|| Tap {
            samples: vec![0.0; len],
            next: 0,
        });
    }

    /// Copies the latest `out.len()` mixed samples, oldest first; false without a tap.
    pub fn latest_mixed(&self, out: &mut [f32]) -> bool {
        let Some(tap) = &self.tap else {
            return false;
        };
        let len = tap.samples.len();
        let count = out.len().min(len);
        let start = (tap.next + len - count) % len;
        let skip = out.len() - count;
        for (i, o) in out[skip..].iter_mut().enumerate() {
            *o = tap.samples[(start + i) % len];
        }
        true
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// A new device rate. Loaded tracks keep their old rate until the engine re-prepares
    /// them (see `Engine::reopen`).
    pub fn set_rate(&mut self, rate: u32) {
        self.rate = rate;
        self.ramp_step = 1.0 / (RAMP_SEC * rate as f32);
    }

    pub fn state(&self) -> MixerState {
        self.state
    }

    /// Starts `track` now from `position` frames (replacing whatever played).
    pub fn play(&mut self, track: Arc<PreparedTrack>, position: usize) {
        self.release_all();
        self.current = Some(Voice { track, pos: position });
        self.state = MixerState::Playing;
        self.pause_gain = 0.0; // fades in: no click at the start
    }

    /// Queues the track that follows the current one, crossfading over `crossfade_sec`
    /// (already reduced by [`effective_crossfade`]).
    pub fn queue_next(&mut self, track: Arc<PreparedTrack>, crossfade_sec: f64) {
        let len = (crossfade_sec * self.rate as f64) as usize;
        if let Some((old, _)) = self.queued.replace((track, len)) {
            self.released.push(old);
        }
    }

    pub fn clear_queued(&mut self) {
        if let Some((old, _)) = self.queued.take() {
            self.released.push(old);
        }
    }

    /// Skips to the queued track now, crossfading over at most the queued length and
    /// what is left of the current track. Returns false when nothing is queued. During a
    /// crossfade the incoming track hands over from the level it has reached, and the
    /// outgoing one ramps out on its own.
    pub fn skip(&mut self) -> bool {
        let Some((next, len)) = self.queued.take() else {
            return false;
        };
        let mut from_gain = 1.0;
        if let Some(fade) = self.fade.take() {
            let (out_gain, in_gain) = fade.gains();
            if let Some(outgoing) = self.current.replace(fade.incoming) {
                self.cut_short(outgoing, out_gain);
            }
            from_gain = in_gain;
        }
        let remaining = self.current.as_ref().map_or(0, Voice::remaining);
        self.start_fade(next, len.min(remaining), true, from_gain);
        true
    }

    fn cut_short(&mut self, voice: Voice, gain: f32) {
        if self.tails.len() == MAX_TAILS {
            let oldest = self.tails.remove(0);
            self.released.push(oldest.voice.track);
        }
        self.tails.push(Tail { voice, gain });
    }

    pub fn pause(&mut self) {
        if self.state == MixerState::Playing {
            self.state = MixerState::Paused;
        }
    }

    /// Paused and its fade-out played: nothing to hear until `resume`.
    pub fn paused_silent(&self) -> bool {
        self.state == MixerState::Paused && self.pause_gain == 0.0
    }

    pub fn resume(&mut self) {
        if self.state == MixerState::Paused {
            self.state = MixerState::Playing;
        }
    }

    /// Immediate silence; nothing fades.
    pub fn stop(&mut self) {
        self.release_all();
        self.state = MixerState::Stopped;
        self.pause_gain = 0.0;
    }

    pub fn set_volume(&mut self, volume: f32) {
        self.target_volume = volume.clamp(0.0, 1.0);
    }

    /// The volume asked for (the ramp may still be on its way there).
    pub fn target_volume(&self) -> f32 {
        self.target_volume
    }

    /// The track heard now: from the start of a crossfade, the incoming one (the playlist has
    /// moved on to it; the outgoing one only fades out).
    pub fn now_playing(&self) -> Option<(&Arc<PreparedTrack>, usize)> {
        match &self.fade {
            Some(f) => Some((&f.incoming.track, f.incoming.pos)),
            None => self.current.as_ref().map(|v| (&v.track, v.pos)),
        }
    }

    pub fn has_queued(&self) -> bool {
        self.queued.is_some() || self.fade.is_some()
    }

    /// Events since the last call, and tracks to drop off the audio thread.
    pub fn take_events(&mut self) -> (Vec<MixerEvent>, Vec<Arc<PreparedTrack>>) {
        (std::mem::take(&mut self.events), std::mem::take(&mut self.released))
    }

    /// Lets go of every voice. A hand-over or end the control side has not taken in yet is
    /// dropped with them: `play` or `stop` supersedes it (the control side announces the end of
    /// the track it knew of).
    fn release_all(&mut self) {
        self.events.clear();
        if let Some(v) = self.current.take() {
            self.released.push(v.track);
        }
        if let Some(f) = self.fade.take() {
            self.released.push(f.incoming.track);
        }
        for tail in self.tails.drain(..) {
            self.released.push(tail.voice.track);
        }
        self.clear_queued();
    }

    /// Hands over to `next` over `len` frames, telling the control side at once; `announced`:
    /// it reports the change itself (a skip), so the mixer does not.
    fn start_fade(&mut self, next: Arc<PreparedTrack>, len: usize, announced: bool, from_gain: f32) {
        if !announced {
            let from = self.current.as_ref().map(|v| v.track.track_id.clone());
            self.push_event(MixerEvent::Advanced {
                from: from.unwrap_or_default(),
                to: next.track_id.clone(),
            });
        }
        if len == 0 || self.current.is_none() {
            if let Some(v) = self.current.take() {
                self.released.push(v.track);
            }
            self.current = Some(Voice { track: next, pos: 0 });
        } else {
            let linear = self
                .current
                .as_ref()
                .is_some_and(|v| next.continues.as_deref() == Some(v.track.track_id.as_str()));
            self.fade = Some(Fade {
                incoming: Voice { track: next, pos: 0 },
                pos: 0,
                len,
                linear,
                from_gain,
            });
        }
    }

    fn push_event(&mut self, event: MixerEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(event);
        }
    }

    /// Fills an interleaved buffer of `channels` channels: left and right on the first two
    /// (a one-channel device gets their average), silence on any others.
    pub fn render(&mut self, out: &mut [f32], channels: usize) {
        let channels = channels.max(1);
        self.mono_gain = if channels == 1 { 1.0 } else { FRAC_1_SQRT_2 };
        for frame in out.chunks_mut(channels) {
            let [left, right] = self.next_frame();
            if let [only] = frame {
                *only = (left + right) * 0.5;
                continue;
            }
            frame.iter_mut().for_each(|s| *s = 0.0);
            frame[0] = left;
            frame[1] = right;
        }
    }

    fn next_frame(&mut self) -> [f32; 2] {
        let target_pause = if self.state == MixerState::Playing { 1.0 } else { 0.0 };
        if self.pause_gain == 0.0 && target_pause == 0.0 {
            return [0.0; 2]; // paused or stopped: hold position
        }
        self.pause_gain = step_toward(self.pause_gain, target_pause, self.ramp_step);
        self.volume = step_toward(self.volume, self.target_volume, self.ramp_step);
        // This frame's level: a track's last frame plays at it though playback stops after it.
        let pause_gain = self.pause_gain;

        // Start the queued crossfade exactly when the current track has that much left.
        if self.fade.is_none() {
            let remaining = self.current.as_ref().map(Voice::remaining);
            if let (Some(remaining), Some((_, len))) = (remaining, &self.queued) {
                if remaining <= *len {
                    let (next, _) = self.queued.take().expect("checked");
                    self.start_fade(next, remaining, false, 1.0);
                }
            }
        }
        let mono_gain = self.mono_gain;
        let mut frame = match self.current.as_mut() {
            Some(v) => v.next_frame(mono_gain),
            None => [0.0; 2],
        };
        if let Some(fade) = self.fade.as_mut() {
            let (out_gain, in_gain) = fade.gains();
            let incoming = fade.incoming.next_frame(mono_gain);
            for (s, i) in frame.iter_mut().zip(incoming) {
                *s = *s * out_gain + i * in_gain;
            }
            fade.pos += 1;
            if fade.pos >= fade.len {
                let fade = self.fade.take().expect("present");
                if let Some(v) = self.current.replace(fade.incoming) {
                    self.released.push(v.track);
                }
            }
        } else if self.current.as_ref().is_some_and(|v| v.remaining() == 0) {
            match self.queued.take() {
                // Queued without a crossfade (none set, or a track under 2 s): it starts with
                // the next frame. (The check above hands over only while frames are left.)
                Some((next, _)) => self.start_fade(next, 0, false, 1.0),
                None => {
                    let done = self.current.take().expect("present");
                    self.push_event(MixerEvent::Finished {
                        track_id: done.track.track_id.clone(),
                    });
                    self.released.push(done.track);
                    self.state = MixerState::Stopped;
                    self.pause_gain = 0.0;
                }
            }
        }
        for tail in &mut self.tails {
            let cut = tail.voice.next_frame(mono_gain);
            for (s, c) in frame.iter_mut().zip(cut) {
                *s += c * tail.gain;
            }
            tail.gain -= self.ramp_step;
        }
        for done in self
            .tails
            .extract_if(.., |tail| tail.gain <= 0.0 || tail.voice.remaining() == 0)
        {
            self.released.push(done.voice.track);
        }
        let mixed = frame.map(|s| s * pause_gain);
        if let Some(tap) = self.tap.as_mut() {
            tap.samples[tap.next] = (mixed[0] + mixed[1]) * 0.5 / mono_gain;
            tap.next = (tap.next + 1) % tap.samples.len();
        }
        mixed.map(|s| s * self.volume)
    }
}

fn step_toward(value: f32, target: f32, step: f32) -> f32 {
    if value < target {
        (value + step).min(target)
    } else {
        (value - step).max(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(id: &str, value: f32, frames: usize) -> Arc<PreparedTrack> {
        Arc::new(PreparedTrack {
            track_id: id.into(),
            samples: vec![value; frames].into(),
            channels: 1,
            rate: 1000,
            continues: None,
        })
    }

    /// The mono tracks' samples as heard: both channels equal, the centre pan's -3 dB undone.
    fn render(m: &mut Mixer, frames: usize) -> Vec<f32> {
        let mut out = vec![0.0; frames * 2];
        m.render(&mut out, 2);
        out.chunks(2)
            .map(|f| {
                assert_eq!(f[0], f[1], "mono duplicated to both channels");
                f[0] * std::f32::consts::SQRT_2
            })
            .collect()
    }

    #[test]
    fn stereo_stays_stereo_and_a_one_channel_device_gets_the_average() {
        let stereo = Arc::new(PreparedTrack {
            track_id: "s".into(),
            samples: [0.5, -0.25].repeat(1000).into(),
            channels: 2,
            rate: 1000,
            continues: None,
        });
        let mut m = Mixer::new(1000, 1.0);
        m.play(Arc::clone(&stereo), 0);
        let mut out = vec![0.0; 400];
        m.render(&mut out, 2);
        assert_eq!(
            &out[300..302],
            &[0.5, -0.25],
            "after the fade-in: left and right as they are"
        );
        let mut mono = vec![0.0; 100];
        m.render(&mut mono, 1);
        assert_eq!(mono[50], 0.125);
        let mut surround = vec![1.0; 600];
        m.render(&mut surround, 6);
        assert_eq!(&surround[6..12], &[0.5, -0.25, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(stereo.frames(), 1000);

        // A mono track in the centre measures as loud as its one channel did (BS.1770 sums
        // the channels' power): -3 dB per side.
        m.play(track("m", 0.5, 1000), 0);
        let mut out = vec![0.0; 400];
        m.render(&mut out, 2);
        let power: f32 = out[300] * out[300] + out[301] * out[301];
        assert!((power - 0.25).abs() < 1e-6);
        // A one-channel device plays the sides' average: the mono track whole, as loud as on
        // two channels, not 3 dB under it.
        let mut mono = vec![0.0; 100];
        m.render(&mut mono, 1);
        assert_eq!(mono[50], 0.5);
        m.set_tap(4);
        m.render(&mut mono, 1);
        let mut tapped = [0.0; 4];
        assert!(m.latest_mixed(&mut tapped));
        assert!(tapped.iter().all(|s| (s - 0.5).abs() < 1e-6), "{tapped:?}");
    }

    #[test]
    fn the_tap_keeps_the_latest_mix_before_the_volume() {
        let mut m = Mixer::new(1000, 0.5);
        let mut latest = [9.0; 4];
        assert!(!m.latest_mixed(&mut latest), "no tap until one is asked for");
        m.set_tap(8);
        m.play(track("a", 0.25, 1000), 0);
        let heard = render(&mut m, 200);
        assert!(m.latest_mixed(&mut latest));
        assert!(
            latest.iter().all(|s| (s - 0.25).abs() < 1e-6),
            "the mix at full scale, whatever the volume: {latest:?}"
        );
        assert!((*heard.last().unwrap() - 0.125).abs() < 1e-6);
        let mut more = [9.0; 12];
        m.latest_mixed(&mut more);
        assert_eq!(&more[..4], &[9.0; 4], "no more than the ring holds");
        m.set_tap(0);
        assert!(!m.latest_mixed(&mut latest));
    }

    #[test]
    fn crossfade_rules() {
        assert_eq!(effective_crossfade(2.0, 30.0), 2.0);
        assert_eq!(effective_crossfade(2.0, 3.0), 0.75);
        assert_eq!(effective_crossfade(2.0, 1.9), 0.0);
        assert_eq!(effective_crossfade(0.0, 30.0), 0.0);
    }

    #[test]
    fn equal_power_crossfade_then_advance() {
        let mut m = Mixer::new(1000, 1.0);
        m.play(track("a", 0.5, 1000), 0);
        m.queue_next(track("b", 0.25, 1000), 0.2);
        let out = render(&mut m, 2000);
        // Fade-in ramp at the start (50 ms at 1 kHz = 50 frames), then steady.
        assert!(out[0] < 0.05 && (out[100] - 0.5).abs() < 1e-6);
        // Frames 800..1000 overlap: a·cos θ + b·sin θ.
        for i in [800usize, 850, 900, 950, 999] {
            let theta = (i - 800) as f32 / 200.0 * FRAC_PI_2;
            let expected = 0.5 * theta.cos() + 0.25 * theta.sin();
            assert!((out[i] - expected).abs() < 1e-5, "frame {i}: {} vs {expected}", out[i]);
        }
        // b carries on from its frame 200 to its end, then silence.
        assert!((out[1100] - 0.25).abs() < 1e-6);
        assert_eq!(out[1800], 0.0);
        let (events, released) = m.take_events();
        assert_eq!(
            events,
            vec![
                MixerEvent::Advanced {
                    from: "a".into(),
                    to: "b".into()
                },
                MixerEvent::Finished { track_id: "b".into() },
            ]
        );
        assert_eq!(released.len(), 2);
        assert_eq!(m.state(), MixerState::Stopped);
    }

    #[test]
    fn pause_holds_position_stop_is_immediate_volume_ramps() {
        let mut m = Mixer::new(1000, 1.0);
        m.play(track("a", 1.0, 10_000), 0);
        render(&mut m, 200);
        m.pause();
        assert!(!m.paused_silent(), "the fade-out is still to play");
        let out = render(&mut m, 200);
        assert!(out[0] > 0.9 && out[60] == 0.0, "pause fades out in 50 ms");
        assert!(m.paused_silent(), "faded out: the device may go");
        let (_, pos) = m.now_playing().unwrap();
        render(&mut m, 500);
        assert_eq!(m.now_playing().unwrap().1, pos, "paused position holds");
        m.resume();
        m.set_volume(0.5);
        let out = render(&mut m, 200);
        let steps: f32 = out.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(steps <= 0.03, "no zipper: largest step {steps}");
        assert!((out[199] - 0.5).abs() < 1e-6);
        m.stop();
        assert!(
            render(&mut m, 10).iter().all(|&s| s == 0.0),
            "stop is immediate silence"
        );
        assert!(m.now_playing().is_none());
    }

    /// A mixer (1000 frames a second) a quarter into a skip's fade from "a" (1.0) into "b"
    /// (-0.5), then skipped on to "c" (0.25); what it rendered so far.
    fn skipped_twice_in_a_crossfade() -> (Mixer, Vec<f32>) {
        let mut m = Mixer::new(1000, 1.0);
        m.play(track("a", 1.0, 10_000), 0);
        let mut heard = render(&mut m, 100);
        m.queue_next(track("b", -0.5, 10_000), 0.4);
        assert!(m.skip());
        heard.extend(render(&mut m, 100));
        m.queue_next(track("c", 0.25, 10_000), 0.2);
        assert!(m.skip());
        (m, heard)
    }

    #[test]
    fn a_skip_during_a_crossfade_hands_over_without_a_jump() {
        let (mut m, mut heard) = skipped_twice_in_a_crossfade();
        assert_eq!(m.now_playing().unwrap().0.track_id, "c");
        heard.extend(render(&mut m, 400));
        // After the fade-in: a ramps out from where its fade had it (0.02 a frame), b fades out
        // from where its fade had it, c comes in; nothing jumps.
        let largest = heard[60..].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(largest < 0.03, "largest step {largest}");
        assert!((heard[599] - 0.25).abs() < 1e-6, "c alone: {}", heard[599]);
    }

    #[test]
    fn skips_within_a_ramp_leave_every_cut_track_ramping_out() {
        let (mut m, mut heard) = skipped_twice_in_a_crossfade(); // a ramps out over 50 frames
        heard.extend(render(&mut m, 10));
        m.queue_next(track("d", 0.75, 10_000), 0.2);
        assert!(m.skip()); // b ramps out beside it: a was cut there before
        heard.extend(render(&mut m, 400));
        let largest = heard[60..].windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f32::max);
        assert!(largest < 0.05, "largest step {largest}");
        assert!((heard[609] - 0.75).abs() < 1e-6, "d alone: {}", heard[609]);
    }

    /// Without a crossfade a track's end hands over to the queued one at the next frame, as a
    /// crossfade's start would, announced the same way; without one queued, playback stops.
    #[test]
    fn a_track_ending_hands_over_gaplessly_to_one_queued_without_a_crossfade() {
        let mut m = Mixer::new(1000, 1.0);
        m.play(track("a", 0.25, 100), 0);
        m.queue_next(track("b", 0.5, 100), 0.0);
        let out = render(&mut m, 300);
        assert!(
            (out[99] - 0.25).abs() < 1e-6 && (out[100] - 0.5).abs() < 1e-6,
            "{:?}",
            &out[98..102]
        );
        assert!(
            (out[199] - 0.5).abs() < 1e-6,
            "b to its last frame: {:?}",
            &out[197..201]
        );
        assert!(out[200..].iter().all(|&s| s == 0.0), "then silence");
        let (events, _) = m.take_events();
        assert!(
            matches!(&events[..], [MixerEvent::Advanced { from, to }, MixerEvent::Finished { track_id }]
                if from == "a" && to == "b" && track_id == "b"),
            "{events:?}"
        );
        assert_eq!(m.state(), MixerState::Stopped);
    }

    #[test]
    fn skip_fades_now_and_short_tracks_switch_gaplessly() {
        let mut m = Mixer::new(1000, 1.0);
        m.play(track("a", 1.0, 10_000), 0);
        render(&mut m, 100);
        m.queue_next(track("b", 0.0, 10_000), 0.1);
        assert!(m.skip());
        let out = render(&mut m, 200);
        assert!(out[50] < 0.8 && out[50] > 0.2, "mid-fade");
        assert_eq!(out[150], 0.0, "b after the 100-frame fade");
        assert!(!m.skip(), "nothing queued");
        m.queue_next(track("c", 0.3, 100), 0.0);
        assert!(m.skip());
        assert!((render(&mut m, 1)[0] - 0.3).abs() < 1e-6);
        // The control side reports a skip itself: the mixer's hand-overs add nothing.
        assert!(m.take_events().0.is_empty());
    }
}
