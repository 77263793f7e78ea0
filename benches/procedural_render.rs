//! Procedural render time for a 30 s track on one core (goal: <= 50 ms), against the
//! time to merely write the same 30 s of silence through the WAV encoder as a floor.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use lofi_daemon::backend::procedural::ProceduralBackend;
use lofi_daemon::backend::GenerationRequest;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let backend = ProceduralBackend::default();
    let prompts = [
        "lofi hip hop, chill",
        "jazzy piano, rain, night",
        "ambient, mellow, coffee shop",
    ];
    let cancel = AtomicBool::new(false);
    let mut all = Vec::new();
    for prompt in prompts {
        let times: Vec<Duration> = (0..5)
            .map(|seed| {
                let request = GenerationRequest {
                    prompt: prompt.into(),
                    seed,
                    duration_sec: 30.0,
                };
                let start = Instant::now();
                let audio = backend.render(&request, &mut |_| {}, &cancel).unwrap();
                assert_eq!(audio.frames(), 960_000);
                start.elapsed()
            })
            .collect();
        let m = median(times.clone());
        all.extend(times);
        println!(
            "procedural render, 30 s, {prompt:?}: median {:.1} ms",
            m.as_secs_f64() * 1e3
        );
    }
    let silence = lofi_daemon::audio::Audio::stereo(vec![0.0f32; 2 * 960_000]);
    let floor = median(
        (0..5)
            .map(|_| {
                let start = Instant::now();
                lofi_daemon::audio_file::wav::write(std::io::Cursor::new(Vec::new()), &silence).unwrap();
                start.elapsed()
            })
            .collect(),
    );
    let m = median(all);
    println!(
        "procedural render, 30 s, all prompts: median {:.1} ms = {:.0}x faster than real time; goal 50 ms ({:.2}x of goal); WAV encode of 30 s stereo alone: {:.1} ms ({:.0}x less than a render)",
        m.as_secs_f64() * 1e3,
        30.0 / m.as_secs_f64(),
        m.as_secs_f64() / 0.050,
        floor.as_secs_f64() * 1e3,
        m.as_secs_f64() / floor.as_secs_f64()
    );
}
