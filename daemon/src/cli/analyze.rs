//! `lofi-daemon analyze FILE`: what a track measures like.

use std::path::PathBuf;

use clap::Args;

use crate::analysis;
use crate::audio_file::{tags, wav};

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
    let audio = wav::read(path).map_err(|e| format!("{}: not a readable WAV file: {e}", path.display()))?;
    let seconds = audio.duration_sec();
    let loudness = analysis::loudness(&audio);
    let mono = audio.mono_mix();
    let bpm = analysis::estimate_bpm(&mono, audio.sample_rate);
    let mut report = format!(
        "file:        {}\nduration:    {seconds:.2} s ({} Hz)\nloudness:    {:.1} LUFS integrated\ntrue peak:   {:.1} dBTP\n",
        path.display(),
        audio.sample_rate,
        loudness.integrated_lufs,
        loudness.true_peak_dbtp
    );
    report += &match bpm {
        Some(bpm) => format!("tempo:       {bpm:.1} BPM (estimated)\n"),
        None => "tempo:       unknown (too short or no clear beat)\n".to_owned(),
    };
    report += &match analysis::tonal::key_of(&mono, audio.sample_rate) {
        Some(key) => format!("key:         {key} (profile fit {:.2})\n", key.fit),
        None => "key:         unknown (no pitched sound)\n".to_owned(),
    };
    report += &match analysis::stereo::image(&audio) {
        Some(image) => format!(
            "stereo:      width {:.2} (side/mid energy), correlation {:+.2}, mono sum {:+.1} dB \
             (the figures below are of the mono mix)\n",
            image.width, image.correlation, image.mono_sum_db
        ),
        None => "stereo:      mono\n".to_owned(),
    };
    report += &match analysis::pitch::wobble_cents(&mono, audio.sample_rate) {
        Some(cents) => format!("wobble:      {cents:.1} cents RMS on held notes (tape wow and flutter)\n"),
        None => "wobble:      unknown (no note held a second)\n".to_owned(),
    };
    report += &format!(
        "clicks:      {:.1}/s above 12 kHz (vinyl crackle)\n",
        analysis::clicks_per_second(&mono, audio.sample_rate)
    );
    report += &format!(
        "loop seam:   last second {:+.1} dB against the median second\n",
        analysis::seam_level_db(&mono, audio.sample_rate)
    );
    if let Some(bpm) = bpm {
        let form = analysis::form::form(&analysis::form::bar_chroma(&mono, audio.sample_rate, bpm));
        report += &format!(
            "form:        {} bars, {} distinct; an 8-bar span recurs at most {}× (repetition)\n",
            form.bars, form.distinct_bars, form.max_span_recurrence
        );
        report += &format!(
            "sections:    {} (a letter per 4 bars from the start, alike → same letter)\n",
            form.sections
        );
    }
    if let Some(p) = tags::read(path) {
        report += &format!("prompt:      {}\n", p.prompt);
        report += &format!(
            "seed:        {}  backend: {}  model: {}\n",
            p.seed, p.backend, p.model_version
        );
    }
    report += &analysis::waveform(&mono, args.width.clamp(8, 400), 6);
    report.push('\n');
    super::print_report(&report)
}
