//! MusicGen on GGML: seconds per 10 s and 30 s of audio, split into T5 / decoder LM / EnCodec,
//! the decoder's ms per step at cache positions 0, 500, 1000 and 1500 beside the floor the
//! machine's memory bandwidth sets (the bytes a step must read ÷ the read bandwidth of the step's
//! own weights, measured just before and after each window of steps), the time to the first audio when the same track is streamed, and the peak RSS
//! of each (the peak started over before each), for the model in LOFI_BENCH_MODEL. benches/musicgen.sh builds random musicgen-small-shaped models and runs this for F16,
//! Q8_0, Q5_K_M and Q4_K_M next to the PyTorch baseline.
//!
//!   LOFI_BENCH_MODEL=model.gguf [LOFI_BENCH_THREADS=2] [LOFI_BENCH_SECONDS=10,30] [LOFI_BENCH_DEVICE=cpu]
//!   [LOFI_BENCH_KV_CACHE=f16|int8] [LOFI_BENCH_ONLY=encodec] cargo bench -p musicgen --bench musicgen
//!
//! LOFI_BENCH_ONLY=encodec times EnCodec alone over codes of each length (their values do not
//! change its speed), and its peak RSS.
//!
//! Beside each window's bandwidth the bench prints the round trip of a cache line between two
//! threads: on a VM it tells where the two vCPUs ran. On the AMD EPYC VMs of this project it is
//! ~70 ns in most windows and 300–800 ns in others, where the memory also read up to ~60 GB/s
//! instead of ~35: what two cores on separate last-level caches (CCDs) look like, each with its
//! own path to memory, and every node's barrier and hand-over between the threads that much slower.
//! LOFI_BENCH_EVERY_STEP=1 probes both before every step of the generated tracks (the steps' own
//! time excludes the probes) and prints the steps' median against the floor per placement: to
//! compare placements; each step then starts with the probes' data in its caches, so its ratios
//! run higher than the windows'.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use musicgen::{Musicgen, Sampling};

/// Cache positions at which the step time is reported: the mean of STEP_WINDOW steps from there
/// (from the 5th step at 0: the first steps place the weights; up to the last step at 1500).
const STEP_POSITIONS: [usize; 4] = [0, 500, 1000, 1500];
const STEP_WINDOW: usize = 10;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Starts the peak RSS over from the current RSS (Linux: writing 5 to clear_refs), so that each
/// phase's peak is its own, once the heap the last phase freed is handed back (glibc keeps it,
/// and it would count in the next phase's figure).
fn reset_peak_rss() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only returns free pages of the heap to the system.
        unsafe { malloc_trim(0) };
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Nanoseconds for a cache line to go from this thread to another and back (the mean of 20 000
/// hand-overs of a counter): how far apart two of the machine's threads run. NaN on a machine of
/// one CPU, where the two spinning threads would take turns a scheduler slice at a time.
fn round_trip_ns() -> f64 {
    const ROUNDS: u64 = 20_000;
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return f64::NAN;
    }
    let counter = AtomicU64::new(0);
    // Each side waits for the other's last value, then writes the next.
    let bounce = |first: u64| {
        for i in 0..ROUNDS {
            while counter.load(Ordering::Acquire) != 2 * i + first {
                std::hint::spin_loop();
            }
            counter.store(2 * i + first + 1, Ordering::Release);
        }
    };
    let t = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| bounce(1));
        bounce(0);
    });
    t.elapsed().as_secs_f64() * 1e9 / ROUNDS as f64
}

/// What a probe between two steps read: the step weights' read bandwidth (bytes per second) and
/// round_trip_ns.
#[derive(Clone, Copy)]
struct Probe {
    bandwidth: f64,
    round_trip_ns: f64,
}

