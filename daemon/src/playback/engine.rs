//! The control side of playback: transport through the playlist (playlist.rs), crossfade
//! scheduling, events, device selection and recovery. Runs on the RPC and pump threads, never
//! on the audio thread; talks to the mixer through short O(1) critical sections.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::device_watch::DeviceWatch;
use super::mixer::{effective_crossfade, Mixer, MixerEvent, MixerState, PreparedTrack};
use super::output::{self, ErrorSlot, OpenOutput, Output};
use super::playlist::Playlist;
use super::prepare::prepare;
use super::stream::can_start;
use super::visualizer::{Frame, Visualizer};
use super::PlaybackError;
use crate::cache::Cache;

/// What the engine reports; the server turns these into notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybackEvent {
    Started {
        track_id: String,
    },
    Paused {
        track_id: String,
    },
    Resumed {
        track_id: String,
    },
    Ended {
        track_id: String,
        reason: &'static str,
    },
    /// A playlist track could not be loaded (its file deleted or damaged): it was dropped.
    Unplayable {
        track_id: String,
        message: String,
    },
    DeviceError {
        message: String,
    },
    DeviceRestored {
        device: String,
    },
    /// The current track passed half way and nothing follows it: time to prefetch.
    PrefetchWanted {
        track_id: String,
    },
    /// The playlist changed: `reason` is "added" or "cleared", or why `removed` left it:
    /// "removed" (asked for), "not_in_cache" (deleted or evicted, here or by another daemon
    /// sharing the cache), "unplayable" (its audio cannot be loaded).
    PlaylistChanged {
        tracks: Vec<String>,
        removed: Vec<String>,
        reason: &'static str,
    },
}

/// How often the playlist is checked against the cache, which another daemon may change.
const CACHE_CHECK: Duration = Duration::from_secs(1);

pub struct Engine {
    mixer: Arc<Mutex<Mixer>>,
    output: Output,
    errors: ErrorSlot,
    device: DeviceWatch,
    cache: Arc<Cache>,
    playlist: Playlist,
    crossfade_sec: f64,
    prefetched_for: Option<String>,
    events: Vec<PlaybackEvent>,
    /// The track the events last said started and have not said ended: what the client
    /// believes plays. Ends and starts are announced against it, not against the mixer's
    /// current track, which the audio thread may move on (a crossfade beginning) between the
    /// engine's look at the mixer and its action there.
    announced: Option<String>,
    cache_checked: Instant,
    /// Tracks that play while they generate, and when each began: found here until the cache
    /// holds them.
    live: Vec<(Arc<PreparedTrack>, Instant)>,
    /// The growing track asked to play, until enough of it has arrived (see [`can_start`]).
    waiting: Option<String>,
}

impl Engine {
    /// Starts the output thread and opens `device`. A device that cannot be opened is
    /// reported and retried; the engine works meanwhile (nothing is heard).
    pub fn new(cache: Arc<Cache>, device: Option<String>, volume: f32) -> Engine {
        let mixer = Arc::new(Mutex::new(Mixer::new(48_000, volume)));
        let errors: ErrorSlot = Arc::default();
        let output = Output::start(Arc::clone(&mixer), Arc::clone(&errors));
        let mut engine = Engine {
            mixer,
            output,
            errors,
            device: DeviceWatch::new(device),
            cache,
            playlist: Playlist::new(),
            crossfade_sec: crate::defaults::CROSSFADE_SEC,
            prefetched_for: None,
            events: Vec::new(),
            announced: None,
            cache_checked: Instant::now(),
            live: Vec::new(),
            waiting: None,
        };
        if let Err(e) = engine.reopen() {
            engine.lost_device(e.to_string());
        }
        engine
    }

    /// Visualizer frames of what the mixer plays, until the returned handle is dropped.
    pub fn visualize(&self, fps: u32, emit: impl Fn(Frame) + Send + 'static) -> Visualizer {
        Visualizer::start(Arc::clone(&self.mixer), fps, emit)
    }

