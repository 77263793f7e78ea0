//! The procedural backend as music: loudness, peak, tempo, form, loop seam, prompt
//! steering, determinism and the user sample pack; and measured as a producer would (the
//! estimators of `analysis`, not expectations written by hand): the requested key, what each
//! mood word and groove does, the loop seam's level, how much a long track repeats itself.

use std::sync::atomic::AtomicBool;

use lofi_daemon::analysis::{self, stereo, tonal};
use lofi_daemon::audio::Audio;
use lofi_daemon::backend::procedural::{Kit, ProceduralBackend};
use lofi_daemon::backend::GenerationRequest;
use rayon::prelude::*;

fn render_stereo(backend: &ProceduralBackend, prompt: &str, seed: u64, duration_sec: f64) -> Audio {
    let request = GenerationRequest {
        prompt: prompt.into(),
        seed,
        duration_sec,
    };
    backend.render(&request, &mut |_| {}, &AtomicBool::new(false)).unwrap()
}

/// The mono mix: what the estimators of tempo, key and form listen to.
fn render(backend: &ProceduralBackend, prompt: &str, seed: u64, duration_sec: f64) -> Vec<f32> {
    render_stereo(backend, prompt, seed, duration_sec)
        .mono_mix()
        .into_owned()
}

#[test]
fn mastered_to_spec_in_stereo_that_sums_to_mono_for_many_seeds_and_prompts() {
    let backend = ProceduralBackend::default();
    for prompt in [
        "lofi hip hop, chill",
        "jazzy piano, rain, night",
        "ambient, mellow, coffee shop",
    ] {
        for seed in 0..3 {
            let audio = render_stereo(&backend, prompt, seed, 30.0);
            assert_eq!((audio.channels, audio.frames()), (2, 30 * 32000));
            let l = analysis::loudness(&audio);
            assert!((l.integrated_lufs + 14.0).abs() <= 2.0, "{prompt} #{seed}: {l:?}");
            assert!(l.true_peak_dbtp <= -1.0, "{prompt} #{seed}: {l:?}");
            let image = stereo::image(&audio).unwrap();
            // Audibly stereo, never phasey, and what a phone's mono speaker plays is as loud.
            assert!(image.width >= 0.02, "{prompt} #{seed}: {image:?}");
            assert!(image.correlation >= 0.6, "{prompt} #{seed}: {image:?}");
            assert!(image.mono_sum_db >= -1.0, "{prompt} #{seed}: {image:?}");
        }
    }
}

#[test]
fn keys_and_hats_are_placed_while_kick_and_bass_stay_in_the_centre() {
    let backend = ProceduralBackend::default();
    let audio = render_stereo(&backend, "lofi, 80 bpm, in C minor", 2, 20.0);
    let (left, right) = (audio.channel(0), audio.channel(1));
    let side: Vec<f32> = left.iter().zip(&right).map(|(l, r)| (l - r) / 2.0).collect();
    let mid: Vec<f32> = left.iter().zip(&right).map(|(l, r)| (l + r) / 2.0).collect();
    let band_energy = |s: &[f32], low: f32, high: f32| -> f32 {
        let band = analysis::band_pass(s, 32_000, low, high);
        band.iter().map(|x| x * x).sum()
    };
    // Below 150 Hz (kick, bass) the side is cut; in the keys' and hats' range it is not.
    let low = band_energy(&side, 30.0, 100.0) / band_energy(&mid, 30.0, 100.0);
    let high = band_energy(&side, 6000.0, 10_000.0) / band_energy(&mid, 6000.0, 10_000.0);
    let keys = band_energy(&side, 400.0, 2000.0) / band_energy(&mid, 400.0, 2000.0);
    assert!(low < 0.01, "side/mid below 100 Hz: {low}");
    assert!(high > 0.05 && keys > 0.03, "hats {high}, keys {keys}");
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
    let audio = render_stereo(&backend, "lofi, 80 bpm", 11, 30.0);
    for channel in [audio.channel(0), audio.channel(1)] {
        let (first, last) = (channel[0], *channel.last().unwrap());
        assert!(first.abs() < 1e-3 && last.abs() < 1e-3, "edges {first} {last}");
        // The largest step across the seam is no bigger than typical steps inside the track.
        let max_step_inside = channel.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0f32, f32::max);
        assert!((first - last).abs() <= max_step_inside);
    }
    let samples = audio.mono_mix();
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

