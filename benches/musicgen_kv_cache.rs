//! The int8 attention cache's error against the F16 cache: the guided logits of the first
//! decoder step and of step 1500 (teacher-forced through the same codes, so both caches see the
//! same history), as the largest difference beside the logits' spread, and whether each
//! codebook's greedy token agrees. For the model in LOFI_BENCH_MODEL, or the test fixture.
//!
//!   [LOFI_BENCH_MODEL=model.gguf] [LOFI_BENCH_THREADS=2] cargo bench -p musicgen --bench musicgen_kv_cache
use std::path::PathBuf;

use musicgen::{Musicgen, Sampling};

const PROMPT: &str = "lofi hip hop, rainy night, mellow piano, 80 bpm";
const LATE_STEP: usize = 1500;

fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

/// Largest difference, the reference's standard deviation, and codebooks whose greedy token agrees.
fn compare(reference: &[f32], other: &[f32], codebooks: usize) -> (f32, f32, usize) {
    let err = reference
        .iter()
        .zip(other)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    let mean = reference.iter().sum::<f32>() / reference.len() as f32;
    let spread = (reference.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / reference.len() as f32).sqrt();
    let card = reference.len() / codebooks;
    let agree = (0..codebooks)
        .filter(|q| argmax(&reference[q * card..(q + 1) * card]) == argmax(&other[q * card..(q + 1) * card]))
        .count();
    (err, spread, agree)
}

/// The first step's guided logits and those of the step after `history` (codebook-major codes of
/// `frames` frames, the last frame left out).
fn logits(model: &mut Musicgen, cache: &str, history: &[i32], frames: usize) -> (Vec<f32>, Vec<f32>) {
    model.set_kv_cache(cache).expect("a known cache");
    let sampling = model.default_sampling();
    let ids = model.tokenize(PROMPT).unwrap();
    let mut run = model.run();
    run.encode_text(&ids).unwrap();
    let first = run.first_logits(sampling.guidance_scale).unwrap();
    let prompt: Vec<i32> = history
        .chunks(frames)
        .flat_map(|book| &book[..frames - 1])
        .copied()
        .collect();
    run.set_codes(&prompt).unwrap();
    run.generate(
        frames - 1,
        1,
        &Sampling {
            temperature: 0.0,
            top_k: 1,
            ..sampling
        },
        |_, _| true,
    )
    .unwrap();
    assert_eq!(run.last_logits().len(), first.len());
    (first, run.last_logits().to_vec())
}

fn main() {
    let path = std::env::var_os("LOFI_BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/musicgen-tiny/model-f16.gguf")
        });
    let threads = std::env::var("LOFI_BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2);
    let mut model = Musicgen::load(&path, threads, "cpu").expect("model loads");
    let books = model.params().codebooks;
    // Frames whose run ends at LATE_STEP (the delay pattern adds codebooks - 1 steps), within the context.
    let frames = (LATE_STEP + 1 - books).min(model.params().max_frames);
    let late_step = model.run_steps(frames - 1, 1);
    // The history both caches are fed: sampled once, with the F16 cache.
    model.set_kv_cache("f16").unwrap();
    let ids = model.tokenize(PROMPT).unwrap();
    let sampling = Sampling {
        seed: 1,
        ..model.default_sampling()
    };
    let mut run = model.run();
    run.encode_text(&ids).unwrap();
    run.generate(0, frames, &sampling, |_, _| true).unwrap();
    let history = run.codes();
    drop(run);

    let (f32_first, f32_late) = logits(&mut model, "f32", &history, frames);
    let (f16_first, f16_late) = logits(&mut model, "f16", &history, frames);
    let (int8_first, int8_late) = logits(&mut model, "int8", &history, frames);
    println!("{}:", path.file_name().unwrap().to_string_lossy());
    for (what, reference, other) in [
        (
            "int8 cache against F16",
            [&f16_first, &f16_late],
            [&int8_first, &int8_late],
        ),
        (
            "F16 cache against F32 (for scale)",
            [&f32_first, &f32_late],
            [&f16_first, &f16_late],
        ),
    ] {
        println!("  {what}");
        for (step, reference, other) in [(1, reference[0], other[0]), (late_step, reference[1], other[1])] {
            let (err, spread, agree) = compare(reference, other, books);
            println!(
                "    step {step:>4}: largest logit difference {err:.2e} (logits' standard deviation {spread:.2}: {:.2} %), greedy token agrees in {agree}/{books} codebooks",
                100.0 * err / spread
            );
        }
    }
}
