#!/usr/bin/env python3
"""PyTorch baseline for benches/musicgen.rs: the same random musicgen-small-shaped model in
transformers, fp32, 2 threads. Times T5, decoder steps (classifier-free guidance batch of 2, KV
cache) and EnCodec on 10 s of codes, and adds them up for 10 s and 30 s of audio.

A step's time grows with the cache it attends over, so steps are timed in samples of --steps at
several cache lengths (the cache filled by one forward pass over random tokens first) and the
step time is integrated piecewise linearly over the track's positions.

    .venv-model/bin/python benches/musicgen_torch.py HF_DIR [--steps 40]
"""

import argparse
import time

import torch
from transformers import AutoTokenizer, MusicgenForConditionalGeneration


POSITIONS = (0, 500, 1500)  # cache lengths at which steps are timed


def time_steps(model, states, mask, books, start, position, steps):
    """Seconds per decoder step with `position` entries already in the cache."""
    first = torch.full((2 * books, 1), start, dtype=torch.long)
    if position > 0:
        filler = torch.randint(0, model.decoder.config.vocab_size - 1, (2 * books, position))
        first = torch.cat([first, filler], dim=1)[:, :position]
    out = model(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=first, use_cache=True)
    past = out.past_key_values
    token = first[:, -1:]
    t = time.perf_counter()
    for _ in range(steps):
        out = model(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=token, past_key_values=past, use_cache=True)
        past = out.past_key_values
    return (time.perf_counter() - t) / steps


def integrate_ms(step_ms, steps):
    """Total ms of `steps` steps, the per-step time linear between the timed cache lengths."""
    points = sorted(step_ms.items())
    total = 0.0
    for (p0, t0), (p1, t1) in zip(points, points[1:]):
        lo, hi = p0, min(p1, steps)
        if hi <= lo:
            break
        slope = (t1 - t0) / (p1 - p0)
        total += (hi - lo) * (t0 + slope * ((lo + hi) / 2 - p0))
    last_p, last_t = points[-1]
    if steps > last_p:  # beyond the last timed length: the last slope continues
        (p0, t0), (p1, t1) = points[-2], points[-1]
        slope = (t1 - t0) / (p1 - p0)
        total += (steps - last_p) * (last_t + slope * (steps - last_p) / 2)
    return total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--steps", type=int, default=40, help="decoder steps to time")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = MusicgenForConditionalGeneration.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    books = model.decoder.num_codebooks
    start = model.generation_config.decoder_start_token_id
    with torch.no_grad():
        enc = tokenizer("lofi hip hop, rainy night, mellow piano, 80 bpm", return_tensors="pt")
        t = time.perf_counter()
        hidden = model.text_encoder(**enc).last_hidden_state
        t5 = time.perf_counter() - t
        states = torch.cat([hidden, torch.zeros_like(hidden)])
        mask = torch.cat([enc.attention_mask, torch.zeros_like(enc.attention_mask)])
        step_ms = {}
        for position in POSITIONS:
            step_ms[position] = time_steps(model, states, mask, books, start, position, args.steps) * 1000
        codes = torch.randint(0, model.config.audio_encoder.codebook_size, (1, 1, books, 500))
        t = time.perf_counter()
        model.audio_encoder.decode(codes, [None])
        codec_per_sec = (time.perf_counter() - t) / 10
    at = ", ".join(f"{ms:.0f} at {position}" for position, ms in step_ms.items())
    print(f"pytorch fp32 ({args.threads} threads): T5 {t5:.3f} s, ms/decoder step by cache length: {at}; EnCodec {codec_per_sec:.2f} s per s of audio")
    for seconds in (10, 30):
        steps = seconds * 50 + books - 1
        lm = integrate_ms(step_ms, steps) / 1000
        total = t5 + lm + seconds * codec_per_sec
        print(f"  {seconds:>2} s audio: total {total:6.1f} s ({total / seconds:.2f}x real time) = LM {lm:.1f} s ({lm * 1000 / steps:.0f} ms/step) + EnCodec {seconds * codec_per_sec:.1f} s")


if __name__ == "__main__":
    main()
