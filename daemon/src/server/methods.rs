//! One handler per JSON-RPC method.

use rand::Rng;
use serde_json::{json, Value};

use super::params::{self, parse, NoParams, Priority, TrackRef};
use super::{protocol, Server};
use crate::backend::{Backend, GenerationRequest};
use crate::cache::CacheLimits;
use crate::generation;
use crate::playback::spectrum::BAND_CENTRES_HZ;
use crate::playback::Engine;
use crate::queue::{Job, Submitted};
use crate::rpc::{ErrorReason, Request, RpcError};
use std::sync::MutexGuard;

impl Server {
    /// Runs a request. `None` means the handler already replied (see `generate`).
    pub(super) fn dispatch(&self, request: &Request) -> Option<Result<Value, RpcError>> {
        let p = &request.params;
        if let Some(result) = self.playback(&request.method, p) {
            // Stopping, or playing a track by its id, leaves the radio: it would otherwise play
            // its next segment on its own.
            match request.method.as_str() {
                "stop" if result.is_ok() => self.end_radio("stop"),
                "play" if result.is_ok() && p.contains_key("track_id") => self.end_radio("play"),
                _ => {}
            }
            return Some(result);
        }
        let no_params = || parse::<NoParams>(p).map(|_| ());
        Some(match request.method.as_str() {
            "generate" => return self.generate(request),
            "queue_status" => no_params().map(|_| self.queue_status()),
            "queue_cancel" => self.queue_cancel(p),
            "queue_clear" => no_params().map(|_| json!({ "cleared": self.queue.clear() })),
            "prefetch_config" => self.prefetch_config(p),
            "status" => no_params().map(|_| self.status()),
            "cache_list" => no_params().map(|_| {
                Value::Array(
                    self.cache
                        .list()
                        .iter()
                        .map(|m| protocol::track(m, &self.cache))
                        .collect(),
                )
            }),
            "cache_delete" => self.cache_delete(p),
            "cache_clear" => no_params().and_then(|_| {
                let protected = self.store_settings().protected;
                let deleted = self.cache.clear(&protected)?;
                self.engine().forget_missing();
                Ok(json!({ "deleted": deleted }))
            }),
            "cache_stats" => no_params().map(|_| json!(self.cache.stats(&self.store_settings().limits))),
            "cache_config" => self.cache_config(p),
            "track_waveform" => self.track_waveform(p),
            "radio_start" => self.radio_start(p),
            "radio_stop" => no_params().map(|_| self.radio_stop()),
            "radio_prompt" => self.radio_prompt(p),
            "debug_panic" if self.test_hooks => self.debug_panic(p),
            m => Err(RpcError::new(
                ErrorReason::MethodNotFound,
                format!("unknown method {m:?}"),
            )),
        })
    }

    fn generate(&self, request: &Request) -> Option<Result<Value, RpcError>> {
        let planned = parse::<params::Generate>(&request.params).and_then(|g| {
            let asked = generation::request(
                g.prompt.as_deref(),
                g.seed,
                g.duration_sec,
                &self.default_prompt,
                self.default_duration_sec,
            )
            .map_err(|e| RpcError::invalid_params(e.field, e.to_string()))?;
            Ok((g, asked))
        });
        let (parsed, asked) = match planned {
            Ok(planned) => planned,
            Err(e) => return Some(Err(e)),
        };
        let job = Job {
            play: parsed.play,
            ..self.job_for(self.backend.as_ref(), asked)
        };
        self.submit(job, parsed.priority == Priority::High, |ack| {
            self.outbox.reply(&request.id, Ok(ack))
        });
        None
    }

    /// A job of the daemon's own (prefetch, `play` on an empty cache) with a random seed.
    fn job(&self, prompt: String, duration_sec: f64) -> Job {
        let request = GenerationRequest {
            prompt,
            seed: crate::defaults::random_seed(),
            duration_sec,
        };
        self.job_for(self.backend.as_ref(), request)
    }

    fn job_for(&self, backend: &dyn Backend, request: GenerationRequest) -> Job {
        Job {
            track_id: generation::track_id(backend, &request),
            request,
            prefetch: false,
            play: false,
            stand_in: false,
        }
    }

    /// A job whose track is cached completes at once, as if generated (and plays if asked).
    fn finish_from_cache(&self, job: &Job, meta: crate::cache::TrackMeta) {
        self.on_queue_event(crate::queue::QueueEvent::Complete {
            meta: Box::new(meta),
            prefetch: job.prefetch,
            play: job.play,
            cached: true,
        });
    }

    /// Whether a track asked to play should be bridged by a stand-in: the backend is slower
    /// than the procedural one and nothing plays meanwhile.
    fn needs_stand_in(&self) -> bool {
        self.backend.info().backend != self.stand_in.info().backend && !self.engine().is_playing()
    }