/// LOFI_BENCH_EVERY_STEP's table: the steps of a track probed before each, by cache position
/// (0–499, 500–999, 1000 on) and by where the threads ran (round trip under or over 200 ns):
/// the median step, bandwidth and step ÷ floor of each group.
fn every_step_table(seconds: usize, steps: &[(usize, Probe, f64)], floor_ms: impl Fn(usize, f64) -> f64) {
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for band in 0..3 {
        for apart in [false, true] {
            let group: Vec<_> = steps
                .iter()
                .filter(|(position, probe, _)| {
                    (position / 500).min(2) == band && (probe.round_trip_ns > 200.0) == apart
                })
                .collect();
            if group.is_empty() {
                continue;
            }
            println!(
                "    {seconds:>2} s track, positions {:>4}+, threads {} (round trip {:.0} ns): {} steps, median {:.1} ms/step at {:.1} GB/s, {:.2}x the floor",
                band * 500,
                if apart { "apart" } else { "near " },
                median(group.iter().map(|(_, probe, _)| probe.round_trip_ns).collect()),
                group.len(),
                median(group.iter().map(|(_, _, ms)| *ms).collect()),
                median(group.iter().map(|(_, probe, _)| probe.bandwidth).collect()) / 1e9,
                median(group.iter().map(|(position, probe, ms)| ms / floor_ms(*position, probe.bandwidth)).collect())
            );
        }
    }
}

