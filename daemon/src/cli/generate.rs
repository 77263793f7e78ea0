//! `lofi-daemon generate`: one track to a file, headless, with a progress bar.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::BackendArgs;
use crate::audio_file::{self, Provenance};
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
    /// Play the track when it is written (on the default device, or --audio-device).
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

    let bar = ProgressBar::new(request.tokens_estimated()).with_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {percent:>3}% eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("generating {id}"));
    let started = Instant::now();
    let generated = backend
        .generate(
            &request,
            &mut |p| bar.set_position(p.tokens_generated),
            &AtomicBool::new(false),
        )
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
    if args.play {
        play(&generated.audio, args.audio_device.as_deref(), &out);
    }
    Ok(())
}

/// Plays the samples to the end. Without a usable device it says so and returns: the
/// track is still on disk, so this is not an error.
fn play(audio: &crate::audio::Audio, device: Option<&str>, path: &std::path::Path) {
    use crate::playback::mixer::{Mixer, MixerState, PreparedTrack};
    use crate::playback::output::{ErrorSlot, Output};
    use std::sync::{Arc, Mutex};

    let mixer = Arc::new(Mutex::new(Mixer::new(48_000, 1.0)));
    let errors: ErrorSlot = Arc::default();
    let output = Output::start(Arc::clone(&mixer), Arc::clone(&errors));
    let opened = match output.open(device) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("lofi-daemon: cannot play ({e}); the track is in {}", path.display());
            return;
        }
    };
    let resampled = match crate::playback::prepare::resample_channels(audio, opened.sample_rate) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lofi-daemon: cannot play ({e}); the track is in {}", path.display());
            return;
        }
    };
    let track = Arc::new(PreparedTrack {
        track_id: "cli".into(),
        samples: resampled.into(),
        channels: usize::from(audio.channels),
        rate: opened.sample_rate,
        continues: None,
    });
    mixer.lock().unwrap_or_else(|e| e.into_inner()).play(track, 0);
    output.run(true);
    eprintln!("playing on {} ({} Hz); Ctrl-C stops", opened.name, opened.sample_rate);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if let Some(e) = errors.lock().unwrap_or_else(|p| p.into_inner()).take() {
            eprintln!("lofi-daemon: playback stopped: {e}; the track is in {}", path.display());
            break;
        }
        if mixer.lock().unwrap_or_else(|e| e.into_inner()).state() == MixerState::Stopped {
            break;
        }
    }
    output.run(false);
}
