//! One handler per JSON-RPC method.

use rand::Rng;
use serde_json::{json, Value};

use super::params::{self, parse, NoParams, Priority, TrackRef};
use super::Server;
use crate::backend::GenerationRequest;
use crate::cache::{CacheError, TrackMeta};
use crate::queue::{completion_params, Job, Submitted};
use crate::rpc::{ErrorReason, Request, RpcError};
use crate::track_id;

/// Methods of the playback engine, answered with PLAYBACK_UNAVAILABLE until it exists.
const PLAYBACK_METHODS: &[&str] = &[
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
];

fn cache_error(e: CacheError) -> RpcError {
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

fn track_json(server: &Server, meta: &TrackMeta) -> Value {
    let mut value = serde_json::to_value(meta).unwrap_or_default();
    value["path"] = json!(server.cache.audio_path(&meta.track_id, meta.format));
    value
}

impl Server {
    /// Runs a request. `None` means the handler already replied (see `generate`).
    pub(super) fn dispatch(&self, request: &Request) -> Option<Result<Value, RpcError>> {
        let p = &request.params;
        let no_params = || parse::<NoParams>(p).map(|_| ());
        Some(match request.method.as_str() {
            "generate" => return self.generate(request),
            "queue_status" => no_params().map(|_| self.queue_status()),
            "queue_cancel" => self.queue_cancel(p),
            "queue_clear" => no_params().map(|_| json!({ "cleared": self.queue.clear() })),
            "prefetch_config" => self.prefetch_config(p),
            "status" => no_params().map(|_| self.status()),
            "cache_list" => {
                no_params().map(|_| Value::Array(self.cache.list().iter().map(|m| track_json(self, m)).collect()))
            }
            "cache_delete" => self.cache_delete(p),
            "cache_clear" => no_params().and_then(|_| {
                let protected = self.store_settings().protected;
                let deleted = self.cache.clear(&protected).map_err(cache_error)?;
                Ok(json!({ "deleted": deleted }))
            }),
            "cache_stats" => no_params().map(|_| json!(self.cache.stats(&self.store_settings().limits))),
            "cache_config" => self.cache_config(p),
            m if PLAYBACK_METHODS.contains(&m) => Err(RpcError::new(
                ErrorReason::PlaybackUnavailable,
                format!("{m} is not available: this lofi-daemon build has no playback engine yet"),
            )),
            m => Err(RpcError::new(
                ErrorReason::MethodNotFound,
                format!("unknown method {m:?}"),
            )),
        })
    }

    fn generate(&self, request: &Request) -> Option<Result<Value, RpcError>> {
        let parsed = match parse::<params::Generate>(&request.params).and_then(|g| g.validate().map(|_| g)) {
            Ok(g) => g,
            Err(e) => return Some(Err(e)),
        };
        let prompt = parsed
            .prompt
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.default_prompt.clone());
        let seed = parsed
            .seed
            .unwrap_or_else(|| rand::rng().random_range(0..u32::MAX as u64));
        let duration_sec = parsed.duration_sec.unwrap_or(self.default_duration_sec);
        let model_version = self.backend.info().model_version;
        let track_id = track_id::compute(&prompt, seed, duration_sec, &model_version);

        if let Ok(meta) = self.cache.get(&track_id) {
            let ack = json!({ "track_id": track_id, "status": "cached", "position": 0, "seed": seed });
            self.outbox.reply(&request.id, Ok(ack));
            let mut params = completion_params(&meta, self.cache.dir());
            params["cached"] = json!(true);
            self.outbox.notify("generation_complete", params);
            return None;
        }
        let job = Job {
            track_id: track_id.clone(),
            request: GenerationRequest {
                prompt,
                seed,
                duration_sec,
            },
            prefetch: false,
        };
        self.queue.submit(job, parsed.priority == Priority::High, |submitted| {
            let position = match submitted {
                Submitted::Queued(p) | Submitted::AlreadyQueued(p) => p,
            };
            let ack = json!({ "track_id": track_id, "status": "queued", "position": position, "seed": seed });
            self.outbox.reply(&request.id, Ok(ack));
        });
        None
    }

    fn queue_status(&self) -> Value {
        let pending = self.queue.pending();
        let offset = usize::from(self.queue.active().is_some());
        json!({
            "current": self.queue.active(),
            "pending": pending.iter().enumerate().map(|(i, job)| json!({
                "track_id": job.track_id,
                "prompt": job.request.prompt,
                "position": i + offset,
            })).collect::<Vec<_>>(),
            "prefetch_pending": pending.iter().any(|j| j.prefetch),
        })
    }

    fn queue_cancel(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let track = parse::<TrackRef>(p)?;
        let id = track.checked()?;
        self.queue.cancel(id)?;
        Ok(json!({ "cancelled": true, "track_id": id }))
    }

    fn prefetch_config(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let update = parse::<params::PrefetchConfig>(p)?;
        if let Some(presets) = &update.presets {
            if presets
                .iter()
                .any(|s| s.trim().is_empty() || s.chars().count() > params::MAX_PROMPT_CHARS)
            {
                return Err(RpcError::invalid_params(
                    "presets",
                    "presets must be non-empty prompts of at most 1000 characters",
                ));
            }
        }
        let mut prefetch = self.prefetch.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = prefetch.clone();
        next.enabled = update.enabled.unwrap_or(next.enabled);
        next.strategy = update.strategy.unwrap_or(next.strategy);
        next.presets = update.presets.unwrap_or(next.presets);
        if next.strategy != params::PrefetchStrategy::SamePrompt && next.presets.is_empty() {
            return Err(RpcError::invalid_params(
                "presets",
                "strategy needs at least one preset",
            ));
        }
        *prefetch = next;
        Ok(json!(*prefetch))
    }

    fn cache_delete(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let track = parse::<TrackRef>(p)?;
        let id = track.checked()?;
        if self.store_settings().protected.iter().any(|p| p == id) {
            return Err(RpcError::new(
                ErrorReason::InvalidParams,
                format!("track {id} is playing and cannot be deleted"),
            )
            .with("track_id", id));
        }
        self.cache.delete(id).map_err(cache_error)?;
        Ok(json!({ "deleted": true, "track_id": id }))
    }

    fn cache_config(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let update = parse::<params::CacheConfig>(p)?;
        if update.max_mb.is_some_and(|mb| !(mb.is_finite() && mb > 0.0)) {
            return Err(RpcError::invalid_params("max_mb", "max_mb must be a positive number"));
        }
        if update.max_tracks == Some(Some(0)) {
            return Err(RpcError::invalid_params(
                "max_tracks",
                "max_tracks must be at least 1 (or null for no limit)",
            ));
        }
        let settings = {
            let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            settings.limits.max_mb = update.max_mb.unwrap_or(settings.limits.max_mb);
            settings.limits.max_tracks = update.max_tracks.unwrap_or(settings.limits.max_tracks);
            settings.format = update.format.unwrap_or(settings.format);
            settings.clone()
        };
        self.warn_if_lame_missing();
        let evicted = self
            .cache
            .enforce(&settings.limits, &settings.protected)
            .map_err(cache_error)?;
        Ok(json!({
            "max_mb": settings.limits.max_mb,
            "max_tracks": settings.limits.max_tracks,
            "format": settings.format,
            "evicted": evicted,
        }))
    }

    fn status(&self) -> Value {
        let active = self.queue.active();
        let settings = self.store_settings();
        let info = self.backend.info();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "playback": {
                "state": "stopped",
                "track_id": null,
                "position_sec": 0.0,
                "duration_sec": 0.0,
                "volume": null,
            },
            "generation": {
                "active": active.is_some(),
                "track_id": active.as_ref().map(|a| &a.track_id),
                "percent": active.as_ref().map(|a| a.percent),
            },
            "queue_length": self.queue.pending().len(),
            "playlist_length": 0,
            "cache_size_mb": self.cache.stats(&settings.limits).size_mb,
            "cache_dir": self.cache.dir(),
            "audio_device": null,
            "model": info,
        })
    }
}
