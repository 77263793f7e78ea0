//! Streaming: EnCodec decoding behind the decoder, across runs that continue each other, gives
//! the samples a whole decode of the same codes gives, and gives them before the run ends.
mod fixture;

use fixture::quantized_fixture;
use lofi_convert::FileType;
use musicgen::{Musicgen, RunError, Sampling};

fn model(dir: &std::path::Path) -> Musicgen {
    Musicgen::load(&quantized_fixture(dir, FileType::Q8_0), 1, "cpu").unwrap()
}

fn max_abs_err(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn streamed_audio_equals_the_whole_decode_and_arrives_while_the_decoder_runs() {
    let dir = tempfile::tempdir().unwrap();
    streamed_equals_whole_decode(model(dir.path()));
}

/// The stereo model streams both channels, interleaved, as its whole decode gives them.
#[test]
fn a_stereo_stream_carries_both_channels() {
    let m = Musicgen::load(&fixture::stereo_dir().join("model-f16.gguf"), 1, "cpu").unwrap();
    assert_eq!(m.params().channels, 2);
    let samples = streamed_equals_whole_decode(m);
    let left: Vec<f32> = samples.iter().step_by(2).copied().collect();
    let right: Vec<f32> = samples.iter().skip(1).step_by(2).copied().collect();
    assert!(
        max_abs_err(&left, &right) > 1e-3,
        "left and right are two channels, not one twice"
    );
}

/// Two runs streamed (the second continuing the first), checked against a whole decode of
/// the same codes; returns the samples.
fn streamed_equals_whole_decode(mut m: Musicgen) -> Vec<f32> {
    let sampling = Sampling {
        seed: 3,
        ..m.default_sampling()
    };
    let hop = m.params().hop_length;
    let channels = m.params().channels;
    let levels = m.params().codebooks / channels;
    let ids = m.tokenize("rainy night, warm keys").unwrap();
    let mut run = m.run();
    run.encode_text(&ids).unwrap();
    let mut streamed = Vec::new();
    // (decoder step, samples so far) at each delivery.
    let mut deliveries: Vec<(usize, usize)> = Vec::new();
    let step_seen = std::cell::Cell::new(0);
    run.generate_streaming(
        0,
        120,
        &sampling,
        |step, _| {
            step_seen.set(step);
            true
        },
        |chunk| {
            streamed.extend_from_slice(chunk);
            deliveries.push((step_seen.get(), streamed.len()));
        },
    )
    .unwrap();
    // A second run continues the last 30 frames: the stream goes on from where it was.
    run.generate_streaming(
        30,
        70,
        &sampling,
        |_, _| true,
        |chunk| streamed.extend_from_slice(chunk),
    )
    .unwrap();
    run.finish_stream(|chunk| streamed.extend_from_slice(chunk)).unwrap();
    assert_eq!(run.frames(), 190);
    let whole = run.decode_audio(0).unwrap().to_vec();
    assert_eq!(streamed.len(), 190 * hop * channels);
    let err = max_abs_err(&streamed, &whole);
    assert!(err <= 1e-5, "streamed audio differs from the whole decode by {err}");
    // The first second came out while the decoder still had most of its steps to go.
    let steps = 120 + levels - 1;
    let (first_step, first_len) = deliveries[0];
    assert!(
        first_len >= 40 * hop * channels && first_step < 60,
        "first audio at step {first_step} of {steps}"
    );
    assert!(deliveries.len() >= 2);
    streamed
}

#[test]
fn a_stream_set_aside_goes_on_and_keeps_only_what_it_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(dir.path());
    let sampling = Sampling {
        seed: 4,
        ..m.default_sampling()
    };
    let ids = m.tokenize("lofi").unwrap();
    // Reference: one run of the same windows without setting anything aside.
    let reference = {
        let mut run = m.run();
        run.encode_text(&ids).unwrap();
        let mut audio = Vec::new();
        run.generate_streaming(0, 60, &sampling, |_, _| true, |c| audio.extend_from_slice(c))
            .unwrap();
        run.generate_streaming(20, 40, &sampling, |_, _| true, |c| audio.extend_from_slice(c))
            .unwrap();
        run.finish_stream(|c| audio.extend_from_slice(c)).unwrap();
        audio
    };
    let mut audio = Vec::new();
    let mut run = m.run();
    run.encode_text(&ids).unwrap();
    run.generate_streaming(0, 60, &sampling, |_, _| true, |c| audio.extend_from_slice(c))
        .unwrap();
    run.keep_last(20);
    assert_eq!(run.frames(), 20);
    let state = run.into_state();
    let mut run = m.resume(state);
    run.generate_streaming(20, 40, &sampling, |_, _| true, |c| audio.extend_from_slice(c))
        .unwrap();
    run.finish_stream(|c| audio.extend_from_slice(c)).unwrap();
    assert_eq!(audio.len(), reference.len());
    assert!(max_abs_err(&audio, &reference) <= 1e-5);
}