    /// Queues a job (or completes it at once from the cache). `ack` gets the reply to
    /// `generate` before any event of the job is sent.
    fn submit(&self, job: Job, high_priority: bool, ack: impl FnOnce(Value)) {
        let (track_id, seed) = (job.track_id.clone(), job.request.seed);
        if let Ok(meta) = self.cache.get(&track_id) {
            ack(json!({ "track_id": track_id, "status": "cached", "position": 0, "seed": seed }));
            self.finish_from_cache(&job, meta);
            return;
        }
        let stand_in = (job.play && !job.stand_in && self.needs_stand_in()).then(|| Job {
            play: true,
            stand_in: true,
            ..self.job_for(self.stand_in.as_ref(), job.request.clone())
        });
        // First in line (the worker may pick a job up the moment it is queued): rendered in a
        // fraction of a second, it plays until the requested track is ready and crossfades in.
        if let Some(stand_in) = stand_in {
            match self.cache.get(&stand_in.track_id) {
                Ok(meta) => self.finish_from_cache(&stand_in, meta),
                Err(_) => self.queue.submit(stand_in, true, |_| {}),
            }
        }
        self.queue.submit(job, high_priority, |submitted| {
            let position = match submitted {
                Submitted::Queued(p) | Submitted::AlreadyQueued(p) => p,
            };
            ack(json!({ "track_id": track_id, "status": "queued", "position": position, "seed": seed }));
        });
    }

    /// Queues the next track when the one playing passes half way, per the prefetch
    /// strategy; it joins the playlist when done.
    pub(super) fn prefetch_after(&self, track_id: &str) {
        let prefetch = self.prefetch.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if !prefetch.enabled || !self.queue.is_empty() || self.radio_on() {
            return;
        }
        let Ok(current) = self.cache.get(track_id) else { return };
        if !self.room_for_a_track(current.duration_sec) {
            return;
        }
        let prompt = match prefetch.strategy {
            params::PrefetchStrategy::SamePrompt => current.prompt.clone(),
            params::PrefetchStrategy::PresetCycle => {
                let i = self.preset_cursor.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                prefetch.presets[i % prefetch.presets.len()].clone()
            }
            params::PrefetchStrategy::RandomPreset => {
                prefetch.presets[rand::rng().random_range(0..prefetch.presets.len())].clone()
            }
        };
        let job = Job {
            prefetch: true,
            ..self.job(prompt, current.duration_sec)
        };
        tracing::info!("prefetching {} after {track_id}", job.track_id);
        self.submit(job, false, |_| {});
    }

    /// The playback methods; `None` for any other method.
    fn playback(&self, method: &str, p: &serde_json::Map<String, Value>) -> Option<Result<Value, RpcError>> {
        let no_params = || parse::<NoParams>(p).map(|_| ());
        let track = || parse::<TrackRef>(p).and_then(|t| Ok(t.checked()?.to_owned()));
        let mut engine = self.engine();
        Some(match method {
            "play" => self.play(engine, p),
            "pause" => no_params().map(|_| {
                engine.pause();
                engine.status()
            }),
            "resume" => no_params().map(|_| {
                engine.resume();
                engine.status()
            }),
            "stop" => no_params().map(|_| {
                engine.stop();
                engine.status()
            }),
            "skip" => no_params().and_then(|_| Ok(engine.skip()?)).map(|_| engine.status()),
            "playlist_add" => track()
                .and_then(|id| Ok(engine.playlist_add(&id)?))
                .map(|_| json!({ "tracks": engine.playlist() })),
            "playlist_remove" => track()
                .and_then(|id| Ok(engine.playlist_remove(&id)?))
                .map(|_| json!({ "tracks": engine.playlist() })),
            "playlist_clear" => no_params().map(|_| {
                engine.playlist_clear();
                json!({ "tracks": [] })
            }),
            "playlist_get" => no_params().map(|_| {
                engine.forget_missing();
                json!({ "tracks": engine.playlist(), "current": engine.current_track() })
            }),
            "volume_set" => parse::<params::Volume>(p).and_then(|v| v.checked()).map(|level| {
                engine.set_volume(level);
                json!({ "level": engine.volume() })
            }),
            "volume_get" => no_params().map(|_| json!({ "level": engine.volume() })),
            "crossfade_set" => parse::<params::Crossfade>(p).and_then(|c| c.checked()).map(|seconds| {
                engine.set_crossfade(seconds);
                json!({ "duration_sec": engine.crossfade() })
            }),
            "audio_devices" => no_params().map(|_| engine.devices()),
            "audio_device_set" => parse::<params::Device>(p)
                .and_then(|device| Ok(engine.set_device(&device.device)?))
                .map(|opened| json!({ "current": opened.name, "output": opened })),
            "visualizer_subscribe" => parse::<params::VisualizerSubscribe>(p)
                .and_then(|v| v.checked())
                .map(|fps| {
                    let outbox = self.outbox.clone();
                    let mut visualizer = self.visualizer.lock().unwrap_or_else(|e| e.into_inner());
                    // One subscriber (the editor): a new subscription replaces the old one.
                    drop(visualizer.take());
                    *visualizer =
                        Some(engine.visualize(fps, move |frame| outbox.notify(protocol::visualizer_frame(&frame))));
                    json!({ "fps": fps, "bands_hz": BAND_CENTRES_HZ })
                }),
            "visualizer_unsubscribe" => no_params().map(|_| {
                let stopped = self.visualizer.lock().unwrap_or_else(|e| e.into_inner()).take();
                json!({ "unsubscribed": stopped.is_some() })
            }),
            "playback_config" => parse::<params::PlaybackConfig>(p).map(|config| {
                if let Some(enabled) = config.loop_playlist {
                    engine.set_loop(enabled);
                }
                engine.status()
            }),
            _ => return None,
        })
    }

