//! The procedural backend as music: loudness, peak, tempo, form, loop seam, prompt
//! steering, determinism and the user sample pack.

use std::sync::atomic::AtomicBool;

use lofi_daemon::analysis;
use lofi_daemon::backend::procedural::{Kit, ProceduralBackend};
use lofi_daemon::backend::GenerationRequest;

fn render(backend: &ProceduralBackend, prompt: &str, seed: u64, duration_sec: f64) -> Vec<f32> {
    let request = GenerationRequest {
        prompt: prompt.into(),
        seed,
        duration_sec,
    };
    backend.render(&request, &mut |_| {}, &AtomicBool::new(false)).unwrap()
}

#[test]
fn mastered_to_spec_for_many_seeds_and_prompts() {
    let backend = ProceduralBackend::default();
    for prompt in [
        "lofi hip hop, chill",
        "jazzy piano, rain, night",
        "ambient, mellow, coffee shop",
    ] {
        for seed in 0..3 {
            let samples = render(&backend, prompt, seed, 30.0);
            assert_eq!(samples.len(), 30 * 32000);
            let l = analysis::loudness(&samples);
            assert!((l.integrated_lufs + 14.0).abs() <= 2.0, "{prompt} #{seed}: {l:?}");
            assert!(l.true_peak_dbtp <= -1.0, "{prompt} #{seed}: {l:?}");
        }
    }
}

#[test]
fn tempo_follows_the_prompt_and_stays_in_lofi_range() {
    let backend = ProceduralBackend::default();
    for bpm in [72, 80, 88] {
        let samples = render(&backend, &format!("lofi, {bpm} bpm"), 3, 30.0);
        let estimated = analysis::estimate_bpm(&samples, 32000).unwrap();
        assert!(
            (estimated - bpm as f64).abs() <= 2.0,
            "asked {bpm}, measured {estimated:.1}"
        );
    }
    for seed in 0..4 {
        let estimated = analysis::estimate_bpm(&render(&backend, "lofi", seed, 30.0), 32000).unwrap();
        assert!((66.0..=94.0).contains(&estimated), "seed {seed}: {estimated:.1}");
    }
}

#[test]
fn loop_seam_has_no_click_and_bars_vary() {
    let backend = ProceduralBackend::default();
    let samples = render(&backend, "lofi, 80 bpm", 11, 30.0);
    let (first, last) = (samples[0], *samples.last().unwrap());
    assert!(first.abs() < 1e-3 && last.abs() < 1e-3, "edges {first} {last}");
    // The largest step across the seam is no bigger than typical steps inside the track.
    let max_step_inside = samples.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
    assert!((first - last).abs() <= max_step_inside);
    // Form: bars are not copies of one another (3 s bars at 80 bpm).
    let bar = 3 * 32000;
    let bars: Vec<&[f32]> = samples.chunks(bar).collect();
    let distinct = (1..bars.len()).filter(|&i| {
        let diff: f32 = bars[i].iter().zip(bars[i - 1]).map(|(a, b)| (a - b).abs()).sum();
        diff / bar as f32 > 0.01
    });
    assert_eq!(distinct.count(), bars.len() - 1);
}

#[test]
fn prompts_steer_the_sound() {
    let backend = ProceduralBackend::default();
    // Rain adds broadband high-frequency energy; "night" darkens the keys.
    let hf =
        |s: &[f32]| s.windows(2).map(|w| (w[1] - w[0]).powi(2)).sum::<f32>() / s.iter().map(|x| x * x).sum::<f32>();
    let dry = render(&backend, "lofi, 80 bpm, in C minor", 5, 12.0);
    let wet = render(&backend, "lofi, 80 bpm, in C minor, rain", 5, 12.0);
    assert!(hf(&wet) > hf(&dry) * 1.2, "rain {} vs dry {}", hf(&wet), hf(&dry));
    assert_ne!(
        render(&backend, "lofi in F minor", 5, 6.0),
        render(&backend, "lofi in F major", 5, 6.0)
    );
    // Unknown words are ignored, never an error.
    assert_eq!(render(&backend, "lofi zzqx", 5, 4.0).len(), 4 * 32000);
}

#[test]
fn deterministic_and_seed_sensitive() {
    let backend = ProceduralBackend::default();
    assert_eq!(render(&backend, "lofi", 9, 8.0), render(&backend, "lofi", 9, 8.0));
    assert_ne!(render(&backend, "lofi", 9, 8.0), render(&backend, "lofi", 10, 8.0));
    for duration in [1.0, 1.5, 7.3] {
        assert_eq!(
            render(&backend, "short", 1, duration).len(),
            (duration * 32000.0).round() as usize
        );
    }
}

#[test]
fn a_user_pack_overrides_by_name() {
    let dir = tempfile::tempdir().unwrap();
    // A silent kick replaces the default; a 44.1 kHz snare is refused and the default kept.
    let write = |name: &str, rate: u32, samples: &[i16]| {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(dir.path().join(name), spec).unwrap();
        samples.iter().for_each(|s| w.write_sample(*s).unwrap());
        w.finalize().unwrap();
    };
    write("kick.wav", 32000, &[0; 100]);
    write("snare.wav", 44100, &[1000; 100]);
    let kit = Kit::with_overrides(dir.path());
    let default = Kit::default_pack();
    use lofi_daemon::backend::procedural::kit::Sound;
    assert_eq!(kit.get(Sound::Kick), &[0.0; 100][..]);
    assert_eq!(kit.get(Sound::Snare), default.get(Sound::Snare));
    let with_pack = render(&ProceduralBackend::new(kit), "lofi", 1, 6.0);
    assert_ne!(with_pack, render(&ProceduralBackend::default(), "lofi", 1, 6.0));
}
