//! `lofi-daemon analyze FILE`: what a track measures like.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::{analysis, tags, wav};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// A WAV file.
    pub file: PathBuf,
    /// Waveform width in terminal columns.
    #[arg(long, default_value_t = 72)]
    pub width: usize,
}

pub fn run(args: AnalyzeArgs) -> Result<(), String> {
    let path = &args.file;
    if path.extension().is_some_and(|e| e == "mp3") {
        return Err(format!(
            "{}: analyze reads WAV files (decode MP3 first: lame --decode)",
            path.display()
        ));
    }
    let audio =
        wav::read(path).map_err(|e| format!("{}: not a readable WAV file: {e}", path.display()))?;
    let seconds = audio.samples.len() as f64 / audio.sample_rate as f64;
    let loudness = analysis::loudness_at(&audio.samples, audio.sample_rate);
    let bpm = analysis::estimate_bpm(&audio.samples, audio.sample_rate);
    println!("file:        {}", path.display());
    println!("duration:    {seconds:.2} s ({} Hz)", audio.sample_rate);
    println!(
        "loudness:    {:.1} LUFS integrated",
        loudness.integrated_lufs
    );
    println!("true peak:   {:.1} dBTP", loudness.true_peak_dbtp);
    match bpm {
        Some(bpm) => println!("tempo:       {bpm:.1} BPM (estimated)"),
        None => println!("tempo:       unknown (too short or no clear beat)"),
    }
    if let Some(p) = tags::read(path) {
        println!("prompt:      {}", p.prompt);
        println!(
            "seed:        {}  backend: {}  model: {}",
            p.seed, p.backend, p.model_version
        );
    }
    println!(
        "{}",
        analysis::waveform(&audio.samples, args.width.clamp(8, 400), 6)
    );
    Ok(())
}
