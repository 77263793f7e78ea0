//! Visualizer frames: while a client is subscribed and audio plays, the band levels of the
//! latest mixed audio, at up to 30 frames a second. The mixer keeps the samples it hands the
//! device (its tap), so the frames follow what is heard, not what is decoded.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::mixer::{Mixer, MixerState};
use super::spectrum::{Spectrum, BANDS, WINDOW};

pub const MAX_FPS: u32 = 30;

/// One frame: band levels (0–1, low to high) and the position in the track heard.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub bands: [f32; BANDS],
    pub position_sec: f64,
}

/// A running subscription; dropping it stops the frames and the mixer's tap.
pub struct Visualizer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    mixer: Arc<Mutex<Mixer>>,
}

impl Visualizer {
    /// Sends `emit` a frame every 1/`fps` s (`fps` in 1..=[`MAX_FPS`]) while the mixer plays.
    pub fn start(mixer: Arc<Mutex<Mixer>>, fps: u32, emit: impl Fn(Frame) + Send + 'static) -> Visualizer {
        lock(&mixer).set_tap(WINDOW);
        let stop = Arc::new(AtomicBool::new(false));
        let period = Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, MAX_FPS)));
        let thread = {
            let (mixer, stop) = (Arc::clone(&mixer), Arc::clone(&stop));
            thread::Builder::new()
                .name("visualizer".into())
                .spawn(move || run(&mixer, period, &stop, emit))
                .expect("spawn visualizer")
        };
        Visualizer {
            stop,
            thread: Some(thread),
            mixer,
        }
    }
}

fn lock(mixer: &Mutex<Mixer>) -> std::sync::MutexGuard<'_, Mixer> {
    mixer.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(mixer: &Mutex<Mixer>, period: Duration, stop: &AtomicBool, emit: impl Fn(Frame)) {
    let mut spectrum = Spectrum::new(lock(mixer).rate());
    let mut samples = vec![0.0f32; WINDOW];
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        next += period;
        thread::sleep(next.saturating_duration_since(Instant::now()));
        if Instant::now() > next + period {
            next = Instant::now(); // fell behind (a stalled machine): no burst of frames
        }
        // A copy of 16 KB under the lock the audio callback takes: microseconds.
        let heard = {
            let m = lock(mixer);
            if m.state() != MixerState::Playing || !m.latest_mixed(&mut samples) {
                continue; // paused or stopped: no frames
            }
            m.now_playing()
                .map(|(track, pos)| (m.rate(), pos as f64 / track.rate as f64))
        };
        let Some((rate, position_sec)) = heard else {
            continue;
        };
        if spectrum.rate() != rate {
            spectrum = Spectrum::new(rate);
        }
        emit(Frame {
            bands: spectrum.levels(&samples),
            position_sec,
        });
    }
}

impl Drop for Visualizer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        lock(&self.mixer).set_tap(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::mixer::PreparedTrack;

    fn tone(hz: f32, rate: u32, seconds: f32) -> Arc<PreparedTrack> {
        let frames = (rate as f32 * seconds) as usize;
        Arc::new(PreparedTrack {
            track_id: "0000beef".into(),
            samples: (0..frames)
                .map(|i| 0.5 * (std::f32::consts::TAU * hz * i as f32 / rate as f32).sin())
                .collect::<Vec<f32>>()
                .into(),
            channels: 1,
            rate,
            continues: None,
        })
    }

    #[test]
    fn frames_show_what_the_mixer_played_and_stop_while_paused() {
        let mixer = Arc::new(Mutex::new(Mixer::new(48_000, 0.1)));
        let (tx, rx) = crossbeam_channel::unbounded();
        let visualizer = Visualizer::start(Arc::clone(&mixer), 30, move |frame| {
            let _ = tx.send(frame);
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "nothing while stopped"
        );
        let mut out = vec![0.0; 2 * 9_600];
        {
            let mut m = lock(&mixer);
            m.play(tone(1_000.0, 48_000, 2.0), 0);
            m.render(&mut out, 2); // 200 ms, past the fade-in
        }
        let frame = rx.recv_timeout(Duration::from_secs(1)).expect("a frame while playing");
        assert!(frame.bands[5] > 0.8, "1 kHz lights band 6: {:?}", frame.bands);
        assert_eq!(frame.bands[0], 0.0, "and not band 1: {:?}", frame.bands);
        assert!((frame.position_sec - 0.2).abs() < 1e-9, "{}", frame.position_sec);
        lock(&mixer).pause();
        while rx.recv_timeout(Duration::from_millis(100)).is_ok() {} // frames already sent
        assert!(
            rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "nothing while paused"
        );
        drop(visualizer);
        let mut latest = [0.0; 4];
        assert!(
            !lock(&mixer).latest_mixed(&mut latest),
            "the tap goes with the subscription"
        );
    }
}
