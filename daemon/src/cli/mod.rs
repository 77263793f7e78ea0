//! Command line: `lofi-daemon` serves JSON-RPC on stdio; subcommands generate, analyze
//! and rebuild the sample pack headlessly.

mod analyze;
mod describe;
mod export;
mod generate;
mod serve;
mod verify_model;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::audio_file::AudioFormat;
use crate::backend::ggml::{GgmlBackend, SamplingOverrides};
use crate::backend::procedural::{Kit, ProceduralBackend};
use crate::backend::Backend;
use crate::cache::CacheLimits;
use crate::defaults;
use crate::rpc::{ErrorReason, RpcError};

#[derive(Parser, Debug)]
#[command(
    name = "lofi-daemon",
    about = "Local lofi beats for Neovim: generation and playback daemon",
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version (with --verbose: the GGML build and its CPU features) and exit.
    #[arg(short = 'V', long)]
    pub version: bool,
    /// With --version: also print the GGML build.
    #[arg(long, requires = "version")]
    pub verbose: bool,
    /// Check a GGUF model file the way the ggml backend loads it, print a summary and exit
    /// (status 1 and a one-line reason if it cannot be used).
    #[arg(long, value_name = "PATH", conflicts_with = "version")]
    pub verify_model: Option<PathBuf>,
    #[command(flatten)]
    pub logging: LogArgs,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line, refusing the daemon's own options before a command:
    /// `lofi-daemon --backend ggml generate` would set the daemon's backend and generate with
    /// the default one, silently (the logging options apply to every command).
    pub fn parse_checked() -> Cli {
        let cli = Cli::command();
        let matches = cli.clone().get_matches();
        if let Some((command, _)) = matches.subcommand() {
            let misplaced: Vec<String> = cli
                .get_arguments()
                .filter(|arg| !arg.is_global_set())
                .filter(|arg| matches.value_source(arg.get_id().as_str()) == Some(ValueSource::CommandLine))
                .filter_map(|arg| arg.get_long().map(|long| format!("--{long}")))
                .collect();
            if !misplaced.is_empty() {
                cli.clone()
                    .error(
                        ErrorKind::ArgumentConflict,
                        format!(
                            "the daemon's options {} do not apply to `{command}`: put them after `{command}` (see `lofi-daemon {command} --help`)",
                            misplaced.join(", ")
                        ),
                    )
                    .exit();
            }
        }
        Cli::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
    }
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
    /// ggml when the model file exists, else procedural (quietly: no model is the usual case).
    Auto,
    Procedural,
    Ggml,
}

/// Where the ggml backend computes (model.device).
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ComputeDevice {
    /// The first GPU this build can use, else the CPU.
    Auto,
    Cpu,
    Cuda,
    Vulkan,
    Metal,
}

#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Generation backend: auto picks ggml when the model file exists; ggml falls back to
    /// procedural (with a warning) when the model is missing or cannot be loaded.
    #[arg(long, value_enum, default_value = "procedural")]
    pub backend: BackendKind,
    /// GGUF model file for the ggml backend.
    /// Default: $XDG_DATA_HOME/nvim/lofi/models/musicgen-small-Q4_K_M.gguf
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Compute threads for the ggml backend (default: one per physical core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Where the ggml backend computes; cuda, vulkan and metal need a daemon built with that
    /// feature and such a device.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: ComputeDevice,
    /// Sampling temperature (ggml; default: the model's, 1.0; 0 = greedy).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Sample among the K likeliest tokens (ggml; default: the model's, 250).
    #[arg(long, value_name = "K")]
    pub top_k: Option<i32>,
    /// Nucleus sampling threshold (ggml; default: off).
    #[arg(long, value_name = "P")]
    pub top_p: Option<f32>,
    /// Classifier-free guidance scale (ggml; default: the model's, 3.0). 1 turns guidance off:
    /// the decoder then computes one branch instead of two.
    #[arg(long, value_name = "SCALE")]
    pub cfg: Option<f32>,
    /// Hand the ggml backend's model back after this many seconds unused (0 = keep it); the
    /// next generation loads it again.
    #[arg(long, default_value_t = defaults::KEEP_MODEL_SEC, value_name = "SECS")]
    pub keep_model: u64,
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

    /// The backend asked for; when ggml cannot run, the procedural one and why.
    pub fn build(&self) -> (Arc<dyn Backend>, Option<RpcError>) {
        if self.backend == BackendKind::Procedural {
            return (Arc::new(self.procedural()), None);
        }
        let path = self.model.clone().unwrap_or_else(default_model_path);
        let fallback = "; using the procedural backend";
        if !path.is_file() && self.backend == BackendKind::Auto {
            tracing::info!("no model at {}: the procedural backend plays", path.display());
            return (Arc::new(self.procedural()), None);
        }
        if !path.is_file() {
            let message = format!("model file {} does not exist{fallback}", path.display());
            return (
                Arc::new(self.procedural()),
                Some(RpcError::new(ErrorReason::ModelNotFound, message)),
            );
        }
        let threads = self.threads.unwrap_or_else(num_cpus::get_physical);
        let overrides = SamplingOverrides {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            guidance_scale: self.cfg,
        };
        let device = self.device.to_possible_value().expect("every device has a name");
        let keep = (self.keep_model > 0).then(|| Duration::from_secs(self.keep_model));
        match GgmlBackend::load(&path, threads, device.get_name(), overrides, keep) {
            Ok(backend) => (Arc::new(backend), None),
            Err(message) => (
                Arc::new(self.procedural()),
                Some(RpcError::new(
                    ErrorReason::ModelLoadFailed,
                    format!("{message}{fallback}"),
                )),
            ),
        }
    }
}