    fn mixer(&self) -> MutexGuard<'_, Mixer> {
        self.mixer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn take_events(&mut self) -> Vec<PlaybackEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn current_track(&self) -> Option<String> {
        self.mixer().now_playing().map(|(t, _)| t.track_id.clone())
    }

    pub fn is_playing(&self) -> bool {
        self.mixer().state() == MixerState::Playing
    }

    /// Track ids the cache must not evict: the one heard and the one loaded after it.
    pub fn protected(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.current_track().into_iter().collect();
        ids.extend(self.playlist.queued_track().map(str::to_owned));
        ids
    }

    /// The output's sample rate.
    pub fn rate(&self) -> u32 {
        self.mixer().rate()
    }

    /// (Re)opens the wanted device and re-prepares loaded tracks if its rate differs,
    /// keeping the current position.
    fn reopen(&mut self) -> Result<OpenOutput, PlaybackError> {
        self.follow_mixer(); // the track replayed below is the one announced
        let old_rate = self.rate();
        let snapshot = {
            let m = self.mixer();
            m.now_playing().map(|(t, pos)| (t.track_id.clone(), pos, m.state()))
        };
        let opened = self.output.open(self.device.wanted()).map_err(PlaybackError::Device)?;
        if opened.sample_rate != old_rate {
            if let Some((id, pos, state)) = &snapshot {
                let track = self.load_at(id, opened.sample_rate)?;
                let pos = (*pos as u64 * opened.sample_rate as u64 / old_rate as u64) as usize;
                let mut m = self.mixer();
                m.play(track, pos);
                if *state == MixerState::Paused {
                    m.pause();
                }
            }
            self.playlist.set_queued(None);
            self.queue_following();
        }
        *self.errors.lock().unwrap_or_else(|e| e.into_inner()) = None;
        // A paused track stays paused on the new device, which starts on resume.
        self.output.run(self.mixer().state() == MixerState::Playing);
        self.device.open(opened.clone());
        Ok(opened)
    }

    fn lost_device(&mut self, message: String) {
        tracing::warn!("audio device error: {message}");
        self.output.run(false);
        if self.device.lose() {
            self.events.push(PlaybackEvent::DeviceError {
                message: format!("audio output unavailable ({message}); playback resumes when it is back"),
            });
        }
    }

    /// A track at the device rate: the growing one while it generates, else from the cache.
    fn load(&self, track_id: &str) -> Result<Arc<PreparedTrack>, PlaybackError> {
        self.load_at(track_id, self.rate())
    }

    fn load_at(&self, track_id: &str, rate: u32) -> Result<Arc<PreparedTrack>, PlaybackError> {
        match self.live.iter().find(|(t, _)| t.track_id == track_id && t.rate == rate) {
            Some((track, _)) => Ok(Arc::clone(track)),
            None => prepare(&self.cache, track_id, rate),
        }
    }

    fn is_live(&self, track_id: &str) -> bool {
        self.live.iter().any(|(t, _)| t.track_id == track_id)
    }

    /// Whether `track_id` can be played: in the cache, or generating as it plays.
    fn known(&self, track_id: &str) -> bool {
        self.is_live(track_id) || self.cache.get(track_id).is_ok()
    }

    fn check_known(&self, track_id: &str) -> Result<(), PlaybackError> {
        if self.known(track_id) {
            Ok(())
        } else {
            Err(PlaybackError::NotCached(track_id.to_owned()))
        }
    }

    /// A track asked to play that arrives as it generates: it starts (as [`Engine::play_now`]
    /// does) once enough of it is buffered that the rest arrives before the listener gets there.
    pub fn add_stream(&mut self, track: Arc<PreparedTrack>) {
        self.waiting = Some(track.track_id.clone());
        self.live.push((track, Instant::now()));
    }

    /// The growing track `track_id` is complete and in the cache: from now on it loads from
    /// there. Returns whether it already plays (else it is the caller's to start).
    pub fn stream_stored(&mut self, track_id: &str) -> bool {
        let started = self.is_live(track_id) && self.waiting.as_deref() != Some(track_id);
        self.forget_stream(track_id);
        started
    }