#[test]
fn the_requested_key_is_what_a_key_finder_hears() {
    let backend = ProceduralBackend::default();
    let cases: Vec<(usize, bool, u64)> = (0..12)
        .flat_map(|tonic| {
            [false, true]
                .into_iter()
                .flat_map(move |minor| [1, 2].map(|seed| (tonic, minor, seed)))
        })
        .collect();
    let misses: Vec<String> = cases
        .par_iter()
        .filter_map(|&(tonic, minor, seed)| {
            let mode = if minor { "minor" } else { "major" };
            let prompt = format!("lofi, in {} {mode}", tonal::PITCH_CLASSES[tonic]);
            let key = tonal::key_of(&render(&backend, &prompt, seed, 30.0), 32_000).unwrap();
            ((key.tonic, key.minor) != (tonic, minor)).then(|| format!("{prompt} #{seed} → {key}"))
        })
        .collect();
    let hit_rate = 1.0 - misses.len() as f64 / cases.len() as f64;
    eprintln!(
        "key hit rate {:.0} % ({} renders); misses: {misses:#?}",
        hit_rate * 100.0,
        cases.len()
    );
    assert!(hit_rate >= 0.8, "key hit rate {hit_rate:.2}");
}

#[test]
fn a_looping_track_ends_at_the_level_it_plays_at() {
    let backend = ProceduralBackend::default();
    let cases: Vec<(&str, u64, f64)> = [
        "lofi hip hop",
        "jazzy piano, rain",
        "ambient, dreamy",
        "boom bap, dusty",
    ]
    .into_iter()
    .flat_map(|prompt| [(prompt, 1, 30.0), (prompt, 2, 47.0), (prompt, 3, 120.0)])
    .collect();
    let worst = cases
        .par_iter()
        .map(|&(prompt, seed, seconds)| {
            let seam = analysis::seam_level_db(&render(&backend, prompt, seed, seconds), 32_000);
            eprintln!("{prompt} #{seed} {seconds} s: last second {seam:+.1} dB against the median");
            seam.abs()
        })
        .reduce(|| 0.0, f64::max);
    assert!(worst <= 2.0, "the last second is {worst:.1} dB off the track's median");
}

#[test]
fn a_long_track_develops_instead_of_looping() {
    let backend = ProceduralBackend::default();
    let cases: Vec<(&str, u64)> = [
        "lofi hip hop",
        "jazzy piano, rain, 76 bpm",
        "sad, night",
        "happy, coffee",
    ]
    .into_iter()
    .flat_map(|prompt| [(prompt, 1), (prompt, 2)])
    .collect();
    let forms: Vec<_> = cases
        .par_iter()
        .map(|&(prompt, seed)| {
            let samples = render(&backend, prompt, seed, 180.0);
            let bpm = analysis::estimate_bpm(&samples, 32_000).unwrap();
            let form = analysis::form::form(&analysis::form::bar_chroma(&samples, 32_000, bpm));
            eprintln!(
                "{prompt} #{seed}: {} bars at {bpm:.1} BPM, {} distinct, an 8-bar span recurs {}×, sections {}",
                form.bars, form.distinct_bars, form.max_span_recurrence, form.sections
            );
            form
        })
        .collect();
    let mean = forms.iter().map(|f| f.distinct_bars).sum::<usize>() as f64 / forms.len() as f64;
    eprintln!("distinct bars: {mean:.1} on average");
    // A 4-chord loop measures 6-8.
    assert!(mean >= 21.0, "{mean:.1} distinct bars on average");
    for form in forms {
        assert!(form.distinct_bars >= 20, "{form:?}");
        assert!(form.max_span_recurrence <= 2, "{form:?}");
    }
}

