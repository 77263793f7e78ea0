//! The protocol's side of the domain: every notification's name and payload, built from the
//! domain's events (generation queue, playback) and warnings, and the JSON-RPC error each
//! domain error becomes. Requests' results are built by their handlers in `methods.rs`.

use serde_json::{json, Value};

use crate::cache::{Cache, CacheError, TrackMeta};
use crate::playback::{Frame, PlaybackError, PlaybackEvent};
use crate::queue::QueueEvent;
use crate::rpc::{ErrorReason, Outgoing, RpcError};

/// Every method the daemon answers (README, Methods); `dispatch` handles each (a test checks).
pub const METHODS: &[&str] = &[
    "generate",
    "queue_status",
    "queue_cancel",
    "queue_clear",
    "prefetch_config",
    "status",
    "cache_list",
    "cache_delete",
    "cache_clear",
    "cache_stats",
    "cache_config",
    "track_waveform",
    "play",
    "pause",
    "resume",
    "stop",
    "skip",
    "playlist_add",
    "playlist_remove",
    "playlist_clear",
    "playlist_get",
    "volume_set",
    "volume_get",
    "crossfade_set",
    "audio_devices",
    "audio_device_set",
    "playback_config",
    "visualizer_subscribe",
    "visualizer_unsubscribe",
    "radio_start",
    "radio_stop",
    "radio_prompt",
];

/// Every notification the daemon sends (README, Notifications).
pub const NOTIFICATIONS: &[&str] = &[
    "generation_started",
    "generation_progress",
    "generation_complete",
    "generation_error",
    "playback_started",
    "playback_paused",
    "playback_resumed",
    "playback_ended",
    "playlist_changed",
    "audio_device_restored",
    "daemon_error",
    "daemon_warning",
    "visualizer_frame",
    "radio_segment",
    "radio_stopped",
];

fn notification(method: &'static str, params: Value) -> Outgoing {
    debug_assert!(NOTIFICATIONS.contains(&method), "{method} is not in NOTIFICATIONS");
    Outgoing::Notification(method, params)
}

/// A track as `cache_list` lists it and `generation_complete` announces it: its metadata
/// and the path of its audio.
pub fn track(meta: &TrackMeta, cache: &Cache) -> Value {
    let mut value = serde_json::to_value(meta).unwrap_or_default();
    value["path"] = json!(cache.audio_path(&meta.track_id, meta.format));
    value
}

pub fn generation(event: &QueueEvent, cache: &Cache) -> Option<Outgoing> {
    Some(match event {
        QueueEvent::Streaming { .. } => return None,
        QueueEvent::Started { track_id, prompt } => {
            notification("generation_started", json!({ "track_id": track_id, "prompt": prompt }))
        }
        QueueEvent::Progress {
            track_id,
            percent,
            progress,
            eta_sec,
        } => notification(
            "generation_progress",
            json!({
                "track_id": track_id,
                "percent": percent,
                "tokens_generated": progress.tokens_generated,
                "tokens_estimated": progress.tokens_estimated,
                "eta_sec": (eta_sec * 10.0).round() / 10.0,
            }),
        ),
        QueueEvent::Complete {
            meta, prefetch, cached, ..
        } => {
            let mut params = track(meta, cache);
            params["prefetch"] = json!(prefetch);
            if *cached {
                params["cached"] = json!(true);
            }
            notification("generation_complete", params)
        }
        QueueEvent::Error {
            track_id,
            error,
            prefetch,
            stand_in,
        } => notification(
            "generation_error",
            json!({
                "track_id": track_id,
                "message": error.message,
                "code": error.reason,
                "prefetch": prefetch,
                "stand_in": stand_in,
            }),
        ),
    })
}