    /// The generation of the growing track `track_id` failed: what arrived plays out, and the
    /// track leaves the playlist.
    pub fn stream_failed(&mut self, track_id: &str, message: &str) {
        if !self.is_live(track_id) {
            return;
        }
        self.forget_stream(track_id);
        if self.playlist.contains(track_id) {
            self.drop_unplayable(track_id, message.to_owned());
        }
    }

    fn forget_stream(&mut self, track_id: &str) {
        self.live.retain(|(t, _)| t.track_id != track_id);
        if self.waiting.as_deref() == Some(track_id) {
            self.waiting = None;
        }
    }

    /// Starts the growing track waiting to play once it can keep going.
    fn start_stream_when_ready(&mut self) {
        let Some(id) = self.waiting.clone() else { return };
        let ready = self
            .live
            .iter()
            .find(|(t, _)| t.track_id == id)
            .is_some_and(|(track, began)| can_start(track, began.elapsed()));
        if ready {
            self.waiting = None;
            if let Err(e) = self.play_now(&id) {
                tracing::warn!("cannot play {id}: {e}");
            }
        }
    }

    fn crossfade_between(&self, a: &PreparedTrack, b: &PreparedTrack) -> f64 {
        if b.continues.as_deref() == Some(a.track_id.as_str()) {
            // One stream cut in two, b starting with a's last moments: fade across them.
            return crate::cache::SEAMLESS_OVERLAP_SEC.min(a.duration_sec() / 2.0);
        }
        effective_crossfade(self.crossfade_sec, a.duration_sec())
            .min(effective_crossfade(self.crossfade_sec, b.duration_sec()))
    }

    /// Loads the track after the current one into the mixer, so it starts (crossfaded)
    /// exactly when the current one ends.
    fn queue_following(&mut self) {
        let next = self.playlist.next();
        if next.is_some() && next == self.playlist.queued() && self.mixer().has_queued() {
            return;
        }
        // Nothing to follow (the playlist emptied, looping turned off): the mixer lets go of
        // what it held queued, or a skip or the track's end would go on to a track the
        // playlist no longer holds, with no `playback_started` for it.
        self.playlist.set_queued(None);
        self.mixer().clear_queued();
        let Some(next) = next else { return };
        let Some(current) = self.mixer().now_playing().map(|(t, _)| Arc::clone(t)) else {
            return;
        };
        // A playlist of one that loops follows itself: the loaded track is reused.
        let following = if current.track_id == self.playlist.track(next) {
            Ok(Arc::clone(&current))
        } else {
            self.load(self.playlist.track(next))
        };
        match following {
            Ok(track) => {
                let fade = self.crossfade_between(&current, &track);
                self.mixer().queue_next(track, fade);
                self.playlist.set_queued(Some(next));
            }
            Err(e) => {
                // Dropped from the playlist, so the track after it plays instead of playback
                // stopping at a file that went missing or bad in the cache.
                let track_id = self.playlist.track(next).to_owned();
                self.drop_unplayable(&track_id, e.to_string());
            }
        }
    }

    /// Reports a track whose audio cannot be loaded and takes it out of the playlist.
    fn drop_unplayable(&mut self, track_id: &str, message: String) {
        tracing::warn!("cannot play {track_id}: {message}");
        if self.announced.as_deref() == Some(track_id) {
            self.announced = None; // this is its end (a failed stream plays out what arrived)
        }
        self.events.push(PlaybackEvent::Unplayable {
            track_id: track_id.to_owned(),
            message,
        });
        self.drop_from_playlist(&[track_id.to_owned()], "unplayable");
    }

    /// Takes tracks out of the playlist and tells the client.
    fn drop_from_playlist(&mut self, removed: &[String], reason: &'static str) {
        self.playlist.remove(removed);
        self.playlist_changed(removed, reason);
        self.queue_following();
    }