#[test]
fn a_cancelled_stream_ends_and_finishing_it_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(dir.path());
    let sampling = m.default_sampling();
    let ids = m.tokenize("lofi").unwrap();
    let mut run = m.run();
    run.encode_text(&ids).unwrap();
    let mut got = 0;
    let result = run.generate_streaming(0, 200, &sampling, |step, _| step < 100, |c| got += c.len());
    assert_eq!(result, Err(RunError::Cancelled));
    assert!(got > 0, "audio streamed before the cancel");
    assert_eq!(run.frames(), 0, "a cancelled run adds no codes");
    let err = run.finish_stream(|_| {}).unwrap_err();
    assert_eq!(err.to_string(), "no stream to finish: no run streamed its audio");
}

#[test]
fn a_radio_goes_on_window_after_window_and_a_new_prompt_steers_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(dir.path());
    let sampling = Sampling {
        seed: 11,
        ..m.default_sampling()
    };
    let hop = m.params().hop_length;
    let window = m.params().max_frames.min(30 * 50);
    let context = (10 * 50).min(window / 3);
    let mut radio = musicgen::Radio::new();
    let mut audio = Vec::new();
    for prompt in ["rain", "rain", "sunny jazz"] {
        radio
            .next_window(&mut m, prompt, &sampling, |_, _| true, |c| audio.extend_from_slice(c))
            .unwrap();
    }
    assert_eq!(radio.windows(), 3);
    // Every window adds its new frames; the stream holds back the last few until it ends.
    let frames = window + 2 * (window - context);
    assert!(audio.len() <= frames * hop && audio.len() >= (frames - 5) * hop);
    // The joins are inside one EnCodec stream: no jump larger than the audio's own.
    let jumps: Vec<f32> = audio.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let at_join = jumps[window * hop - 1];
    let typical = jumps.iter().copied().fold(0.0f32, f32::max);
    assert!(at_join <= typical, "join jump {at_join} vs the largest {typical}");

    // The same windows with the prompt changed only for the third: the first two are equal, the
    // third differs (the text conditions the continuation).
    let mut again = musicgen::Radio::new();
    let mut steady = Vec::new();
    for prompt in ["rain", "rain", "rain"] {
        again
            .next_window(&mut m, prompt, &sampling, |_, _| true, |c| steady.extend_from_slice(c))
            .unwrap();
    }
    let two = (window + (window - context) - 5) * hop;
    assert_eq!(max_abs_err(&audio[..two], &steady[..two]), 0.0);
    assert_eq!(audio.len(), steady.len());
    assert!(max_abs_err(&audio[two..], &steady[two..]) > 0.0);
}

/// A track past the model's context (windows continuing each other) streamed: the pieces, in
/// order, are the track a plain generation returns (within float rounding: the stream decodes
/// in other chunks), and the first arrives long before the end.
#[test]
fn a_track_streamed_window_by_window_is_the_track() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = model(dir.path());
    let frames = m.params().max_frames * 3 / 2;
    let sampling = Sampling {
        seed: 9,
        ..m.default_sampling()
    };
    let whole = m
        .generate_track("dusty tape", frames, &sampling, |_, _| true, None)
        .unwrap();
    let mut pieces: Vec<(usize, Vec<f32>)> = Vec::new();
    let step = std::cell::Cell::new(0);
    let mut sink = |piece: &[f32]| pieces.push((step.get(), piece.to_vec()));
    let streamed = m
        .generate_track(
            "dusty tape",
            frames,
            &sampling,
            |s, _| {
                step.set(s);
                true
            },
            Some(&mut sink),
        )
        .unwrap();
    let err = max_abs_err(&streamed.samples, &whole.samples);
    assert!(err <= 1e-5, "streaming changes the track by {err}");
    let joined: Vec<f32> = pieces.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    assert!(joined == streamed.samples, "the pieces are the track, in order");
    assert!(
        pieces.len() > 3 && pieces[0].0 < whole.steps / 4,
        "first piece at step {}",
        pieces[0].0
    );
}
