//! The radio's methods (`radio_start`, `radio_stop`, `radio_prompt`) and its segments joining
//! the playlist (README, Radio).

use std::sync::MutexGuard;

use serde_json::{json, Map, Value};

use super::params::{self, parse};
use super::{protocol, Server};
use crate::generation;
use crate::playback::Engine;
use crate::radio::{Radio, RadioEvent};
use crate::rpc::RpcError;

impl Server {
    fn radio_slot(&self) -> std::sync::MutexGuard<'_, Option<(Radio, bool)>> {
        self.radio.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn radio_on(&self) -> bool {
        self.radio_slot().is_some()
    }

    pub(super) fn radio_status(&self) -> Value {
        self.radio_slot()
            .as_ref()
            .map_or(Value::Null, |(radio, _)| radio.status())
    }

    /// Starts the radio on the prompt (the default one when none) and seed (random when
    /// none), replacing the playlist and any radio before it.
    pub(super) fn radio_start(&self, p: &Map<String, Value>) -> Result<Value, RpcError> {
        let asked = parse::<params::RadioStart>(p)?;
        let request = generation::request(
            asked.prompt.as_deref(),
            asked.seed,
            None,
            &self.default_prompt,
            self.default_duration_sec,
        )
        .map_err(|e| RpcError::invalid_params(e.field, e.to_string()))?;
        let loop_before = self.radio_stop_quietly();
        let loops = {
            let mut engine = self.engine();
            let loops = loop_before.unwrap_or_else(|| engine.loops());
            engine.stop();
            engine.playlist_clear();
            // Looping would replay the first segment when the radio runs dry.
            engine.set_loop(false);
            loops
        };
        let events = self.radio_events.clone();
        let radio = Radio::start(
            self.backend.clone(),
            self.stand_in.clone(),
            self.cache.clone(),
            self.settings.clone(),
            &request.prompt,
            request.seed,
            move |radio, event| {
                let _ = events.send((radio, event));
            },
        );
        let status = radio.status();
        *self.radio_slot() = Some((radio, loops));
        Ok(status)
    }

    /// Stops the radio and what plays; the segments stay in the cache and the playlist.
    pub(super) fn radio_stop(&self) -> Value {
        let was_on = self.radio_stop_quietly().is_some();
        if was_on {
            self.engine().stop();
        }
        json!({ "stopped": was_on })
    }

    /// Ends the radio because the listener left it (`reason`: "stop", "play"), telling the
    /// editor with `radio_stopped`; playback is left as the request made it.
    pub(super) fn end_radio(&self, reason: &str) {
        if self.radio_stop_quietly().is_some() {
            self.outbox.notify(protocol::radio_left(reason));
            if reason == "stop" {
                // A segment may have started between the stop and the radio's end.
                self.engine().stop();
            }
        }
    }

    /// Ends the radio, if one plays, restoring the loop setting; returns that setting.
    fn radio_stop_quietly(&self) -> Option<bool> {
        let (radio, loop_before) = self.radio_slot().take()?;
        drop(radio); // waits for the generator to stop (at most one decoder step)
        self.engine().set_loop(loop_before);
        Some(loop_before)
    }

    pub(super) fn radio_prompt(&self, p: &Map<String, Value>) -> Result<Value, RpcError> {
        let asked = parse::<params::RadioPrompt>(p)?;
        let request = generation::request(
            Some(&asked.prompt),
            Some(0),
            None,
            &self.default_prompt,
            self.default_duration_sec,
        )
        .map_err(|e| RpcError::invalid_params(e.field, e.to_string()))?;
        // The engine first, as the pump locks them.
        let mut engine = self.engine();
        let slot = self.radio_slot();
        let (radio, _) = slot
            .as_ref()
            .ok_or_else(|| RpcError::new(crate::rpc::ErrorReason::InvalidRequest, "the radio is not playing"))?;
        let dropped = radio.retune(&request.prompt, engine.current_track().as_deref());
        engine.playlist_remove_upcoming(&dropped);
        Ok(radio.status())
    }

    /// A segment joins the playlist (and plays, if nothing does), then the editor hears of it
    /// (not of one made before a new prompt); a failure ends the radio. `radio`: the serial
    /// number of the radio it comes from.
    pub(super) fn on_radio_event(&self, radio: u64, event: RadioEvent) {
        if self.radio_slot().as_ref().map(|(on_air, _)| on_air.serial()) != Some(radio) {
            return; // a stopped radio's last words
        }
        // A segment is announced under the engine's lock it joined under, which a new prompt
        // takes first: announced, it came before the prompt's reply (and was dropped by it);
        // made for the prompt before, it is never announced. Announced after the lock, a
        // segment that joined just before a new prompt was announced after its reply.
        let joined = match &event {
            RadioEvent::Segment { meta, bridge } => match self.play_segment(&meta.track_id, *bridge) {
                Some(engine) => Some(engine),
                None => return,
            },
            RadioEvent::Failed(_) => None,
        };
        let status = self.radio_status();
        self.outbox.notify(protocol::radio(&event, &self.cache, status));
        drop(joined);
        if let RadioEvent::Failed(_) = event {
            self.radio_stop_quietly();
        }
    }

    /// Queues (or plays) a segment and returns the engine's lock it joined under; None for one
    /// made for the prompt before a new one.
    fn play_segment(&self, track_id: &str, bridge: bool) -> Option<MutexGuard<'_, Engine>> {
        let mut engine = self.engine();
        let bridge_gives_way = {
            let slot = self.radio_slot();
            let (radio, _) = slot.as_ref().filter(|(radio, _)| radio.wants(track_id))?;
            !bridge && engine.current_track().is_some_and(|id| radio.bridge_gives_way(&id))
        };
        let result = match engine.current_track() {
            // A bridge gives way (crossfading) to a stream that keeps up.
            Some(_) if bridge_gives_way => engine.playlist_add(track_id).and_then(|()| engine.skip()),
            Some(_) => engine.playlist_add(track_id),
            None => engine.play_now(track_id),
        };
        if let Err(e) = result {
            tracing::warn!("radio: cannot play {track_id}: {e}");
        }
        engine.forget_missing();
        Some(engine)
    }
}
