//! `lofi-daemon generate`: one track to a file, headless, with a progress bar.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::BackendArgs;
use crate::audio_file::{self, Provenance};
use crate::backend::{Backend, BackendError, Generated, GenerationRequest};
use crate::playback::mixer::{Mixer, MixerState, PreparedTrack};
use crate::playback::output::{ErrorSlot, Output};
use crate::playback::stream::{can_start, TrackStream};
use crate::{defaults, generation};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// What to generate, e.g. "jazzy lofi, rain, 80 bpm, in F minor".
    pub prompt: Option<String>,
    /// Length in seconds.
    #[arg(long, default_value_t = defaults::DURATION_SEC)]
    pub duration: f64,
    /// Seed for a reproducible track (random when left out).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output file: .wav, or .mp3 (needs lame). Default: lofi-<track id>.wav
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Play the track (on the default device, or --audio-device) while it generates, from the
    /// moment the rest will arrive in time.
    #[arg(long)]
    pub play: bool,
    /// Output device for --play ("none" = silent clock).
    #[arg(long, value_name = "NAME")]
    pub audio_device: Option<String>,
    #[command(flatten)]
    pub backend: BackendArgs,
}

pub fn run(args: GenerateArgs) -> Result<(), String> {
    let request = generation::request(
        args.prompt.as_deref(),
        args.seed,
        Some(args.duration),
        defaults::PROMPT,
        defaults::DURATION_SEC,
    )
    .map_err(|e| {
        let option = match e.field {
            "duration_sec" => "--duration",
            "seed" => "--seed",
            _ => "the prompt",
        };
        format!("{option} {}", e.message)
    })?;
    let (backend, fallback) = args.backend.build();
    if let Some(reason) = fallback {
        eprintln!("lofi-daemon: {}", reason.message);
    }
    let info = backend.info();
    let id = generation::track_id(backend.as_ref(), &request);
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("lofi-{id}.wav")));
    let format = audio_file::format_for(&out)?;

    // With --play the device is opened first: the track plays while it generates, from the
    // moment the rest will arrive before the listener gets there (as a track asked to play does).
    let player = args
        .play
        .then(|| Player::open(args.audio_device.as_deref(), &out))
        .flatten();
    let bar = ProgressBar::new(request.tokens_estimated()).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {percent:>3}% eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("generating {id}"));
    let started = Instant::now();
    let generated = generate_playing(backend.as_ref(), &request, &id, player.as_ref(), &bar, started, &out)
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();

    let provenance = Provenance {
        prompt: request.prompt.clone(),
        seed: request.seed,
        backend: info.backend.to_owned(),
        model_version: info.model_version.clone(),
    };
    audio_file::save(&out, &generated.audio, format, &provenance)?;
    eprintln!(
        "wrote {} ({:.1} s, prompt {:?}, seed {}, {}) in {:.2} s",
        out.display(),
        request.duration_sec,
        request.prompt,
        request.seed,
        info.model_version,
        started.elapsed().as_secs_f64()
    );
    if let Some(player) = player {
        player.wait_to_end();
    }
    Ok(())
}

/// Generates the track; with a player, plays it as it generates, from the moment the rest will
/// arrive in time (a backend that does not stream hands its track over once made).
fn generate_playing(
    backend: &dyn Backend,
    request: &GenerationRequest,
    id: &str,
    player: Option<&Player>,
    bar: &ProgressBar,
    started: Instant,
    out: &Path,
) -> Result<Generated, BackendError> {
    let mut progress = |p: crate::backend::Progress| bar.set_position(p.tokens_generated);
    let cancel = AtomicBool::new(false);
    let stream = player.and_then(|player| {
        TrackStream::new(
            id,
            request.sample_count(),
            backend.channels(),
            crate::SAMPLE_RATE,
            player.rate,
        )
        .inspect_err(|e| eprintln!("lofi-daemon: cannot play ({e}); the track is in {}", out.display()))
        .ok()
        .map(|(stream, track)| (player, stream, track))
    });
    let Some((player, mut stream, track)) = stream else {
        return backend.generate(request, &mut progress, &cancel);
    };
    let mut playing = false;
    let mut push = |audio: &[f32]| {
        if let Err(e) = stream.push(audio) {
            bar.suspend(|| eprintln!("lofi-daemon: cannot stream the track: {e}"));
        }
        if !playing && can_start(&track, started.elapsed()) {
            let line = player.start(Arc::clone(&track));
            bar.suspend(|| eprintln!("{line} (as it generates)"));
            playing = true;
        }
    };
    let generated = backend.generate_streaming(request, &mut progress, &cancel, &mut push);
    if generated.is_ok() {
        if let Err(e) = stream.finish() {
            eprintln!("lofi-daemon: cannot stream the track: {e}");
        }
        if !playing {
            eprintln!("{}", player.start(track));
        }
    }
    generated
}

/// The output `--play` plays the track on. Without a usable device it says so: the track is
/// still written, so that is not an error.
struct Player {
    mixer: Arc<Mutex<Mixer>>,
    output: Output,
    errors: ErrorSlot,
    name: String,
    rate: u32,
    path: PathBuf,
}

impl Player {
    fn open(device: Option<&str>, path: &Path) -> Option<Player> {
        let mixer = Arc::new(Mutex::new(Mixer::new(48_000, 1.0)));
        let errors: ErrorSlot = Arc::default();
        let output = Output::start(Arc::clone(&mixer), Arc::clone(&errors));
        match output.open(device) {
            Ok(opened) => Some(Player {
                mixer,
                output,
                errors,
                name: opened.name,
                rate: opened.sample_rate,
                path: path.to_owned(),
            }),
            Err(e) => {
                eprintln!("lofi-daemon: cannot play ({e}); the track is in {}", path.display());
                None
            }
        }
    }

    /// Starts `track`; the line to tell the user.
    fn start(&self, track: Arc<PreparedTrack>) -> String {
        self.mixer.lock().unwrap_or_else(|e| e.into_inner()).play(track, 0);
        self.output.run(true);
        format!("playing on {} ({} Hz); Ctrl-C stops", self.name, self.rate)
    }

    /// Waits until the track has played to its end (or the device failed).
    fn wait_to_end(self) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if let Some(e) = self.errors.lock().unwrap_or_else(|p| p.into_inner()).take() {
                eprintln!(
                    "lofi-daemon: playback stopped: {e}; the track is in {}",
                    self.path.display()
                );
                break;
            }
            if self.mixer.lock().unwrap_or_else(|e| e.into_inner()).state() == MixerState::Stopped {
                break;
            }
        }
        self.output.run(false);
    }
}
