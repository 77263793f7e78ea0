//! Command line: `lofi-daemon` serves JSON-RPC on stdio; subcommands generate, analyze
//! and rebuild the sample pack headlessly.

mod analyze;
mod generate;
mod serve;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::backend::procedural::{Kit, ProceduralBackend};
use crate::cache::AudioFormat;

#[derive(Parser, Debug)]
#[command(
    name = "lofi-daemon",
    version,
    about = "Local lofi beats for Neovim: generation and playback daemon"
)]
pub struct Cli {
    #[command(flatten)]
    pub logging: LogArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Log to this file (appending) instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    #[arg(long, global = true, value_enum, default_value = "warn", value_name = "LEVEL")]
    pub log_level: LogLevel,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_filter(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    Procedural,
    Ggml,
}

#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Generation backend; ggml falls back to procedural when no usable model is found.
    #[arg(long, value_enum, default_value = "procedural")]
    pub backend: BackendKind,
    /// GGUF model file for the ggml backend.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Sample pack directory whose WAVs override the built-in pack by name.
    #[arg(long, value_name = "DIR")]
    pub samples_dir: Option<PathBuf>,
}

impl BackendArgs {
    /// The procedural backend with the configured sample pack.
    pub fn procedural(&self) -> ProceduralBackend {
        let kit = match &self.samples_dir {
            Some(dir) => Kit::with_overrides(dir),
            None => Kit::default_pack(),
        };
        ProceduralBackend::new(kit)
    }

    /// Why the ggml backend cannot run (it is not part of this build yet), if asked for.
    pub fn ggml_unavailable(&self) -> Option<String> {
        (self.backend == BackendKind::Ggml).then(|| match &self.model {
            Some(path) if !path.is_file() => format!(
                "model file {} does not exist; using the procedural backend",
                path.display()
            ),
            _ => "the ggml backend is not built into this lofi-daemon yet; using the procedural backend".to_owned(),
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Exit after this many seconds without requests while nothing is generating (0 = never).
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Default: $XDG_RUNTIME_DIR/lofi-daemon-<parent pid>.pid
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Default: $XDG_CACHE_HOME/nvim/lofi
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Evict least recently used tracks past this size.
    #[arg(long, default_value_t = 500.0, value_name = "MB")]
    pub cache_max_mb: f64,
    /// Evict least recently used tracks past this count.
    #[arg(long, value_name = "N")]
    pub cache_max_tracks: Option<usize>,
    /// Output device name (see the audio_devices method); "none" plays on a silent
    /// clock for headless machines. Default: the system default device.
    #[arg(long, value_name = "NAME")]
    pub audio_device: Option<String>,
    /// Playback volume, 0.0–1.0.
    #[arg(long, default_value_t = 0.3, value_parser = parse_volume)]
    pub volume: f32,
    /// Cache format; mp3 needs lame on PATH (falls back to wav with a warning).
    #[arg(long, value_enum, default_value = "wav")]
    pub format: Format,
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn parse_volume(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("must be a number from 0.0 to 1.0".into()),
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Wav,
    Mp3,
}

impl From<Format> for AudioFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Wav => AudioFormat::Wav,
            Format::Mp3 => AudioFormat::Mp3,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate one track to a file (WAV, or MP3 through lame), with a progress bar.
    Generate(generate::GenerateArgs),
    /// Print duration, loudness, true peak, tempo and a waveform of a WAV file.
    Analyze(analyze::AnalyzeArgs),
    /// Rebuild the built-in sample pack into DIR (the repo keeps it in samples/default).
    RenderSamples { dir: PathBuf },
}

/// `$XDG_CACHE_HOME/nvim/lofi`, else `~/.cache/nvim/lofi`.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("nvim").join("lofi")
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if let Err(message) =
        crate::lifecycle::init_logging(cli.logging.log_level.as_filter(), cli.logging.log_file.as_deref())
    {
        eprintln!("lofi-daemon: {message}");
        return 2;
    }
    let result = match cli.command {
        None => serve::run(cli.serve),
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Analyze(args)) => analyze::run(args),
        Some(Command::RenderSamples { dir }) => crate::backend::procedural::kit::write_pack(&dir)
            .map_err(|e| format!("cannot write the sample pack to {}: {e}", dir.display())),
    };
    match result {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("lofi-daemon: {message}");
            1
        }
    }
}
