#!/usr/bin/env python3
"""Builds a tiny random MusicGen (T5 + decoder LM + EnCodec) with a tiny SentencePiece unigram
tokenizer, saves it in Hugging Face layout and dumps transformers' reference outputs.

    scripts/make_test_model.py                         # tests/fixtures/musicgen-tiny/{hf,reference.json}
    scripts/make_test_model.py --shape medium-shaped   # tests/fixtures/musicgen-medium-shaped/{hf,reference.json}
    scripts/make_test_model.py --shape stereo          # tests/fixtures/musicgen-stereo/{hf,reference.json}
    scripts/make_test_model.py --shape musicgen-small --out DIR   # real shapes, random weights (benchmarks)

Runs inside its own venv (.venv-model: torch, transformers, sentencepiece, protobuf, safetensors),
created on first use; torch from PyPI is large (about 5.7 GB with its CUDA wheels).
"""

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LOFI_MODEL_VENV", ROOT / ".venv-model"))
REQUIREMENTS = ["torch", "transformers>=5,<6", "sentencepiece", "protobuf", "safetensors", "numpy"]


def ensure_venv():
    """Re-executes this script inside the model venv, creating it first if needed."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"make_test_model: creating {VENV} (torch + transformers; several GB, a few minutes)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REQUIREMENTS], check=True)
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


# Text the tiny tokenizer is trained on: prompt-like phrases, so the fixture prompts split into
# several pieces and exercise the unigram search rather than whole-word lookups.
TRAINING_TEXT = """
lofi hip hop beat with warm piano chords and vinyl crackle
rainy night jazz, mellow rhodes, soft brushed drums, 80 bpm
chill study music with a dusty tape loop and a deep bass line
ambient synth pads, slow tempo, late night coding session
relaxing guitar melody over a laid back boom bap groove
cozy coffee shop vibes with soft keys and gentle rain sounds
nostalgic sampled strings, lo-fi hiss, head nodding drums
sunset chillhop with muted trumpet and a walking bass
deep focus beats: minimal, repetitive, calm and warm
Café au lait & crème brûlée – ＡＢＣ full-width text, tabs\tand   spaces
""".strip().splitlines()

PROMPTS = [
    "lofi hip hop, rainy night, 80 bpm",
    "Chill jazz piano with warm vinyl crackle",
    "ＡＢＣ café – deep focus beats!",
]

TINY = dict(
    text_encoder=dict(
        d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="relu", dropout_rate=0.0,
    ),
    # 256 wide so K-quants (rows of 256) are testable; ffn 256 too.
    decoder=dict(
        vocab_size=64, max_position_embeddings=512, num_hidden_layers=2, ffn_dim=256,
        num_attention_heads=4, hidden_size=256, num_codebooks=4, dropout=0.0,
    ),
    audio_encoder=dict(
        sampling_rate=32000, num_filters=4, hidden_size=16, codebook_size=64,
        upsampling_ratios=[8, 5, 4, 4], num_lstm_layers=2, use_causal_conv=False,
        use_conv_shortcut=False, target_bandwidths=[2.2], normalize=False,
    ),
    sp_vocab=300,
)

# Other proportions than the tiny model's (and than small's): musicgen-medium and -large change the
# width, the head count and the depth, so this one does too — head size 32 instead of 64, a
# feed-forward 3x the width instead of 4x, 3 layers, 6 heads, a wider T5 and EnCodec — and a
# model whose sizes were taken from anywhere but the GGUF would fail its parity test.
MEDIUM_SHAPED = dict(
    TINY,
    text_encoder=dict(TINY["text_encoder"], d_model=96, d_ff=160, num_layers=3, num_heads=6),
    decoder=dict(TINY["decoder"], num_hidden_layers=3, ffn_dim=576, num_attention_heads=6, hidden_size=192),
    audio_encoder=dict(TINY["audio_encoder"], num_filters=6, hidden_size=24),
)

MUSICGEN_SMALL = dict(
    text_encoder=dict(
        vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="relu",
    ),
    decoder=dict(
        vocab_size=2048, max_position_embeddings=2048, num_hidden_layers=24, ffn_dim=4096,
        num_attention_heads=16, hidden_size=1024, num_codebooks=4,
    ),
    audio_encoder=dict(
        sampling_rate=32000, num_filters=64, hidden_size=128, codebook_size=2048,
        upsampling_ratios=[8, 5, 4, 4], num_lstm_layers=2, use_causal_conv=False,
        use_conv_shortcut=False, target_bandwidths=[2.2], normalize=False,
    ),
    sp_vocab=300,
)


# musicgen-stereo-*: 8 codebooks, a left/right pair per level (interleaved: even codebooks left),
# each channel decoded by the same mono EnCodec.
STEREO = dict(TINY, decoder=dict(TINY["decoder"], num_codebooks=8, audio_channels=2))

SHAPES = {"tiny": TINY, "medium-shaped": MEDIUM_SHAPED, "stereo": STEREO, "musicgen-small": MUSICGEN_SMALL}


def train_tokenizer(vocab_size):
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(TRAINING_TEXT * 20),
        model_writer=model,
        model_type="unigram",
        vocab_size=vocab_size,
        character_coverage=1.0,
        # T5's ids: <pad>=0, </s>=1, <unk>=2, no <s>.
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def build_model(shape, text_vocab):
    import torch
    from transformers import EncodecConfig, MusicgenConfig, MusicgenDecoderConfig, MusicgenForConditionalGeneration, T5Config

    text = dict(shape["text_encoder"])
    decoder = dict(shape["decoder"])
    # MusicGen's pad / start token is one past the codebook (2048 in musicgen-small).
    decoder.update(pad_token_id=decoder["vocab_size"], bos_token_id=decoder["vocab_size"])
    text.setdefault("vocab_size", text_vocab)
    config = MusicgenConfig(
        text_encoder=T5Config(**text).to_dict(),
        audio_encoder=EncodecConfig(**shape["audio_encoder"]).to_dict(),
        decoder=MusicgenDecoderConfig(**decoder).to_dict(),
    )
    torch.manual_seed(1234)
    model = MusicgenForConditionalGeneration(config).eval()
    redraw_weights(model)
    start = decoder["vocab_size"]
    model.generation_config.update(
        do_sample=True, guidance_scale=3.0, top_k=250, max_length=1500,
        pad_token_id=start, bos_token_id=start, decoder_start_token_id=start,
    )
    return model


def redraw_weights(model):
    """Random init gives near-zero logits, unit norms and all-zero codebooks; re-draw so every
    path carries O(1) signal and parity checks mean something."""
    import torch

    generator = torch.Generator().manual_seed(4321)
    for name, param in model.named_parameters():
        if name.endswith("original0") or name.endswith("weight_g"):
            param.copy_(0.5 + torch.rand(param.shape, generator=generator))  # weight-norm gains
        elif "norm" in name and param.dim() == 1:
            base = 1.0 if name.endswith("weight") else 0.0
            param.copy_(base + 0.1 * torch.randn(param.shape, generator=generator))
        elif "embed_tokens" in name or name.endswith("shared.weight") or "relative_attention_bias" in name:
            param.copy_(torch.randn(param.shape, generator=generator))
        elif param.dim() >= 2:
            fan_in = param[0].numel()
            param.copy_(torch.randn(param.shape, generator=generator) / fan_in**0.5)
        else:
            param.copy_(0.1 * torch.randn(param.shape, generator=generator))
    for layer in model.audio_encoder.quantizer.layers:
        layer.codebook.embed.copy_(torch.randn(layer.codebook.embed.shape, generator=generator))
    # Round every weight to a float16 value: the checkpoint is saved as F16 (half the fixture size)
    # while transformers computes the references in float32 from exactly those values.
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            tensor.copy_(tensor.half().float())


def save_hf(model, spiece, out):
    from transformers import T5Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out)
    model.float()
    (out / "spiece.model").write_bytes(spiece)
    tokenizer = T5Tokenizer.from_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "spiece.model").write_bytes(spiece)  # keep the SentencePiece model next to tokenizer.json
    return tokenizer


def f32_list(tensor):
    return [float(x) for x in tensor.detach().float().reshape(-1).tolist()]


def references(model, tokenizer):
    import torch

    k = model.decoder.num_codebooks
    pad = model.generation_config.decoder_start_token_id
    out = {"prompts": [], "guidance_scale": 3.0, "greedy_steps": 32, "num_codebooks": k}
    for prompt in PROMPTS:
        enc = tokenizer(prompt, return_tensors="pt")
        ids, mask = enc.input_ids, enc.attention_mask
        hidden = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state

        # First decoding step with classifier-free guidance: batch of (cond, null).
        states = torch.cat([hidden, torch.zeros_like(hidden)])
        masks = torch.cat([mask, torch.zeros_like(mask)])
        start = torch.full((2 * k, 1), pad, dtype=torch.long)
        logits = model(encoder_outputs=(states,), attention_mask=masks, decoder_input_ids=start).logits
        cond, uncond = logits[:k, -1], logits[k:, -1]
        cfg = uncond + (cond - uncond) * out["guidance_scale"]

        captured = []  # one call per channel: left, then right
        decode = model.audio_encoder.decode

        def capture(audio_codes, *args, **kwargs):
            captured.append(audio_codes[0, 0])
            return decode(audio_codes, *args, **kwargs)

        model.audio_encoder.decode = capture
        model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False, guidance_scale=out["guidance_scale"],
            max_new_tokens=out["greedy_steps"], top_k=250,
        )
        model.audio_encoder.decode = decode
        codes = interleave(captured)  # [codebooks, frames]

        out["prompts"].append({
            "text": prompt,
            "token_ids": ids[0].tolist(),
            "t5_hidden_shape": list(hidden.shape[1:]),
            "t5_hidden": f32_list(hidden[0]),
            "cfg_logits_shape": list(cfg.shape),
            "cfg_logits": f32_list(cfg),
            "greedy_codes": codes.tolist(),
        })

    generator = torch.Generator().manual_seed(99)
    frames = 20
    channels = model.decoder.config.audio_channels
    codes = torch.randint(0, model.config.audio_encoder.codebook_size, (1, 1, k, frames), generator=generator)
    # Each channel's codebooks through EnCodec; the samples interleaved (left, right, ...).
    audio = torch.stack(
        [model.audio_encoder.decode(codes[:, :, c::channels], [None]).audio_values[0, 0] for c in range(channels)], dim=-1
    )
    out["encodec"] = {"codes": codes[0, 0].tolist(), "audio": f32_list(audio), "channels": channels}
    return out


def interleave(per_channel):
    """[codebooks, frames] per channel -> [codebooks x channels, frames], channel c at c::channels."""
    import torch

    return torch.stack(per_channel, dim=1).reshape(-1, per_channel[0].shape[-1])


def main():
    ensure_venv()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="tiny")
    parser.add_argument("--out", type=Path, help="output directory (default: tests/fixtures/musicgen-<shape>)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    shape = SHAPES[args.shape]
    fixture = args.shape != "musicgen-small"  # a test fixture: HF files under hf/, references
    out = args.out or ROOT / "tests" / "fixtures" / f"musicgen-{args.shape}"
    spiece = train_tokenizer(shape["sp_vocab"])
    hf_dir = out / "hf" if fixture else out
    # The text vocabulary is the SentencePiece vocabulary rounded up, as T5's 32128 is.
    text_vocab = (shape["sp_vocab"] + 127) // 128 * 128
    with torch.no_grad():
        model = build_model(shape, text_vocab)
        tokenizer = save_hf(model, spiece, hf_dir)
        ref = references(model, tokenizer) if fixture else None
    if ref is not None:
        (out / "reference.json").write_text(json.dumps(ref, separators=(",", ":")) + "\n")
    print(f"make_test_model: wrote {out}")


if __name__ == "__main__":
    main()