/// Where install.sh puts the default model.
pub fn default_model_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("nvim/lofi/models/musicgen-small-Q4_K_M.gguf")
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Exit after this many seconds without requests while nothing is generating (0 = never).
    #[arg(long, default_value_t = defaults::IDLE_TIMEOUT_SEC, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Default: $XDG_RUNTIME_DIR/lofi-daemon-<parent pid>.pid
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Default: $XDG_CACHE_HOME/nvim/lofi
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Evict least recently used tracks past this size (at least 1).
    #[arg(long, default_value_t = defaults::CACHE_MAX_MB, value_name = "MB", value_parser = parse_cache_max_mb, allow_negative_numbers = true)]
    pub cache_max_mb: f64,
    /// Evict least recently used tracks past this count (at least 1).
    #[arg(long, value_name = "N", value_parser = parse_cache_max_tracks, allow_negative_numbers = true)]
    pub cache_max_tracks: Option<usize>,
    /// Output device name (see the audio_devices method); "none" plays on a silent
    /// clock for headless machines. Default: the system default device.
    #[arg(long, value_name = "NAME")]
    pub audio_device: Option<String>,
    /// Playback volume, 0.0–1.0.
    #[arg(long, default_value_t = defaults::VOLUME, value_parser = parse_volume)]
    pub volume: f32,
    /// Cache format; mp3 needs lame on PATH (falls back to wav with a warning).
    #[arg(long, value_enum, default_value = "wav")]
    pub format: Format,
    #[command(flatten)]
    pub backend: BackendArgs,
}

fn parse_cache_max_mb(text: &str) -> Result<f64, String> {
    let mb = text.parse::<f64>().map_err(|_| format!("{text:?} is not a number"))?;
    CacheLimits::checked_max_mb(mb)
}

fn parse_cache_max_tracks(text: &str) -> Result<usize, String> {
    let n = text
        .parse::<usize>()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    CacheLimits::checked_max_tracks(n)
}

fn parse_volume(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(v) if defaults::VOLUME_RANGE.contains(&f64::from(v)) => Ok(v),
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
    /// Write a radio session to one file: its segments from the first to TRACK_ID, joined.
    Export(export::ExportArgs),
    /// Rebuild the built-in sample pack into DIR (the repo keeps it in samples/default).
    RenderSamples { dir: PathBuf },
    /// Quantize an F32/F16 MusicGen GGUF (as lofi-quantize does; install.sh uses it, so a
    /// release binary needs no Rust toolchain to install a model).
    Quantize {
        input: PathBuf,
        output: PathBuf,
        /// f32 | f16 | q8_0 | q5_k_m | q4_k_m
        file_type: lofi_convert::FileType,
    },
    /// Print the defaults, ranges, choices, methods and notifications clients rely on (JSON,
    /// or with --lua the plugin's lua/lofi/described.lua).
    Describe {
        #[arg(long)]
        lua: bool,
    },
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

fn version_text(verbose: bool) -> String {
    let mut text = format!("lofi-daemon {}\n", env!("CARGO_PKG_VERSION"));
    if verbose {
        // install.sh reads "backends:" to decide whether model weights are worth downloading.
        text += &format!(
            "backends: procedural ggml\nggml {}\nggml CPU variant: {}\nggml CPU features: {}\nlofi CPU kernels (quantized products, attention, ELU, GELU): {} (chosen at run time)\nggml accelerators: {}\n",
            ggml_sys::version(),
            ggml_sys::cpu_variant(),
            ggml_sys::cpu_features(),
            ggml_sys::cpu_kernels(),
            ggml_sys::accelerators()
        );
    }
    text
}

/// Writes a command's report to stdout. A reader that stops early (`describe | head`) has what it
/// wanted: a closed pipe is no error; any other failure is, in one sentence.
fn print_report(text: &str) -> Result<(), String> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("cannot print to stdout: {e}")),
        _ => Ok(()),
    }
}

/// Runs the command line; returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    if let Err(message) =
        crate::lifecycle::init_logging(cli.logging.log_level.as_filter(), cli.logging.log_file.as_deref())
    {
        eprintln!("lofi-daemon: {message}");
        return 2;
    }
    crate::playback::alsa_log::route_to_log();
    let result = match cli.command {
        _ if cli.version => print_report(&version_text(cli.verbose)),
        None => match cli.verify_model {
            Some(path) => verify_model::run(&path),
            None => serve::run(cli.serve),
        },
        Some(Command::Generate(args)) => generate::run(args),
        Some(Command::Analyze(args)) => analyze::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Describe { lua }) => describe::run(lua),
        Some(Command::Quantize {
            input,
            output,
            file_type,
        }) => lofi_convert::quantize_file(&input, &output, file_type)
            .map_err(|e| format!("cannot quantize {}: {e}", input.display()))
            .and_then(|report| {
                print_report(&format!(
                    "quantized {} -> {} ({}, {:.1} MB)\n",
                    input.display(),
                    output.display(),
                    report.file_type,
                    report.output_bytes as f64 / 1e6
                ))
            }),
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