    /// Tells the client the playlist as it is now, and why.
    fn playlist_changed(&mut self, removed: &[String], reason: &'static str) {
        self.events.push(PlaybackEvent::PlaylistChanged {
            tracks: self.playlist.tracks().to_vec(),
            removed: removed.to_vec(),
            reason,
        });
    }

    /// Appends `track_id` to the playlist; returns its index.
    fn append(&mut self, track_id: &str) -> usize {
        let index = self.playlist.append(track_id);
        self.playlist_changed(&[], "added");
        index
    }

    /// Drops every playlist entry that has left the cache: deleted here, or evicted or
    /// deleted by another daemon sharing it.
    pub fn forget_missing(&mut self) {
        self.cache_checked = Instant::now();
        let mut gone: Vec<String> = self
            .playlist
            .tracks()
            .iter()
            .filter(|id| !self.known(id))
            .cloned()
            .collect();
        gone.sort();
        gone.dedup(); // a track may be listed twice
        if !gone.is_empty() {
            tracing::info!("{} playlist track(s) left the cache", gone.len());
            self.drop_from_playlist(&gone, "not_in_cache");
        }
    }

    fn start(&mut self, index: usize) -> Result<(), PlaybackError> {
        let track_id = self.playlist.track(index).to_owned();
        let track = self.load(&track_id)?;
        self.announce_end("skipped");
        self.mixer().play(track, 0);
        self.playlist.hear(Some(index));
        self.prefetched_for = None;
        self.announce_start(track_id.clone());
        // The next track is queued before the device runs, so even a short track on a
        // fast device hands over to it. (This may drop unplayable entries and so move the
        // track heard: only `track_id` is used below.)
        self.queue_following();
        self.output.run(true);
        // After the device runs: the LRU record is not worth a moment of silence. (A growing
        // track is not in the cache yet.)
        if !self.is_live(&track_id) {
            if let Err(e) = self.cache.touch(&track_id) {
                tracing::warn!("cannot record last play: {e}");
            }
        }
        Ok(())
    }

    /// Starts the playlist at its current place, dropping entries that cannot be played;
    /// with nothing left, the most recent cached track that plays. `Ok(false)` when the
    /// cache holds nothing playable.
    fn start_playlist(&mut self) -> Result<bool, PlaybackError> {
        self.forget_missing();
        while !self.playlist.tracks().is_empty() {
            let index = self.playlist.heard().unwrap_or(0).min(self.playlist.tracks().len() - 1);
            match self.start(index) {
                Ok(()) => return Ok(true),
                Err(e) => {
                    let track_id = self.playlist.track(index).to_owned();
                    self.drop_unplayable(&track_id, e.to_string());
                }
            }
        }
        let mut cached = self.cache.list();
        cached.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        for meta in cached {
            let index = self.append(&meta.track_id);
            match self.start(index) {
                Ok(()) => return Ok(true),
                Err(e) => self.drop_unplayable(&meta.track_id, e.to_string()),
            }
        }
        Ok(false)
    }

    /// `play`: a given track (added to the playlist if needed), else resume, else the
    /// playlist, else the most recent cached track. `Ok(false)` when there is nothing
    /// to play at all (the caller may generate one).
    pub fn play(&mut self, track_id: Option<&str>) -> Result<bool, PlaybackError> {
        match track_id {
            Some(id) => {
                self.check_known(id)?;
                let index = match self.playlist.position(id) {
                    Some(i) => i,
                    None => self.append(id),
                };
                self.start(index)?;
            }
            None if self.mixer().state() == MixerState::Paused => self.resume(),
            None if self.mixer().state() == MixerState::Playing => {}
            None => return self.start_playlist(),
        }
        Ok(true)
    }

    /// Plays `track_id` next, crossfading into it now if something is playing (used when
    /// a requested track finishes generating while another one plays).
    pub fn play_now(&mut self, track_id: &str) -> Result<(), PlaybackError> {
        self.check_known(track_id)?;
        match (self.playlist.heard(), self.current_track()) {
            (Some(index), Some(_)) if self.is_playing() => {
                self.playlist.insert_after(index, track_id);
                self.playlist_changed(&[], "added");
                self.skip()
            }
            _ => self.play(Some(track_id)).map(|_| ()),
        }
    }

