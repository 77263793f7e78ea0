//! A track that plays while it generates (README, Streaming): the generation thread hands its
//! audio over as it comes, resampled here to the device rate and appended to a
//! [`GrowingSamples`] the mixer plays from; the engine starts it once the rest will arrive
//! before the listener gets there.

use std::sync::Arc;
use std::time::Duration;

use super::growing::GrowingSamples;
use super::mixer::{PreparedTrack, Samples};
use super::resample::StreamResampler;

/// The writing end of a growing track. Dropped before [`TrackStream::finish`] (the generation
/// failed or was cancelled), the track ends where it got.
pub struct TrackStream {
    track: Arc<PreparedTrack>,
    resampler: StreamResampler,
    resampled: Vec<f32>,
}

impl TrackStream {
    /// A growing track `track_id` of `frames` frames of `channels` channels at `from` Hz, to
    /// play at `to` Hz; the track is for the engine, the stream for the generator.
    pub fn new(
        track_id: &str,
        frames: usize,
        channels: u16,
        from: u32,
        to: u32,
    ) -> Result<(TrackStream, Arc<PreparedTrack>), String> {
        let channels = usize::from(channels.max(1));
        let frames_out = (frames as u64 * u64::from(to) / u64::from(from)) as usize;
        let track = Arc::new(PreparedTrack {
            track_id: track_id.to_owned(),
            samples: Samples::Growing(GrowingSamples::with_len(frames_out * channels)),
            channels,
            rate: to,
            continues: None,
        });
        let stream = TrackStream {
            track: Arc::clone(&track),
            resampler: StreamResampler::new(from, to, channels)?,
            resampled: Vec::new(),
        };
        Ok((stream, track))
    }

    /// Appends the next interleaved samples (what goes past the track's length is dropped).
    pub fn push(&mut self, samples: &[f32]) -> Result<(), String> {
        self.resampled.clear();
        self.resampler.push(samples, &mut self.resampled)?;
        self.growing().extend(&self.resampled);
        Ok(())
    }

    /// The generation is done: the rest of the audio, and the track's end.
    pub fn finish(mut self) -> Result<(), String> {
        self.resampled.clear();
        self.resampler.finish(&mut self.resampled)?;
        self.growing().extend(&self.resampled);
        Ok(())
    }

    fn growing(&self) -> &GrowingSamples {
        match &self.track.samples {
            Samples::Growing(g) => g,
            Samples::Whole(_) => unreachable!("a stream writes a growing track"),
        }
    }
}

impl Drop for TrackStream {
    fn drop(&mut self) {
        self.growing().end();
    }
}

/// The speed measured so far is divided by this before it is trusted: a MusicGen step slows as
/// its context fills (about 1.7× from the first second to the thirtieth).
const SLOWDOWN_ALLOWANCE: f64 = 1.5;
/// Audio that must be buffered beyond what the generation's pace needs: the generator hands
/// audio over about a second at a time.
const MARGIN_SEC: f64 = 1.5;

/// Whether `track`, growing for `elapsed`, can start now and play to its end without running
/// dry. At a pace `s` (seconds of audio per second, measured so far and divided by
/// [`SLOWDOWN_ALLOWANCE`]), the listener gains `1 - s` seconds on the generator each second for
/// the `left / s` seconds it still takes, so the audio buffered must cover that, plus
/// [`MARGIN_SEC`]: a generator faster than real time starts with the margin buffered, a slower
/// one once the rest will arrive before the listener gets there. A finished track always can.
pub fn can_start(track: &PreparedTrack, elapsed: Duration) -> bool {
    let Samples::Growing(growing) = &track.samples else {
        return true;
    };
    let written = growing.written();
    if growing.ended() || written >= growing.len() {
        return true;
    }
    if written == 0 || elapsed.is_zero() {
        return false;
    }
    let samples_per_sec = track.rate as f64 * track.channels as f64;
    let buffered = written as f64 / samples_per_sec;
    let left = (growing.len() - written) as f64 / samples_per_sec;
    let pace = buffered / elapsed.as_secs_f64() / SLOWDOWN_ALLOWANCE;
    let gained_by_listener = (left / pace) * (1.0 - pace).max(0.0);
    buffered >= gained_by_listener + MARGIN_SEC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_plays_what_arrived_and_ends_with_its_length() {
        let (mut stream, track) = TrackStream::new("t", 100, 2, 1000, 2000).unwrap();
        assert_eq!(track.frames(), 200);
        stream.push(&[0.5; 2 * 60]).unwrap();
        stream.finish().unwrap();
        assert_eq!(track.frames(), 120, "60 frames at twice the rate");

        let (mut failed, track) = TrackStream::new("u", 100, 1, 1000, 1000).unwrap();
        failed.push(&[0.25; 30]).unwrap();
        assert_eq!(track.frames(), 100, "the expected length while it grows");
        drop(failed);
        assert_eq!(track.frames(), 30, "a stream dropped unfinished ends where it got");
    }

    #[test]
    fn a_stream_starts_when_the_rest_will_arrive_in_time() {
        let (mut stream, track) = TrackStream::new("t", 30_000, 1, 1000, 1000).unwrap();
        assert!(!can_start(&track, Duration::from_secs(1)), "nothing buffered");
        stream.push(&[0.0; 1000]).unwrap();
        // Far faster than real time: once the margin is buffered.
        assert!(!can_start(&track, Duration::from_millis(100)));
        stream.push(&[0.0; 1000]).unwrap();
        assert!(can_start(&track, Duration::from_millis(200)));
        // Half real time (a third, allowing for the slowdown): 28 s left take 84 s, in which the
        // listener gains 56 s: wait.
        assert!(!can_start(&track, Duration::from_secs(4)));
        // 21 s made in 42 s: 9 s left take 27 s, the listener gains 18 s: start.
        stream.push(&[0.0; 19_000]).unwrap();
        assert!(can_start(&track, Duration::from_secs(42)));
        assert!(!can_start(&track, Duration::from_secs(50)), "slower still: wait");
        stream.finish().unwrap();
        assert!(can_start(&track, Duration::from_secs(50)), "complete");
    }
}
