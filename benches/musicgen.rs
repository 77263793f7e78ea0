//! MusicGen on GGML: seconds per 10 s and 30 s of audio, split into T5 / decoder LM / EnCodec,
//! the time to the first audio when the same track is streamed, and peak RSS, for the model in LOFI_BENCH_MODEL (one model per process, so the RSS is its
//! own). benches/musicgen.sh builds random musicgen-small-shaped models and runs this for F16,
//! Q8_0 and Q4_K_M next to the PyTorch baseline.
//!
//!   LOFI_BENCH_MODEL=model.gguf [LOFI_BENCH_THREADS=2] [LOFI_BENCH_SECONDS=10,30] [LOFI_BENCH_DEVICE=cpu] cargo bench -p musicgen --bench musicgen
use std::path::PathBuf;
use std::time::Instant;

use musicgen::{Musicgen, Sampling};

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let Some(path) = std::env::var_os("LOFI_BENCH_MODEL").map(PathBuf::from) else {
        eprintln!("musicgen bench: set LOFI_BENCH_MODEL to a MusicGen GGUF (benches/musicgen.sh makes them)");
        return;
    };
    let threads = std::env::var("LOFI_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let device = std::env::var("LOFI_BENCH_DEVICE").unwrap_or_else(|_| "cpu".into());
    let started = Instant::now();
    let mut model = Musicgen::load(&path, threads, &device).expect("model loads");
    let load = started.elapsed().as_secs_f64();
    let params = *model.params();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    println!("{name}: load {load:.2} s, {threads} threads, on {}", model.device());
    let lengths: Vec<usize> = std::env::var("LOFI_BENCH_SECONDS")
        .ok()
        .map(|list| list.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 30]);
    for seconds in lengths {
        let frames = seconds * params.frame_rate as usize;
        let t = Instant::now();
        let ids = model
            .tokenize("lofi hip hop, rainy night, mellow piano, 80 bpm")
            .unwrap();
        let sampling = Sampling {
            seed: 1,
            ..model.default_sampling()
        };
        let steps = model.run_steps(0, frames);
        let mut run = model.run();
        run.encode_text(&ids).unwrap();
        let t5 = t.elapsed().as_secs_f64();
        let t = Instant::now();
        run.generate(0, frames, &sampling, |_, _| true).unwrap();
        let lm = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let audio = run.decode_audio(0).unwrap();
        let codec = t.elapsed().as_secs_f64();
        let total = t5 + lm + codec;
        println!(
            "  {seconds:>2} s audio: total {total:6.1} s ({:.2}x real time) = T5 {t5:.3} s + LM {lm:6.1} s ({:.1} ms/step) + EnCodec {codec:5.1} s; {} samples",
            total / seconds as f64,
            lm * 1000.0 / steps as f64,
            audio.len()
        );
        drop(run);
        // The same track streamed: EnCodec decodes behind the decoder, so the first second of
        // audio is out long before the track is done.
        let t = Instant::now();
        let mut first_audio = None;
        let mut streamed = 0;
        let mut run = model.run();
        run.encode_text(&ids).unwrap();
        run.generate_streaming(
            0,
            frames,
            &sampling,
            |_, _| true,
            |chunk| {
                first_audio.get_or_insert_with(|| t.elapsed().as_secs_f64());
                streamed += chunk.len();
            },
        )
        .unwrap();
        run.finish_stream(|chunk| streamed += chunk.len()).unwrap();
        let streamed_total = t.elapsed().as_secs_f64();
        println!(
            "  {seconds:>2} s streamed: first audio after {:.1} s (whole track: {total:.1} s, {:.0}x sooner); all of it {streamed_total:.1} s; {streamed} samples",
            first_audio.unwrap_or(f64::NAN),
            total / first_audio.unwrap_or(f64::NAN)
        );
    }
    println!("  peak RSS {:.0} MB", peak_rss_mb());
}