    /// Pauses (fading out) what plays. The notifications name the track announced as playing:
    /// a failed stream playing out what arrived has had its end told already, so it pauses and
    /// resumes unnamed.
    pub fn pause(&mut self) {
        let mut m = self.mixer();
        if m.state() == MixerState::Playing {
            m.pause();
            drop(m);
            if let Some(track_id) = self.announced.clone() {
                self.events.push(PlaybackEvent::Paused { track_id });
            }
        }
    }

    pub fn resume(&mut self) {
        let mut m = self.mixer();
        if m.state() == MixerState::Paused {
            m.resume();
            drop(m);
            self.output.run(true);
            if let Some(track_id) = self.announced.clone() {
                self.events.push(PlaybackEvent::Resumed { track_id });
            }
        }
    }

    /// Immediate silence; the playlist position goes back to its start.
    pub fn stop(&mut self) {
        self.silence("stopped");
    }

    /// Silence at once, the playlist position back to its start, and the track heard ended
    /// for `reason`.
    fn silence(&mut self, reason: &'static str) {
        self.mixer().stop();
        self.output.run(false);
        self.playlist.hear(None);
        self.announce_end(reason);
    }

    fn announce_start(&mut self, track_id: String) {
        self.announced = Some(track_id.clone());
        self.events.push(PlaybackEvent::Started { track_id });
    }

    /// Announces the end of the track announced as playing, if any.
    fn announce_end(&mut self, reason: &'static str) {
        if let Some(track_id) = self.announced.take() {
            self.events.push(PlaybackEvent::Ended { track_id, reason });
        }
    }

    /// Next track, crossfading; at the end of a non-looping playlist, stops.
    pub fn skip(&mut self) -> Result<(), PlaybackError> {
        // A crossfade the mixer began since the last tick has taken its queued track.
        self.follow_mixer();
        if self.current_track().is_none() {
            return Err(PlaybackError::NothingPlaying);
        }
        self.forget_missing();
        self.queue_following();
        // The audio thread may begin a crossfade into the queued track between the look
        // above and the skip: then that hand-over is taken in and the skip goes on from it.
        let skipped = self.mixer().skip() || {
            self.follow_mixer();
            self.queue_following();
            self.mixer().skip()
        };
        if skipped {
            self.announce_end("skipped");
            if let Some(next) = self.playlist.hear_queued() {
                self.prefetched_for = None;
                self.announce_start(self.playlist.track(next).to_owned());
            }
            self.queue_following();
        } else {
            self.silence("skipped");
        }
        Ok(())
    }

    pub fn playlist(&self) -> &[String] {
        self.playlist.tracks()
    }

    pub fn playlist_add(&mut self, track_id: &str) -> Result<(), PlaybackError> {
        self.check_known(track_id)?;
        self.append(track_id);
        self.queue_following();
        Ok(())
    }

    /// Removes every occurrence; the track playing keeps playing to its end.
    pub fn playlist_remove(&mut self, track_id: &str) -> Result<(), PlaybackError> {
        if !self.playlist.contains(track_id) {
            return Err(PlaybackError::NotInPlaylist(track_id.to_owned()));
        }
        self.drop_from_playlist(&[track_id.to_owned()], "removed");
        Ok(())
    }

    /// Empties the playlist; the track playing finishes, then playback stops.
    pub fn playlist_clear(&mut self) {
        self.playlist.clear();
        self.playlist_changed(&[], "cleared");
        self.mixer().clear_queued();
    }

    pub fn set_volume(&mut self, level: f32) {
        self.mixer().set_volume(level);
    }

    /// The volume asked for, rounded for display (f32 steps would show as 0.30000001).
    pub fn volume(&self) -> f64 {
        (self.mixer().target_volume() as f64 * 1000.0).round() / 1000.0
    }