    /// `play`: see [`crate::playback::Engine::play`]; with nothing cached at all, generates a
    /// track and plays it when ready.
    fn play(&self, mut engine: MutexGuard<'_, Engine>, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let play = parse::<params::Play>(p)?;
        let id = match &play.track_id {
            Some(id) => Some(TrackRef { track_id: id.clone() }.checked()?.to_owned()),
            None => None,
        };
        if engine.play(id.as_deref())? {
            return Ok(engine.status());
        }
        drop(engine);
        let job = Job {
            play: true,
            ..self.job(self.default_prompt.clone(), self.default_duration_sec)
        };
        let mut reply = Value::Null;
        self.submit(job, true, |ack| reply = ack);
        Ok(json!({ "state": "generating", "track_id": reply["track_id"] }))
    }

    /// Test hook (see `Server::test_hooks`): `{thread: "request"}` panics now,
    /// `{thread: "pump"}` at the pump's next tick.
    fn debug_panic(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        match p.get("thread").and_then(Value::as_str) {
            Some("request") => panic!("debug_panic asked the request thread to panic"),
            Some("pump") => {
                self.panic_in_pump.store(true, std::sync::atomic::Ordering::Relaxed);
                Ok(json!({ "armed": "pump" }))
            }
            _ => Err(RpcError::invalid_params(
                "thread",
                "thread must be \"request\" or \"pump\"",
            )),
        }
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
                .any(|s| s.trim().is_empty() || s.chars().count() > crate::defaults::MAX_PROMPT_CHARS)
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
        self.cache.delete(id)?;
        self.engine().forget_missing();
        Ok(json!({ "deleted": true, "track_id": id }))
    }

    fn track_waveform(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let request = parse::<params::Waveform>(p)?;
        let track = request.track();
        let id = track.checked()?;
        let (width, rows) = request.size()?;
        let audio = crate::playback::prepare::decode(&self.cache, id)?;
        let drawing = crate::analysis::waveform(&audio.samples, width, rows);
        Ok(json!({ "track_id": id, "lines": drawing.lines().collect::<Vec<_>>() }))
    }

    fn cache_config(&self, p: &serde_json::Map<String, Value>) -> Result<Value, RpcError> {
        let update = parse::<params::CacheConfig>(p)?;
        if let Some(mb) = update.max_mb {
            CacheLimits::checked_max_mb(mb).map_err(|e| RpcError::invalid_params("max_mb", format!("max_mb {e}")))?;
        }
        if let Some(Some(n)) = update.max_tracks {
            CacheLimits::checked_max_tracks(n)
                .map_err(|e| RpcError::invalid_params("max_tracks", format!("max_tracks {e}")))?;
        }
        let settings = {
            let mut settings = self.settings.lock().unwrap_or_else(|e| e.into_inner());
            settings.limits.max_mb = update.max_mb.unwrap_or(settings.limits.max_mb);
            settings.limits.max_tracks = update.max_tracks.unwrap_or(settings.limits.max_tracks);
            settings.format = update.format.unwrap_or(settings.format);
            settings.clone()
        };
        self.warn_if_lame_missing();
        let evicted = self.cache.enforce(&settings.limits, &settings.protected)?;
        self.engine().forget_missing();
        Ok(json!({
            "max_mb": settings.limits.max_mb,
            "max_tracks": settings.limits.max_tracks,
            "format": settings.format,
            "evicted": evicted,
        }))
    }

    fn status(&self) -> Value {
        let engine = self.engine();
        let active = self.queue.active();
        let settings = self.store_settings();
        let info = self.backend.info();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "playback": engine.status(),
            "generation": {
                "active": active.is_some(),
                "track_id": active.as_ref().map(|a| &a.track_id),
                "percent": active.as_ref().map(|a| a.percent),
            },
            "queue_length": self.queue.pending().len(),
            "playlist_length": engine.playlist().len(),
            "cache_size_mb": self.cache.stats(&settings.limits).size_mb,
            "cache_dir": self.cache.dir(),
            "audio_device": engine.device_name(),
            "model": info,
            "radio": self.radio_status(),
        })
    }
}