#[test]
fn every_mood_word_changes_the_music_measurably() {
    let backend = ProceduralBackend::default();
    let measure = |prompt: &str, seed: u64| {
        let samples = render(&backend, prompt, seed, 30.0);
        (
            analysis::estimate_bpm(&samples, 32_000).unwrap_or(0.0),
            tonal::key_of(&samples, 32_000).map(|k| k.minor),
            analysis::percussiveness(&samples, 32_000),
            analysis::clicks_per_second(&samples, 32_000),
            analysis::pitch::wobble_cents(&samples, 32_000).unwrap_or(f64::NAN),
        )
    };
    for seed in [1, 2] {
        let (bpm, _, drums, clicks, wobble) = measure("", seed);
        let (fast, ..) = measure("fast", seed);
        let (slow, ..) = measure("slow", seed);
        let (_, happy, ..) = measure("happy", seed);
        let (_, sad, ..) = measure("sad", seed);
        let (_, dark, ..) = measure("dark", seed);
        let (.., ambient_drums, _, _) = measure("ambient", seed);
        let (.., vinyl, _) = measure("vinyl", seed);
        let (.., tape) = measure("tape", seed);
        eprintln!(
            "seed {seed}: empty {bpm:.1} BPM, drums {drums:.3}, {clicks:.1} clicks/s; fast {fast:.1}; slow {slow:.1}; \
             happy minor={happy:?}; sad minor={sad:?}; dark minor={dark:?}; ambient drums {ambient_drums:.3}; vinyl {vinyl:.1} clicks/s; \
             pitch wobble {wobble:.1} cents, tape {tape:.1}"
        );
        assert!(fast >= 91.0, "fast: {fast:.1} BPM");
        assert!(slow <= 71.0, "slow: {slow:.1} BPM");
        assert_eq!((happy, sad, dark), (Some(false), Some(true), Some(true)), "modes");
        assert!(
            ambient_drums < 0.6 * drums,
            "ambient drums {ambient_drums:.3} vs {drums:.3}"
        );
        assert!(vinyl > 1.75 * clicks, "vinyl {vinyl:.1} vs {clicks:.1} clicks/s");
        assert!(tape > 2.0 * wobble, "tape wobbles {tape:.1} cents vs {wobble:.1}");
    }
}

fn pearson(a: &[f32; 16], b: &[f32; 16]) -> f32 {
    let mean = |v: &[f32; 16]| v.iter().sum::<f32>() / 16.0;
    let (ma, mb) = (mean(a), mean(b));
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let var = |v: &[f32; 16], m: f32| v.iter().map(|x| (x - m).powi(2)).sum::<f32>();
    cov / (var(a, ma) * var(b, mb)).sqrt().max(1e-9)
}

#[test]
fn groove_families_sound_different_at_the_same_tempo() {
    let backend = ProceduralBackend::default();
    let families = ["boom bap", "half-time", "bossa", "jazzy brushes", "laid-back swing"];
    let profiles: Vec<[f32; 16]> = families
        .par_iter()
        .map(|family| {
            let samples = render(&backend, &format!("{family}, 80 bpm"), 4, 30.0);
            analysis::groove_profile(&samples, 32_000, 80.0)
        })
        .collect();
    let mut worst: f32 = -1.0;
    for i in 0..families.len() {
        for j in i + 1..families.len() {
            let r = pearson(&profiles[i], &profiles[j]);
            eprintln!("{} vs {}: onset profiles correlate {r:.2}", families[i], families[j]);
            worst = worst.max(r);
        }
    }
    assert!(worst < 0.8, "two groove families are alike: r = {worst:.2}");
}