/// EnCodec over codes of each length in `lengths` (seconds), then the process's peak RSS.
fn encodec_alone(model: &mut Musicgen, lengths: &[usize]) {
    let params = *model.params();
    for &seconds in lengths {
        let frames = seconds * params.frame_rate as usize;
        let codes: Vec<i32> = (0..frames * params.codebooks)
            .map(|i| (i * 7919 % params.codebook_size) as i32)
            .collect();
        let mut run = model.run();
        run.set_codes(&codes).unwrap();
        let t = Instant::now();
        let samples = run.decode_audio(0).unwrap().len();
        println!(
            "  {seconds:>2} s audio: EnCodec {:.2} s; {samples} samples",
            t.elapsed().as_secs_f64()
        );
    }
    println!("  peak RSS {:.0} MB", peak_rss_mb());
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
    if let Ok(cache) = std::env::var("LOFI_BENCH_KV_CACHE") {
        model.set_kv_cache(&cache).expect("a known cache type");
    }
    let load = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let probe = model.step_weights_probe(); // places the weights (the first generation's work otherwise)
    let place = started.elapsed().as_secs_f64();
    let params = *model.params();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    println!(
        "{name}: load {load:.2} s, weights placed in {place:.2} s, {threads} threads, on {}",
        model.device()
    );
    println!("  ggml CPU variant: {}", ggml_sys::cpu_variant());
    let mut step_times = Vec::new(); // (seconds of audio, position, ms per step, the probes beside)
    let mut every_step_tables = Vec::new(); // (seconds of audio, [(position, probe before, ms)])
    let lengths: Vec<usize> = std::env::var("LOFI_BENCH_SECONDS")
        .ok()
        .map(|list| list.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 30]);
    if std::env::var("LOFI_BENCH_ONLY").is_ok_and(|only| only == "encodec") {
        encodec_alone(&mut model, &lengths);
        return;
    }
    for seconds in lengths {
        let frames = seconds * params.frame_rate as usize;
        reset_peak_rss();
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
        // Each window of steps has the weights' read bandwidth and the threads' round trip measured
        // just before and after it (this VM's moved by half within minutes): before the step ahead
        // of the window, so that step, not the window's first, meets the caches the reads left.
        let windows: Vec<usize> = STEP_POSITIONS
            .into_iter()
            .filter(|p| *p < steps)
            .map(|p| p.max(5).min(steps - STEP_WINDOW))
            .collect();
        let every_step = std::env::var("LOFI_BENCH_EVERY_STEP").is_ok();
        let mut probes: Vec<Option<Probe>> = vec![None; steps + 1]; // [s]: between steps s and s + 1
        let mut probing = 0.0; // seconds, taken off the LM's
        let t = Instant::now();
        // When each step started and ended ([0]: unused).
        let (mut step_started, mut step_done) = (vec![t; steps + 2], vec![t; steps + 1]);
        run.generate(0, frames, &sampling, |step, _| {
            step_done[step] = Instant::now();
            if every_step
                || windows
                    .iter()
                    .any(|from| step + 1 == *from || step == from + STEP_WINDOW)
            {
                probes[step] = Some(Probe {
                    bandwidth: probe.as_ref().map_or(f64::NAN, |p| p.read_bandwidth(threads)),
                    round_trip_ns: round_trip_ns(),
                });
                probing += step_done[step].elapsed().as_secs_f64();
            }
            step_started[step + 1] = Instant::now();
            true
        })
        .unwrap();
        let lm = t.elapsed().as_secs_f64() - probing;
        let t = Instant::now();
        let audio = run.decode_audio(0).unwrap();
        let codec = t.elapsed().as_secs_f64();
        let total = t5 + lm + codec;
        let whole_rss = peak_rss_mb();
        println!(
            "  {seconds:>2} s audio: total {total:6.1} s ({:.2}x real time) = T5 {t5:.3} s + LM {lm:6.1} s ({:.1} ms/step) + EnCodec {codec:5.1} s; {} samples",
            total / seconds as f64,
            lm * 1000.0 / steps as f64,
            audio.len()
        );
        let step_ms = |step: usize| (step_done[step] - step_started[step]).as_secs_f64() * 1000.0;
        for from in windows {
            let ms = (from + 1..=from + STEP_WINDOW).map(step_ms).sum::<f64>() / STEP_WINDOW as f64;
            let (before, after) = (probes[from - 1].unwrap(), probes[from + STEP_WINDOW].unwrap());
            let beside = Probe {
                bandwidth: (before.bandwidth + after.bandwidth) / 2.0,
                round_trip_ns: (before.round_trip_ns + after.round_trip_ns) / 2.0,
            };
            step_times.push((seconds, from + STEP_WINDOW / 2, ms, beside));
        }
        if every_step {
            let probed: Vec<_> = (5..=steps)
                .filter_map(|s| probes[s - 1].map(|probe| (s, probe, step_ms(s))))
                .collect();
            every_step_tables.push((seconds, probed));
        }
        drop(run);
        reset_peak_rss();
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
        println!(
            "  {seconds:>2} s peak RSS: {whole_rss:.0} MB generated then decoded (as `lofi-daemon generate`), {:.0} MB streamed (as a track asked to play)",
            peak_rss_mb()
        );
    }
    // After the RSS is read: the bandwidth test's buffer would be counted in it.
    // Read as the step reads its weights and caches (2 MB pages, wide loads): ggml_sys's.
    let bandwidth = ggml_sys::read_bandwidth(threads);
    let weight_bytes = model.step_weight_bytes();
    // Self-attention reads every cached position's keys and values, for both guidance branches.
    let kv_bytes_per_position = model.kv_bytes_per_position() as f64;
    println!(
        "  decoder step against the memory floor: a step reads {:.0} MB of weights + {:.1} kB of {} cache per position; read bandwidth ({threads} threads) over 1 GiB now {:.1} GB/s, and of the weights themselves beside each window (the floor's):",
        weight_bytes as f64 / 1e6,
        kv_bytes_per_position / 1e3,
        model.kv_cache(),
        bandwidth / 1e9
    );
    let floor_ms = |position: usize, bandwidth: f64| {
        (weight_bytes as f64 + kv_bytes_per_position * position as f64) / bandwidth * 1000.0
    };
    for (seconds, position, ms, beside) in step_times {
        let window = if beside.bandwidth > 0.0 {
            beside.bandwidth
        } else {
            bandwidth
        }; // not on the CPU: the 1 GiB read's
        let floor = floor_ms(position, window);
        println!(
            "    {seconds:>2} s track, position {position:>4}: {ms:5.1} ms/step, floor {floor:4.1} ms ({:.1} GB/s): {:.2}x the floor ({:.2}x the 1 GiB read's); threads' round trip {:.0} ns",
            window / 1e9,
            ms / floor,
            ms / floor_ms(position, bandwidth),
            beside.round_trip_ns
        );
    }
    for (seconds, steps) in every_step_tables {
        every_step_table(seconds, &steps, floor_ms);
    }
}
