//! The reduced attention caches' error against the F16 cache (int8, and int8 keys with 4-bit
//! values): the guided logits of the first decoder step, of step 128 and of step 1500
//! (teacher-forced through the same codes, so all caches see the same history), as the largest
//! difference beside the logits' spread, and whether each codebook's greedy token agrees. For
//! the model in LOFI_BENCH_MODEL, or the test fixture.
//!
//!   [LOFI_BENCH_MODEL=model.gguf] [LOFI_BENCH_THREADS=2] cargo bench -p musicgen --bench musicgen_kv_cache
use std::path::PathBuf;

use musicgen::{leading_frames, Musicgen, Sampling};

const PROMPT: &str = "lofi hip hop, rainy night, mellow piano, 80 bpm";
const LATE_STEP: usize = 1500;
/// The steps compared after the first: past the int8 values kept for the first 64 positions, and late.
const STEPS: [usize; 2] = [128, LATE_STEP];

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

/// The first step's guided logits, then those of the step after the first `frames` frames of
/// `history` (codebook-major codes of `history_frames` frames) for each of `frames`.
fn logits(
    model: &mut Musicgen,
    cache: &str,
    history: &[i32],
    history_frames: usize,
    frames: &[usize],
) -> Vec<Vec<f32>> {
    model.set_kv_cache(cache).expect("a known cache");
    let sampling = model.default_sampling();
    let ids = model.tokenize(PROMPT).unwrap();
    let mut run = model.run();
    run.encode_text(&ids).unwrap();
    let mut out = vec![run.first_logits(sampling.guidance_scale).unwrap()];
    for &frames in frames {
        run.set_codes(&leading_frames(history, history_frames, frames)).unwrap();
        run.generate(
            frames,
            1,
            &Sampling {
                temperature: 0.0,
                top_k: 1,
                ..sampling
            },
            |_, _| true,
        )
        .unwrap();
        assert_eq!(run.last_logits().len(), out[0].len());
        out.push(run.last_logits().to_vec());
    }
    out
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
    // Frames whose run ends at each step (the delay pattern adds codebooks - 1 steps), within the context.
    let history_frames = (LATE_STEP + 1 - books).min(model.params().max_frames);
    let frames: Vec<usize> = STEPS
        .iter()
        .map(|step| (step + 1 - books).min(history_frames) - 1)
        .collect();
    let steps: Vec<usize> = std::iter::once(1)
        .chain(frames.iter().map(|&f| model.run_steps(f, 1)))
        .collect();
    // The history all caches are fed: sampled once, with the F16 cache.
    model.set_kv_cache("f16").unwrap();
    let ids = model.tokenize(PROMPT).unwrap();
    let sampling = Sampling {
        seed: 1,
        ..model.default_sampling()
    };
    let mut run = model.run();
    run.encode_text(&ids).unwrap();
    run.generate(0, history_frames, &sampling, |_, _| true).unwrap();
    let history = run.codes();
    drop(run);

    let mut by_cache = |cache| logits(&mut model, cache, &history, history_frames, &frames);
    let (f32_logits, f16_logits, int8_logits, int4_logits) = (
        by_cache("f32"),
        by_cache("f16"),
        by_cache("int8"),
        by_cache("int8-int4"),
    );
    println!("{}:", path.file_name().unwrap().to_string_lossy());
    for (what, reference, other) in [
        ("int8 cache against F16", &f16_logits, &int8_logits),
        (
            "int8-int4 cache (int8 keys, 4-bit values past the first 64 positions) against F16",
            &f16_logits,
            &int4_logits,
        ),
        ("F16 cache against F32 (for scale)", &f32_logits, &f16_logits),
    ] {
        println!("  {what}");
        for ((step, reference), other) in steps.iter().zip(reference).zip(other) {
            let (err, spread, agree) = compare(reference, other, books);
            println!(
                "    step {step:>4}: largest logit difference {err:.2e} (logits' standard deviation {spread:.2}: {:.2} %), greedy token agrees in {agree}/{books} codebooks",
                100.0 * err / spread
            );
        }
    }
}