    pub fn set_crossfade(&mut self, seconds: f64) {
        self.crossfade_sec = seconds;
        self.playlist.set_queued(None); // queued with the old crossfade
        self.queue_following();
    }

    pub fn crossfade(&self) -> f64 {
        self.crossfade_sec
    }

    pub fn set_loop(&mut self, enabled: bool) {
        self.playlist.set_loops(enabled);
        self.queue_following();
    }

    pub fn loops(&self) -> bool {
        self.playlist.loops()
    }

    /// Takes those of `track_ids` that are still to come out of the playlist.
    pub fn playlist_remove_upcoming(&mut self, track_ids: &[String]) {
        let leaving: Vec<String> = self
            .upcoming()
            .iter()
            .filter(|t| track_ids.contains(t))
            .cloned()
            .collect();
        if !leaving.is_empty() {
            self.drop_from_playlist(&leaving, "removed");
        }
    }

    /// The playlist after the track heard (all of it when none is).
    pub fn upcoming(&self) -> &[String] {
        self.playlist.upcoming()
    }

    /// Seconds of music queued from now, without wrapping: what is left of the track heard and
    /// the playlist after it (`duration_of` knows the tracks not loaded yet).
    pub fn seconds_ahead(&self, duration_of: impl Fn(&str) -> Option<f64>) -> f64 {
        let left = self.mixer().now_playing().map_or(0.0, |(track, pos)| {
            track.frames().saturating_sub(pos) as f64 / track.rate as f64
        });
        let queued: f64 = self.upcoming().iter().filter_map(|id| duration_of(id)).sum();
        left + queued
    }

    pub fn devices(&self) -> Value {
        json!({
            "current": self.device_name(),
            "output": self.device.opened(),
            "available": output::list_devices(),
        })
    }

    /// Switches the output live; the current track continues from its position. If the
    /// new device cannot be opened, the previous one is reopened.
    pub fn set_device(&mut self, device: &str) -> Result<OpenOutput, PlaybackError> {
        let previous = self.device.want(Some(device.to_owned()));
        self.reopen().inspect_err(|_| {
            self.device.want(previous);
            if let Err(e) = self.reopen() {
                self.lost_device(e.to_string());
            }
        })
    }

    pub fn device_name(&self) -> Option<&str> {
        self.device.opened().map(|o| o.name.as_str())
    }

    pub fn status(&self) -> Value {
        let m = self.mixer();
        let (track_id, position, duration) = match m.now_playing() {
            Some((t, pos)) => (Some(t.track_id.clone()), pos as f64 / t.rate as f64, t.duration_sec()),
            None => (None, 0.0, 0.0),
        };
        let streaming = m.now_playing().and_then(|(t, pos)| {
            let ahead = t.frames_arrived()?.saturating_sub(pos) as f64 / t.rate as f64;
            Some(json!({ "buffered_sec": (ahead * 10.0).round() / 10.0 }))
        });
        let state = match m.state() {
            MixerState::Playing => "playing",
            MixerState::Paused => "paused",
            MixerState::Stopped => "stopped",
        };
        json!({
            "state": state,
            "track_id": track_id,
            "position_sec": (position * 100.0).round() / 100.0,
            "duration_sec": (duration * 100.0).round() / 100.0,
            "volume": (m.target_volume() as f64 * 1000.0).round() / 1000.0,
            "loop": self.playlist.loops(),
            "crossfade_sec": self.crossfade_sec,
            "dropouts": output::DROPOUTS.load(std::sync::atomic::Ordering::Relaxed),
            "streaming": streaming,
        })
    }

    /// Whether [`Engine::tick`] has anything to watch soon: a track playing or fading out to a
    /// pause, a growing track waiting to start, a device to reopen or just back, events not yet
    /// taken. Otherwise a tick a second does (the cache's check included).
    pub fn needs_ticks(&self) -> bool {
        let mixer = self.mixer();
        let sounding = match mixer.state() {
            MixerState::Playing => true,
            MixerState::Paused => !mixer.paused_silent(),
            MixerState::Stopped => false,
        };
        drop(mixer);
        sounding || self.waiting.is_some() || self.device.watching() || !self.events.is_empty()
    }

