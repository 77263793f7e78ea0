//! Headless CLI: generate to a file with provenance tags, analyze, clear errors, reports into a
//! closed pipe.

mod common;

use common::tempdir;

fn run(args: &[&str]) -> std::process::Output {
    common::daemon_command().args(args).output().unwrap()
}

#[test]
fn generate_writes_a_tagged_wav_and_analyze_reads_it() {
    let dir = tempdir();
    let out = dir.path().join("beat.wav");
    let out_s = out.to_str().unwrap();
    let result = run(&[
        "generate",
        "jazzy lofi, 84 bpm, rain",
        "--duration",
        "20",
        "--seed",
        "7",
        "--out",
        out_s,
    ]);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let reader = hound::WavReader::open(&out).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.sample_rate, spec.channels, spec.bits_per_sample), (32000, 2, 16));
    assert_eq!(reader.duration(), 20 * 32000);
    let tags = lofi_daemon::audio_file::tags::read(&out).expect("provenance tags");
    assert_eq!(tags.prompt, "jazzy lofi, 84 bpm, rain");
    assert_eq!(tags.seed, 7);
    assert_eq!(
        (tags.backend.as_str(), tags.model_version.as_str()),
        ("procedural", lofi_daemon::backend::procedural::MODEL_VERSION)
    );

    let analysis = run(&["analyze", out_s]);
    assert!(analysis.status.success());
    let text = String::from_utf8_lossy(&analysis.stdout);
    assert!(text.contains("duration:    20.00 s (32000 Hz)"), "{text}");
    let field = |name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in {text}"));
        line.split_once(':')
            .unwrap()
            .1
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!((field("loudness:") + 14.0).abs() <= 2.0, "{text}");
    assert!(field("true peak:") <= -1.0 + 0.05, "{text}");
    assert!((field("tempo:") - 84.0).abs() <= 2.0, "{text}");
    assert!(text.contains("seed:        7"), "{text}");
    assert!(text.contains('█'), "waveform drawn: {text}");
    // The stereo line: "stereo:      width 0.06 (side/mid energy), correlation +0.89, mono sum -0.3 dB …".
    let stereo = text.lines().find(|l| l.starts_with("stereo:")).expect("a stereo line");
    let number_after = |word: &str| -> f64 {
        let rest = stereo
            .split_once(word)
            .unwrap_or_else(|| panic!("{word} in {stereo}"))
            .1;
        rest.split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches(',')
            .parse()
            .unwrap()
    };
    assert!(number_after("width ") > 0.02, "{stereo}");
    assert!(number_after("correlation ") > 0.5, "{stereo}");
    assert!(number_after("mono sum ") >= -1.0, "{stereo}");
    assert!(text.contains(" cents RMS on held notes"), "{text}");
}

