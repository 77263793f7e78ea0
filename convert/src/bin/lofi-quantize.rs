//! lofi-quantize IN.gguf OUT.gguf TYPE: writes a MusicGen GGUF as f32, f16, q8_0, q5_k_m or q4_k_m
//! and prints what each GGML type costs in accuracy.
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lofi_convert::{quantize_file, FileType, Report};

#[derive(Parser)]
#[command(version, about = "Quantize a MusicGen GGUF with GGML's own quantize functions")]
struct Args {
    /// An F32 or F16 GGUF (as scripts/convert_musicgen_to_gguf.py writes)
    input: PathBuf,
    /// Where to write the result (atomically)
    output: PathBuf,
    /// f32 | f16 | q8_0 | q5_k_m | q4_k_m
    file_type: FileType,
}

/// The report on stdout; a closed pipe (`| head`) is not an error: the file is already written.
fn print_report(report: &Report) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "lofi-quantize: {} -> {:.1} MB (from {:.1} MB)",
        report.file_type,
        report.output_bytes as f64 / 1e6,
        report.input_bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "  {:<6} {:>7} {:>12} {:>10} {:>13} {:>14} {:>9}",
        "type", "tensors", "params", "MB", "max |err|", "mean |err|", "rel RMS"
    )?;
    for (ty, stats) in &report.by_type {
        writeln!(
            out,
            "  {:<6} {:>7} {:>12} {:>10.2} {:>13.3e} {:>14.3e} {:>9.2e}",
            ty.name().unwrap_or("?"),
            stats.tensors,
            stats.elements,
            stats.bytes as f64 / 1e6,
            stats.max_abs_error,
            stats.mean_abs_error(),
            stats.relative_rms_error()
        )?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match quantize_file(&args.input, &args.output, args.file_type) {
        Ok(report) => {
            let _ = print_report(&report);
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("lofi-quantize: {}: {err}", args.input.display());
            ExitCode::FAILURE
        }
    }
}
