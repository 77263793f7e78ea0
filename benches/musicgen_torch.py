#!/usr/bin/env python3
"""PyTorch baseline for benches/musicgen.rs: the same random musicgen-small-shaped model in
transformers, fp32, 2 threads. Times T5, decoder steps (classifier-free guidance batch of 2, KV
cache) over a sample of steps, and EnCodec on 10 s of codes; extrapolates to 10 s and 30 s.

    .venv-model/bin/python benches/musicgen_torch.py HF_DIR [--steps 40]
"""

import argparse
import time

import torch
from transformers import AutoTokenizer, MusicgenForConditionalGeneration


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
        tokens = torch.full((2 * books, 1), start, dtype=torch.long)
        out = model(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=tokens, use_cache=True)
        past = out.past_key_values
        t = time.perf_counter()
        for _ in range(args.steps):
            out = model(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=tokens, past_key_values=past, use_cache=True)
            past = out.past_key_values
        step = (time.perf_counter() - t) / args.steps
        codes = torch.randint(0, model.config.audio_encoder.codebook_size, (1, 1, books, 500))
        t = time.perf_counter()
        model.audio_encoder.decode(codes, [None])
        codec_per_sec = (time.perf_counter() - t) / 10
    print(f"pytorch fp32 ({args.threads} threads): T5 {t5:.3f} s, {step * 1000:.0f} ms/decoder step, EnCodec {codec_per_sec:.2f} s per s of audio")
    for seconds in (10, 30):
        steps = seconds * 50 + books - 1
        total = t5 + steps * step + seconds * codec_per_sec
        print(f"  {seconds:>2} s audio: total {total:6.1f} s ({total / seconds:.2f}x real time) (extrapolated from {args.steps} steps)")


if __name__ == "__main__":
    main()