#[test]
fn clear_one_line_errors() {
    let dir = tempdir();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["generate".into(), "--duration".into(), "0".into()],
            "--duration must be between",
        ),
        (
            vec![
                "generate".into(),
                "--out".into(),
                dir.path().join("x.ogg").display().to_string(),
            ],
            "must end in .wav or .mp3",
        ),
        (
            vec!["generate".into(), "--out".into(), "/nonexistent/dir/x.wav".into()],
            "cannot write /nonexistent/dir/x.wav",
        ),
        (
            vec!["analyze".into(), "/nonexistent.wav".into()],
            "not a readable WAV file",
        ),
        (vec!["analyze".into(), "Cargo.toml".into()], "not a readable WAV file"),
    ];
    for (args, expected) in cases {
        let out = common::daemon_command().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    // MP3 through lame carries the same tags.
    if common::lame_or_skip() {
        let mp3 = dir.path().join("beat.mp3");
        let out = common::daemon_command()
            .args(["generate", "mp3 test", "--duration", "3", "--seed", "3", "--out"])
            .arg(&mp3)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(lofi_daemon::audio_file::tags::read(&mp3).expect("ID3 tags").seed, 3);
    }
    // MP3 without lame says what to do.
    let out = common::daemon_command()
        .args(["generate", "--out", "x.mp3"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the lame encoder"));
}

/// The daemon's options before a command would be ignored by it: refused, naming them; the
/// logging options apply to every command.
#[test]
fn daemon_options_before_a_command_are_refused_not_ignored() {
    let dir = tempdir();
    let out = run(&[
        "--backend",
        "ggml",
        "--model",
        "/m.gguf",
        "generate",
        "x",
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the daemon's options --backend, --model do not apply to `generate`: put them after `generate`"),
        "{err}"
    );
    let wav = dir.path().join("x.wav");
    let out = run(&[
        "--log-level",
        "info",
        "generate",
        "x",
        "--duration",
        "1",
        "--out",
        wav.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(wav.is_file());
}

#[test]
fn render_samples_reproduces_the_committed_pack() {
    let dir = tempdir();
    let out = run(&["render-samples", dir.path().to_str().unwrap()]);
    assert!(out.status.success());
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/default");
    for sound in lofi_daemon::backend::procedural::kit::Sound::ALL {
        let name = sound.file_name();
        assert!(
            std::fs::read(dir.path().join(name)).unwrap() == std::fs::read(committed.join(name)).unwrap(),
            "{name} differs from samples/default"
        );
    }
}

#[test]
fn version_verbose_names_the_backends_and_the_ggml_build() {
    let out = run(&["--version", "--verbose"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("lofi-daemon "), "{text}");
    assert_eq!(lines[1], "backends: procedural ggml", "install.sh reads this line");
    assert_eq!(lines[2], "ggml 0.26.0");
    let variant = lines[3]
        .strip_prefix("ggml CPU variant: ")
        .expect("the CPU variant line");
    assert!(
        variant.starts_with("built in, for ") || variant.contains(", chosen at run time among "),
        "{text}"
    );
    assert!(lines[4].starts_with("ggml CPU features: "), "{text}");
    let kernels = lines[5]
        .strip_prefix("lofi CPU kernels (quantized products, attention, ELU, GELU): ")
        .expect("the CPU kernels line");
    assert!(
        ["avx512-vnni ", "avx-vnni ", "avx2 ", "neon-dotprod ", "portable "]
            .iter()
            .any(|level| kernels.starts_with(level)),
        "{text}"
    );
    let short = run(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&short.stdout).lines().count(), 1);
}

/// `generate --play` with MusicGen plays the track while it generates (from the moment the rest
/// will arrive in time, as a track asked to play does), and still writes the whole file.
#[test]
fn generate_play_streams_the_track_while_it_generates() {
    let dir = tempdir();
    let model = common::quantized_fixture(dir.path(), lofi_convert::FileType::Q8_0);
    let out = dir.path().join("streamed.wav");
    let result = common::daemon_command()
        .args([
            "generate",
            "night drive",
            "--duration",
            "4",
            "--seed",
            "5",
            "--play",
            "--audio-device",
            "none",
        ])
        .args(["--backend", "ggml", "--threads", "1", "--model"])
        .arg(&model)
        .arg("--out")
        .arg(&out)
        // Each decoder step 10 ms slower: ~2 s of generating for the 4 s track.
        .env("LOFI_DAEMON_TEST_HOOKS", "1")
        .env("LOFI_TEST_STEP_DELAY_MS", "10")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    assert!(stderr.contains("playing on none"), "{stderr}");
    assert!(
        stderr.contains("(as it generates)"),
        "started before the generation ended: {stderr}"
    );
    let wav = hound::WavReader::open(&out).unwrap();
    assert_eq!(wav.len(), 4 * 32_000);
}

/// Runs the daemon with `args`, its stdout a pipe already closed: each write fails with a broken pipe.
fn run_into_closed_pipe(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    common::daemon_command()
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap()
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    let dir = tempdir();
    let model = common::fixture_model();
    let quantized = dir.path().join("q8.gguf");
    let track = dir.path().join("beat.wav");
    let generated = run(&["generate", "lofi", "--duration", "2", "--out", track.to_str().unwrap()]);
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let commands: [Vec<&std::ffi::OsStr>; 6] = [
        vec!["describe".as_ref()],
        vec!["describe".as_ref(), "--lua".as_ref()],
        vec!["--version".as_ref(), "--verbose".as_ref()],
        vec!["--verify-model".as_ref(), model.as_os_str()],
        vec![
            "quantize".as_ref(),
            model.as_os_str(),
            quantized.as_os_str(),
            "q8_0".as_ref(),
        ],
        vec!["analyze".as_ref(), track.as_os_str()],
    ];
    for args in commands {
        let out = run_into_closed_pipe(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{args:?}: {:?}: {stderr}",
            out.status
        );
    }
    assert!(quantized.exists(), "quantize wrote its file before its report");
}

#[test]
fn node_times_name_every_kind_of_node() {
    let dir = tempdir();
    let model = common::quantized_fixture(dir.path(), lofi_convert::FileType::Q4KM);
    let generate = |times: bool| {
        let mut command = common::daemon_command();
        command
            .args([
                "generate",
                "x",
                "--duration",
                "1",
                "--backend",
                "ggml",
                "--threads",
                "1",
                "--model",
            ])
            .arg(&model)
            .arg("--out")
            .arg(dir.path().join("x.wav"));
        if times {
            command.env("LOFI_GGML_NODE_TIMES", "1");
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let stderr = generate(true);
    // "  total ms  count x  us each  share %  kind": the kind after the share.
    let kinds: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split_once(" %  ").map(|(_, kind)| kind))
        .collect();
    for ours in [
        "strip products",
        "strip product, residual",
        "strip product, gelu, quantize",
        "norm, quantize",
        "attend",
        "cache write",
        "lstm step",
        "tap sum",
        "elu",
    ] {
        assert!(
            kinds.iter().any(|k| k.starts_with(&format!("{ours} "))),
            "no {ours:?} in {stderr}"
        );
    }
    assert!(
        !kinds.iter().any(|k| k.starts_with("CUSTOM")),
        "a custom op without a name: {stderr}"
    );
    assert!(
        !generate(false).contains("GGML node times"),
        "the table only when asked"
    );
}
