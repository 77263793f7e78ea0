//! The on-disk track cache shared by every daemon of a user.
//!
//! Layout under the cache dir: `<id>.wav` (or `.mp3`) plus a `<id>.json` metadata
//! sidecar. The set of sidecars is the index; a track exists once its sidecar does.
//! Every file is written to a `.tmp-*` file and renamed into place, audio first, so a
//! crash never leaves a half track visible. Mutations (store, delete, evict) hold an
//! exclusive lock on `.lock`, so two daemons can share one dir.

mod metadata;
mod special_files;

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use metadata::{TrackMeta, MAX_SIDECAR_BYTES, SEAMLESS_OVERLAP_SEC};

use crate::audio::Audio;
use crate::audio_file::{self, AudioFormat, Provenance};
use crate::defaults::{CACHE_MAX_MB, MIN_CACHE_MB, MIN_CACHE_TRACKS};
use crate::track_id;

/// Limits applied after every store. `max_mb` counts audio and metadata bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheLimits {
    pub max_mb: f64,
    pub max_tracks: Option<usize>,
}

impl CacheLimits {
    /// The one check of a size limit, for the command line and `cache_config` alike.
    pub fn checked_max_mb(max_mb: f64) -> Result<f64, String> {
        if max_mb.is_finite() && max_mb >= MIN_CACHE_MB {
            Ok(max_mb)
        } else {
            Err(format!(
                "must be a number of at least {MIN_CACHE_MB} (MB), not {max_mb}"
            ))
        }
    }

    /// The one check of a track-count limit (no limit is `None`, not 0).
    pub fn checked_max_tracks(max_tracks: usize) -> Result<usize, String> {
        if max_tracks >= MIN_CACHE_TRACKS {
            Ok(max_tracks)
        } else {
            Err(format!("must be at least {MIN_CACHE_TRACKS} (or no limit)"))
        }
    }
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            max_mb: CACHE_MAX_MB,
            max_tracks: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cannot write to the cache at {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("track {0} is not in the cache")]
    NotFound(String),
    #[error("track id {0:?} is not 8 lowercase hex digits")]
    InvalidId(String),
}

fn write_error(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Write {
        path: path.to_owned(),
        source,
    }
}

/// Temp files older than this are leftovers of a crashed writer and get removed.
const STALE_TEMP_AGE: Duration = Duration::from_secs(3600);
const TEMP_PREFIX: &str = ".tmp-";

pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheStats {
    pub dir: PathBuf,
    pub count: usize,
    pub size_bytes: u64,
    pub size_mb: f64,
    pub oldest: Option<u64>,
    pub newest: Option<u64>,
    pub max_mb: f64,
    pub max_tracks: Option<usize>,
}

pub struct Cache {
    dir: PathBuf,
}

/// The most a store of `duration_sec` of `channels`-channel audio takes on disk at once: the
/// 16-bit WAV, for an MP3 the MP3 beside it (128 kbit/s), and a few pages for the tags and the
/// sidecar.
pub fn bytes_to_store(duration_sec: f64, channels: u16, format: AudioFormat) -> u64 {
    let wav = duration_sec * crate::SAMPLE_RATE as f64 * f64::from(channels) * 2.0;
    let mp3 = match format {
        AudioFormat::Mp3 => duration_sec * 16_000.0,
        AudioFormat::Wav => 0.0,
    };
    (wav + mp3) as u64 + 64 * 1024
}