    /// Takes in what the mixer did since the last look: the playlist moves on as it does.
    pub fn follow_mixer(&mut self) {
        let (events, released) = self.mixer().take_events();
        drop(released); // freed here, not on the audio thread
        for event in events {
            match event {
                MixerEvent::Advanced { from, to } => {
                    // (A failed stream has had its end announced already.)
                    if self.announced.as_ref() == Some(&from) {
                        self.announce_end("finished");
                    }
                    self.playlist.heard_went_on_to(&to);
                    self.prefetched_for = None;
                    self.announce_start(to);
                    self.queue_following();
                }
                MixerEvent::Finished { track_id } => {
                    if self.announced.as_ref() == Some(&track_id) {
                        self.announce_end("finished");
                    }
                    self.playlist.hear(None);
                    self.output.run(false);
                }
            }
        }
    }

    /// Housekeeping every ~50 ms while [`Engine::needs_ticks`], else every second: mixer
    /// events, next-track loading, prefetch, device errors and retries.
    pub fn tick(&mut self) {
        self.follow_mixer();
        if self.mixer().paused_silent() {
            // The pause has faded out: release the device until resume (no CPU, and sinks
            // that ignore pause, like ALSA's file plugin, stop taking silence).
            self.output.run(false);
        }
        if self.cache_checked.elapsed() >= CACHE_CHECK {
            self.forget_missing();
        }
        self.start_stream_when_ready();
        self.check_prefetch();
        let failure = self.errors.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(message) = failure {
            self.lost_device(message);
        }
        if self.device.restored() {
            // Reopened, and a whole tick passed without a new error: it is back.
            let device = self.device_name().unwrap_or_default().to_owned();
            self.events.push(PlaybackEvent::DeviceRestored { device });
        }
        if self.device.retry_due() {
            match self.reopen() {
                Ok(_) => self.device.reopened(),
                Err(e) => {
                    tracing::debug!("audio device still unavailable: {e}");
                    self.device.back_off();
                }
            }
        }
    }