/// A playback event's notification; `None` for events the daemon handles itself.
pub fn playback(event: &PlaybackEvent) -> Option<Outgoing> {
    Some(match event {
        PlaybackEvent::Started { track_id } => notification("playback_started", json!({ "track_id": track_id })),
        PlaybackEvent::Paused { track_id } => notification("playback_paused", json!({ "track_id": track_id })),
        PlaybackEvent::Resumed { track_id } => notification("playback_resumed", json!({ "track_id": track_id })),
        PlaybackEvent::Ended { track_id, reason } => {
            notification("playback_ended", json!({ "track_id": track_id, "reason": reason }))
        }
        PlaybackEvent::Unplayable { track_id, message } => notification(
            "playback_ended",
            json!({ "track_id": track_id, "reason": "error", "message": message }),
        ),
        PlaybackEvent::PlaylistChanged {
            tracks,
            removed,
            reason,
        } => notification(
            "playlist_changed",
            json!({ "tracks": tracks, "removed": removed, "reason": reason }),
        ),
        PlaybackEvent::DeviceError { message } => notification(
            "daemon_error",
            json!({ "code": ErrorReason::AudioDeviceError, "message": message }),
        ),
        PlaybackEvent::DeviceRestored { device } => notification("audio_device_restored", json!({ "device": device })),
        PlaybackEvent::PrefetchWanted { .. } => return None,
    })
}

/// `visualizer_frame`: band levels to three decimals (what a terminal can show), position to ms.
pub fn visualizer_frame(frame: &Frame) -> Outgoing {
    let bands: Vec<f64> = frame
        .bands
        .iter()
        .map(|&level| (f64::from(level) * 1000.0).round() / 1000.0)
        .collect();
    notification(
        "visualizer_frame",
        json!({ "bands": bands, "position_sec": (frame.position_sec * 1000.0).round() / 1000.0 }),
    )
}

/// `daemon_warning`: something degraded, the daemon carries on.
pub fn warning(error: &RpcError) -> Outgoing {
    notification(
        "daemon_warning",
        json!({ "message": error.message, "code": error.reason }),
    )
}

impl From<CacheError> for RpcError {
    fn from(e: CacheError) -> RpcError {
        match e {
            CacheError::NotFound(id) => RpcError::unknown_track(&id),
            CacheError::InvalidId(id) => RpcError::new(
                ErrorReason::InvalidTrackId,
                format!("track_id {id:?} is not 8 lowercase hex digits"),
            )
            .with("field", "track_id"),
            e @ CacheError::Write { .. } => RpcError::new(ErrorReason::CacheWriteError, e.to_string()),
        }
    }
}

impl From<PlaybackError> for RpcError {
    fn from(e: PlaybackError) -> RpcError {
        let message = e.to_string();
        match e {
            PlaybackError::NotCached(id) => RpcError::unknown_track(&id),
            PlaybackError::NotInPlaylist(id) => {
                RpcError::new(ErrorReason::InvalidTrackId, message).with("track_id", id)
            }
            PlaybackError::NothingPlaying | PlaybackError::Load(_) => {
                RpcError::new(ErrorReason::AudioPlaybackError, message)
            }
            PlaybackError::Device(_) => RpcError::new(ErrorReason::AudioDeviceError, message),
        }
    }
}

/// `radio_stopped` when the listener left the radio (`reason`: "stop", "play").
pub fn radio_left(reason: &str) -> Outgoing {
    notification("radio_stopped", json!({ "reason": reason, "message": null }))
}

/// `radio_segment`: a segment (or a bridge) joined the playlist; `radio_stopped`: the radio
/// ended on an error.
pub fn radio(event: &crate::radio::RadioEvent, cache: &Cache, status: Value) -> Outgoing {
    match event {
        crate::radio::RadioEvent::Segment { meta, bridge } => notification(
            "radio_segment",
            json!({ "track": track(meta, cache), "bridge": bridge, "radio": status }),
        ),
        crate::radio::RadioEvent::Failed(error) => notification(
            "radio_stopped",
            json!({ "reason": error.reason, "message": error.message }),
        ),
    }
}