impl Cache {
    /// Opens (creating if needed) a cache dir and sweeps stale temp files.
    pub fn open(dir: &Path) -> Result<Cache, CacheError> {
        fs::create_dir_all(dir).map_err(write_error(dir))?;
        let cache = Cache { dir: dir.to_owned() };
        cache.sweep_stale_temps();
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bytes this user may still write on the cache's disk; `None` when the system cannot
    /// say.
    pub fn free_bytes(&self) -> Option<u64> {
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).ok()?;
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: a NUL-terminated path, and a statvfs the call fills in full when it succeeds.
        if unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } != 0 {
            return None;
        }
        // SAFETY: filled above.
        let stat = unsafe { stat.assume_init() };
        #[allow(clippy::useless_conversion)] // u64 on Linux, narrower on macOS
        Some(u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize)))
    }

    /// Recreates the directory if it was deleted while the daemon runs.
    fn ensure_dir(&self) -> Result<(), CacheError> {
        fs::create_dir_all(&self.dir).map_err(write_error(&self.dir))
    }

    fn lock(&self) -> Result<File, CacheError> {
        self.ensure_dir()?;
        let path = self.dir.join(".lock");
        let file = special_files::open_regular(&path, true).map_err(write_error(&path))?;
        file.lock().map_err(write_error(&path))?;
        Ok(file)
    }

    fn sidecar(&self, track_id: &str) -> PathBuf {
        self.dir.join(format!("{track_id}.json"))
    }

    pub fn audio_path(&self, track_id: &str, format: AudioFormat) -> PathBuf {
        self.dir.join(format!("{track_id}.{}", format.extension()))
    }

    fn checked_id<'a>(&self, track_id: &'a str) -> Result<&'a str, CacheError> {
        if track_id::is_valid(track_id) {
            Ok(track_id)
        } else {
            Err(CacheError::InvalidId(track_id.to_owned()))
        }
    }

    /// The track's metadata if it is fully in the cache (sidecar and audio present).
    pub fn get(&self, track_id: &str) -> Result<TrackMeta, CacheError> {
        let id = self.checked_id(track_id)?;
        let meta = TrackMeta::read(&self.sidecar(id))
            .filter(|m| m.track_id == id && self.audio_path(id, m.format).is_file())
            .ok_or_else(|| CacheError::NotFound(id.to_owned()))?;
        Ok(meta)
    }

    /// Every complete track, most recently used first.
    pub fn list(&self) -> Vec<TrackMeta> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut tracks: Vec<TrackMeta> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".json")?;
                self.get(id).ok()
            })
            .collect();
        tracks.sort_by(|a, b| b.last_used().cmp(&a.last_used()).then(a.track_id.cmp(&b.track_id)));
        tracks
    }

    /// Writes a finished track atomically, then evicts by LRU past the limits, never
    /// evicting `protected` ids (the track playing) or the one just stored.
    pub fn store(
        &self,
        meta: &TrackMeta,
        audio: &Audio,
        limits: &CacheLimits,
        protected: &[String],
    ) -> Result<TrackMeta, CacheError> {
        let id = self.checked_id(&meta.track_id)?.to_owned();
        self.ensure_dir()?;
        let provenance = Provenance {
            prompt: meta.prompt.clone(),
            seed: meta.seed,
            backend: meta.backend.clone(),
            model_version: meta.model_version.clone(),
        };
        let (audio_tmp, format) =
            audio_file::write_temp(&self.dir, TEMP_PREFIX, 0o600, audio, meta.format, &provenance)
                .map_err(write_error(&self.dir))?;
        let final_audio = self.audio_path(&id, format);
        let stored = TrackMeta {
            format,
            size_bytes: fs::metadata(audio_tmp.path()).map_or(0, |m| m.len()),
            ..meta.clone()
        };
        let sidecar_tmp = self.sidecar_temp(&stored)?;
        sidecar_tmp
            .as_file()
            .sync_all()
            .map_err(write_error(sidecar_tmp.path()))?;

        let _lock = self.lock()?;
        audio_tmp.persist(&final_audio).map_err(|e| CacheError::Write {
            path: final_audio.clone(),
            source: e.error,
        })?;
        let sidecar = self.sidecar(&id);
        sidecar_tmp.persist(&sidecar).map_err(|e| CacheError::Write {
            path: sidecar,
            source: e.error,
        })?;
        let mut keep = protected.to_vec();
        keep.push(id);
        self.evict_locked(limits, &keep);
        Ok(stored)
    }

    fn temp_file(&self) -> Result<tempfile::NamedTempFile, CacheError> {
        self.ensure_dir()?;
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(write_error(&self.dir))
    }

    /// A temporary file in the cache holding `meta` as the sidecar JSON, written in one go.
    fn sidecar_temp(&self, meta: &TrackMeta) -> Result<tempfile::NamedTempFile, CacheError> {
        let tmp = self.temp_file()?;
        let json = serde_json::to_vec_pretty(meta).expect("track metadata serializes");
        let mut file = tmp.as_file();
        file.write_all(&json).map_err(write_error(tmp.path()))?;
        Ok(tmp)
    }

    /// Records that a track was played (for LRU), atomically.
    pub fn touch(&self, track_id: &str) -> Result<TrackMeta, CacheError> {
        let _lock = self.lock()?;
        let mut meta = self.get(track_id)?;
        meta.last_played = Some(now_unix());
        let tmp = self.sidecar_temp(&meta)?;
        let sidecar = self.sidecar(track_id);
        tmp.persist(&sidecar).map_err(|e| CacheError::Write {
            path: sidecar,
            source: e.error,
        })?;
        Ok(meta)
    }

    pub fn delete(&self, track_id: &str) -> Result<TrackMeta, CacheError> {
        let _lock = self.lock()?;
        let meta = self.get(track_id)?;
        self.remove_track(&meta);
        Ok(meta)
    }

    /// Deletes every track except `protected`; returns how many were removed.
    pub fn clear(&self, protected: &[String]) -> Result<usize, CacheError> {
        let _lock = self.lock()?;
        let doomed: Vec<TrackMeta> = self
            .list()
            .into_iter()
            .filter(|m| !protected.contains(&m.track_id))
            .collect();
        doomed.iter().for_each(|m| self.remove_track(m));
        Ok(doomed.len())
    }

    /// Applies the limits now (used when they change).
    pub fn enforce(&self, limits: &CacheLimits, protected: &[String]) -> Result<usize, CacheError> {
        let _lock = self.lock()?;
        Ok(self.evict_locked(limits, protected))
    }

    // The sidecar goes first so that the track vanishes atomically from every listing.
    fn remove_track(&self, meta: &TrackMeta) {
        let _ = fs::remove_file(self.sidecar(&meta.track_id));
        let _ = fs::remove_file(self.audio_path(&meta.track_id, meta.format));
    }

    fn evict_locked(&self, limits: &CacheLimits, protected: &[String]) -> usize {
        let mut tracks = self.list();
        let max_bytes = (limits.max_mb * 1024.0 * 1024.0) as u64;
        let mut total: u64 = tracks.iter().map(|t| t.size_bytes).sum();
        let mut count = tracks.len();
        let mut evicted = 0;
        // Least recently used last in `list()`'s order; the radio's tracks go first.
        let evictable = |t: &TrackMeta| !protected.contains(&t.track_id);
        while total > max_bytes || limits.max_tracks.is_some_and(|max| count > max) {
            let radio = tracks.iter().rposition(|t| t.radio && evictable(t));
            let Some(pos) = radio.or_else(|| tracks.iter().rposition(evictable)) else {
                break;
            };
            let victim = tracks.remove(pos);
            tracing::info!("evicting track {} from the cache", victim.track_id);
            self.remove_track(&victim);
            total -= victim.size_bytes;
            count -= 1;
            evicted += 1;
        }
        evicted
    }

    pub fn stats(&self, limits: &CacheLimits) -> CacheStats {
        let tracks = self.list();
        let size_bytes: u64 = tracks.iter().map(|t| t.size_bytes).sum();
        CacheStats {
            dir: self.dir.clone(),
            count: tracks.len(),
            size_bytes,
            size_mb: (size_bytes as f64 / (1024.0 * 1024.0) * 100.0).round() / 100.0,
            oldest: tracks.iter().map(|t| t.created_at).min(),
            newest: tracks.iter().map(|t| t.created_at).max(),
            max_mb: limits.max_mb,
            max_tracks: limits.max_tracks,
        }
    }

    fn sweep_stale_temps(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok());
            if is_temp && age.is_some_and(|age| age > STALE_TEMP_AGE) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}