    /// At half of the current track, with nothing after it in the playlist, once.
    fn check_prefetch(&mut self) {
        let Some(index) = self.playlist.heard() else { return };
        let (id, half_way) = {
            let m = self.mixer();
            match m.now_playing() {
                Some((t, pos)) if m.state() == MixerState::Playing => (t.track_id.clone(), pos * 2 >= t.frames()),
                _ => return,
            }
        };
        let last_in_playlist = self.playlist.is_last(index);
        // A track still generating waits: the generator is busy with it.
        if half_way && last_in_playlist && !self.is_live(&id) && self.prefetched_for.as_deref() != Some(&id) {
            self.prefetched_for = Some(id.clone());
            self.events.push(PlaybackEvent::PrefetchWanted { track_id: id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Audio;
    use crate::audio_file::AudioFormat;
    use crate::cache::{CacheLimits, TrackMeta};
    use crate::playback::stream::TrackStream;

    /// A cache holding 1 s tracks of these ids.
    fn cache_with(dir: &std::path::Path, ids: &[&str]) -> Arc<Cache> {
        let cache = Cache::open(dir).unwrap();
        let limits = CacheLimits {
            max_mb: 100.0,
            max_tracks: None,
        };
        for id in ids {
            let audio = Audio {
                samples: vec![0.1; 2 * 48_000],
                sample_rate: 48_000,
                channels: 2,
            };
            let meta = TrackMeta {
                track_id: (*id).into(),
                prompt: "test".into(),
                seed: 0,
                duration_sec: 1.0,
                sample_rate: 48_000,
                backend: "procedural".into(),
                model_version: "test".into(),
                format: AudioFormat::Wav,
                created_at: 0,
                last_played: None,
                size_bytes: 0,
                generation_time_sec: 0.0,
                tokens_actual: 0,
                parent: None,
                seamless: false,
                radio: false,
            };
            cache.store(&meta, &audio, &limits, &[]).unwrap();
        }
        Arc::new(cache)
    }

    /// What the events say plays after each, or the first that contradicts them (a track
    /// starts only when none plays; ends, pauses and resumes only while it plays; one that
    /// cannot be played ends if it plays, and may be a queued one dropped unheard).
    fn announced_story(events: &[PlaybackEvent]) -> Result<Option<String>, String> {
        let mut playing: Option<String> = None;
        for event in events {
            match event {
                PlaybackEvent::Started { track_id } if playing.is_none() => playing = Some(track_id.clone()),
                PlaybackEvent::Ended { track_id, .. } if playing.as_ref() == Some(track_id) => playing = None,
                PlaybackEvent::Unplayable { track_id, .. } if playing.as_ref() == Some(track_id) => playing = None,
                PlaybackEvent::Paused { track_id } | PlaybackEvent::Resumed { track_id }
                    if playing.as_ref() == Some(track_id) => {}
                PlaybackEvent::Started { .. }
                | PlaybackEvent::Ended { .. }
                | PlaybackEvent::Paused { .. }
                | PlaybackEvent::Resumed { .. } => {
                    return Err(format!("{event:?} while {playing:?} plays: {events:?}"))
                }
                _ => {}
            }
        }
        Ok(playing)
    }

    /// The audio thread begins a crossfade between the engine's look at the mixer and a
    /// `play`: the events still tell one story, and the track asked for is the one heard.
    #[test]
    fn a_crossfade_beginning_just_before_a_play_is_superseded_by_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_with(dir.path(), &["aaaaaaaa", "bbbbbbbb", "cccccccc"]);
        let mut engine = Engine::new(cache, Some(output::NONE_DEVICE.into()), 1.0);
        engine.set_crossfade(0.5);
        engine.playlist_add("aaaaaaaa").unwrap();
        engine.playlist_add("bbbbbbbb").unwrap();
        engine.play(Some("aaaaaaaa")).unwrap();
        engine.follow_mixer();
        {
            // What the audio thread would render: up to the crossfade into b.
            let mut mixer = engine.mixer();
            let mut buffer = vec![0.0; 2 * 480];
            while mixer.now_playing().is_some_and(|(t, _)| t.track_id == "aaaaaaaa") {
                mixer.render(&mut buffer, 2);
            }
        }
        engine.play(Some("cccccccc")).unwrap();
        engine.tick();
        let events = engine.take_events();
        assert_eq!(announced_story(&events), Ok(Some("cccccccc".into())));
        assert_eq!(engine.current_track().as_deref(), Some("cccccccc"));
        assert_eq!(engine.status()["track_id"], "cccccccc");
    }

    /// A stream whose generation failed plays out what arrived after its end was announced:
    /// pausing and resuming that audio names no track, and a track played after it starts.
    #[test]
    fn a_failed_stream_playing_out_pauses_and_resumes_unnamed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_with(dir.path(), &["aaaaaaaa"]);
        let mut engine = Engine::new(cache, Some(output::NONE_DEVICE.into()), 1.0);
        let rate = engine.rate();
        let (mut stream, track) = TrackStream::new("dddddddd", 2 * 48_000, 2, 48_000, rate).unwrap();
        stream.push(&vec![0.1; 2 * 48_000]).unwrap(); // half of it
        engine.add_stream(track);
        drop(stream); // the generation failed: the track ends where it got
        engine.tick(); // starts it
        engine.stream_failed("dddddddd", "the model failed");
        assert_eq!(engine.mixer().state(), MixerState::Playing, "what arrived plays out");
        engine.pause();
        engine.resume();
        engine.play(Some("aaaaaaaa")).unwrap();
        engine.tick();
        let events = engine.take_events();
        assert_eq!(announced_story(&events), Ok(Some("aaaaaaaa".into())));
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, PlaybackEvent::Paused { .. } | PlaybackEvent::Resumed { .. })),
            "{events:?}"
        );
    }
}
