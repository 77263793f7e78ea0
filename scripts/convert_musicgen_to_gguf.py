#!/usr/bin/env python3
"""Converts a Hugging Face MusicGen checkpoint into one GGUF file for lofi-daemon's ggml backend.

    scripts/convert_musicgen_to_gguf.py DIR --out musicgen-small-q4_k_m.gguf --outtype q4_k_m
    scripts/convert_musicgen_to_gguf.py --hf-id facebook/musicgen-small --out model.gguf

DIR is a local copy of a MusicGen repository (config.json, model.safetensors or
pytorch_model.bin, spiece.model). The key namespace and tensor names are documented in
doc/musicgen-gguf.md. Quantized outputs (q8_0, q5_k_m, q4_k_m) are written as F32 first and
handed to lofi-quantize (GGML's own quantize functions).

Needs numpy, safetensors, gguf, sentencepiece and protobuf (`pip install -r scripts/requirements-convert.txt`);
torch only for pytorch_model.bin checkpoints.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUTTYPES = ["f32", "f16", "q8_0", "q5_k_m", "q4_k_m"]


class ConvertError(Exception):
    """A problem with the input, reported as one line."""


# --- checkpoint --------------------------------------------------------------------------------


def load_checkpoint(model_dir):
    safetensors_files = sorted(model_dir.glob("model*.safetensors"))
    if safetensors_files:
        from safetensors.numpy import load_file

        tensors = {}
        for path in safetensors_files:
            tensors.update(load_file(path))
        return tensors
    bin_path = model_dir / "pytorch_model.bin"
    if bin_path.exists():
        try:
            import torch
        except ImportError as err:
            raise ConvertError(f"{bin_path} needs torch to read (pip install torch), or use a safetensors checkpoint") from err
        state = torch.load(bin_path, map_location="cpu", weights_only=True)
        return {name: value.float().numpy() for name, value in state.items()}
    raise ConvertError(f"{model_dir} has no model.safetensors or pytorch_model.bin")


def fold_weight_norm(tensors):
    """weight = g * v / ||v||, the norm over every axis but 0 (weight_norm's dim=0). For
    ConvTranspose1d ([in, out, k]) axis 0 is the input channel, exactly as torch folds it."""
    pairs = [
        (r"(.*)\.weight_g$", r"\1.weight_v", r"\1.weight"),
        (r"(.*)\.parametrizations\.weight\.original0$", r"\1.parametrizations.weight.original1", r"\1.weight"),
    ]
    folded = dict(tensors)
    for name in list(tensors):
        for g_pattern, v_name, out_name in pairs:
            match = re.match(g_pattern, name)
            if not match:
                continue
            g = tensors[name].astype(np.float32)
            v = tensors[match.expand(v_name)].astype(np.float32)
            axes = tuple(range(1, v.ndim))
            norm = np.sqrt(np.sum(v * v, axis=axes, keepdims=True))
            folded[match.expand(out_name)] = (g * (v / norm)).astype(np.float32)
            del folded[name], folded[match.expand(v_name)]
    return folded


# --- names -------------------------------------------------------------------------------------

T5_LAYER = {
    "layer.0.SelfAttention.q.weight": "attn_q.weight",
    "layer.0.SelfAttention.k.weight": "attn_k.weight",
    "layer.0.SelfAttention.v.weight": "attn_v.weight",
    "layer.0.SelfAttention.o.weight": "attn_o.weight",
    "layer.0.SelfAttention.relative_attention_bias.weight": "attn_rel_b.weight",
    "layer.0.layer_norm.weight": "attn_norm.weight",
    "layer.1.DenseReluDense.wi.weight": "ffn_up.weight",
    "layer.1.DenseReluDense.wi_0.weight": "ffn_gate.weight",
    "layer.1.DenseReluDense.wi_1.weight": "ffn_up.weight",
    "layer.1.DenseReluDense.wo.weight": "ffn_down.weight",
    "layer.1.layer_norm.weight": "ffn_norm.weight",
}
DECODER_LAYER = {
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.out_proj.weight": "attn_o.weight",
    "self_attn_layer_norm.weight": "attn_norm.weight",
    "self_attn_layer_norm.bias": "attn_norm.bias",
    "encoder_attn.q_proj.weight": "cross_attn_q.weight",
    "encoder_attn.k_proj.weight": "cross_attn_k.weight",
    "encoder_attn.v_proj.weight": "cross_attn_v.weight",
    "encoder_attn.out_proj.weight": "cross_attn_o.weight",
    "encoder_attn_layer_norm.weight": "cross_attn_norm.weight",
    "encoder_attn_layer_norm.bias": "cross_attn_norm.bias",
    "fc1.weight": "ffn_up.weight",
    "fc2.weight": "ffn_down.weight",
    "final_layer_norm.weight": "ffn_norm.weight",
    "final_layer_norm.bias": "ffn_norm.bias",
}


def gguf_name(name, codebooks):
    """HF tensor name -> GGUF name, or None for tensors the engine does not use (EnCodec's
    encoder, unused codebooks, k-means statistics)."""
    if name in ("text_encoder.shared.weight", "text_encoder.encoder.embed_tokens.weight"):
        return "t5.token_embd.weight"
    if name == "text_encoder.encoder.final_layer_norm.weight":
        return "t5.output_norm.weight"
    if match := re.fullmatch(r"text_encoder\.encoder\.block\.(\d+)\.(.+)", name):
        suffix = T5_LAYER.get(match[2])
        return suffix and f"t5.blk.{match[1]}.{suffix}"
    if name.startswith("enc_to_dec_proj."):
        return "proj." + name.split(".", 1)[1]
    if match := re.fullmatch(r"decoder\.model\.decoder\.embed_tokens\.(\d+)\.weight", name):
        return f"dec.tok_embd.{match[1]}.weight"
    if match := re.fullmatch(r"decoder\.model\.decoder\.layers\.(\d+)\.(.+)", name):
        suffix = DECODER_LAYER.get(match[2])
        return suffix and f"dec.blk.{match[1]}.{suffix}"
    if match := re.fullmatch(r"decoder\.model\.decoder\.layer_norm\.(weight|bias)", name):
        return f"dec.output_norm.{match[1]}"
    if match := re.fullmatch(r"decoder\.lm_heads\.(\d+)\.weight", name):
        return f"dec.output.{match[1]}.weight"
    if match := re.fullmatch(r"audio_encoder\.quantizer\.layers\.(\d+)\.codebook\.embed", name):
        return f"codec.vq.{match[1]}.embd" if int(match[1]) < codebooks else None
    if match := re.fullmatch(r"audio_encoder\.decoder\.layers\.(\d+)\.(.+)", name):
        # Drop the EncodecConv1d / EncodecConvTranspose1d wrapper level: "...3.conv.weight" -> "codec.dec.3.weight".
        return f"codec.dec.{match[1]}." + match[2].replace("conv.", "")
    return None


def output_type(gguf_tensor, array, outtype):
    """F16 for the transformer matrices; F32 for vectors, positional biases and the codec (its
    convolutions lose parity in F16, and it is a small share of the model)."""
    if outtype == "f16" and array.ndim == 2 and not gguf_tensor.startswith("codec.") and "attn_rel_b" not in gguf_tensor:
        return np.float16
    return np.float32


# --- hyperparameters ---------------------------------------------------------------------------


def read_config(model_dir):
    config_path = model_dir / "config.json"
    if not config_path.exists():
        raise ConvertError(f"{model_dir} is not a Hugging Face model directory (no config.json)")
    config = json.loads(config_path.read_text())
    if config.get("model_type") != "musicgen":
        raise ConvertError(f"{config_path} describes model_type {config.get('model_type')!r}, not a MusicGen model (\"musicgen\")")
    for part in ("text_encoder", "decoder", "audio_encoder"):
        if part not in config:
            raise ConvertError(f"{config_path} has no {part!r} section")
    generation_path = model_dir / "generation_config.json"
    generation = json.loads(generation_path.read_text()) if generation_path.exists() else {}
    return config, generation


def codebook_levels(dec):
    """Codebooks per audio channel: a stereo model's 8 are 4 levels, each a left/right pair
    (interleaved, left first), each channel decoded by the same mono EnCodec."""
    channels = dec.get("audio_channels", 1)
    if channels not in (1, 2) or dec["num_codebooks"] % channels:
        raise ConvertError(f"{channels} audio channels over {dec['num_codebooks']} codebooks is not a MusicGen layout")
    return dec["num_codebooks"] // channels


def add_hparams(writer, config, generation, name):
    t5, dec, codec = config["text_encoder"], config["decoder"], config["audio_encoder"]
    if t5.get("model_type") != "t5":
        raise ConvertError(f"text encoder is {t5.get('model_type')!r}; only T5 is supported")
    hop = int(np.prod(codec["upsampling_ratios"]))
    frame_rate = -(-codec["sampling_rate"] // hop)
    codebook_bits = int(np.ceil(np.log2(codec["codebook_size"])))
    num_quantizers = int(1000 * codec["target_bandwidths"][-1] // (frame_rate * codebook_bits))
    levels = codebook_levels(dec)
    if num_quantizers < levels:
        raise ConvertError(f"EnCodec has {num_quantizers} codebooks, the decoder needs {levels} per channel")
    ffp = t5.get("feed_forward_proj", "relu")

    writer.add_name(name)
    u32, f32, s, b = writer.add_uint32, writer.add_float32, writer.add_string, writer.add_bool
    u32("musicgen.sample_rate", codec["sampling_rate"])
    u32("musicgen.frame_rate", frame_rate)
    u32("musicgen.audio_channels", dec.get("audio_channels", 1))

    u32("musicgen.text_encoder.vocab_size", t5["vocab_size"])
    u32("musicgen.text_encoder.embedding_length", t5["d_model"])
    u32("musicgen.text_encoder.key_length", t5["d_kv"])
    u32("musicgen.text_encoder.feed_forward_length", t5["d_ff"])
    u32("musicgen.text_encoder.block_count", t5["num_layers"])
    u32("musicgen.text_encoder.head_count", t5["num_heads"])
    u32("musicgen.text_encoder.relative_buckets_count", t5.get("relative_attention_num_buckets", 32))
    u32("musicgen.text_encoder.relative_max_distance", t5.get("relative_attention_max_distance", 128))
    f32("musicgen.text_encoder.layer_norm_rms_epsilon", t5.get("layer_norm_epsilon", 1e-6))
    s("musicgen.text_encoder.feed_forward_proj", ffp)

    u32("musicgen.decoder.embedding_length", dec["hidden_size"])
    u32("musicgen.decoder.feed_forward_length", dec["ffn_dim"])
    u32("musicgen.decoder.block_count", dec["num_hidden_layers"])
    u32("musicgen.decoder.head_count", dec["num_attention_heads"])
    u32("musicgen.decoder.codebook_count", dec["num_codebooks"])
    u32("musicgen.decoder.codebook_size", dec["vocab_size"])
    u32("musicgen.decoder.context_length", dec["max_position_embeddings"])
    s("musicgen.decoder.activation", dec.get("activation_function", "gelu"))
    f32("musicgen.decoder.layer_norm_epsilon", 1e-5)  # nn.LayerNorm's default, which MusicGen uses
    b("musicgen.decoder.scale_embedding", bool(dec.get("scale_embedding", False)))
    u32("musicgen.decoder.pad_token_id", dec.get("pad_token_id", dec["vocab_size"]))
    u32("musicgen.decoder.start_token_id", generation.get("decoder_start_token_id", dec.get("bos_token_id", dec["vocab_size"])))

    u32("musicgen.codec.codebook_size", codec["codebook_size"])
    u32("musicgen.codec.codebook_dim", codec.get("codebook_dim") or codec["hidden_size"])
    u32("musicgen.codec.quantizer_count", levels)
    u32("musicgen.codec.hidden_size", codec["hidden_size"])
    u32("musicgen.codec.num_filters", codec["num_filters"])
    writer.add_array("musicgen.codec.upsampling_ratios", [int(r) for r in codec["upsampling_ratios"]])
    u32("musicgen.codec.residual_layer_count", codec["num_residual_layers"])
    u32("musicgen.codec.dilation_growth_rate", codec["dilation_growth_rate"])
    u32("musicgen.codec.kernel_size", codec["kernel_size"])
    u32("musicgen.codec.last_kernel_size", codec["last_kernel_size"])
    u32("musicgen.codec.residual_kernel_size", codec["residual_kernel_size"])
    u32("musicgen.codec.compress", codec["compress"])
    u32("musicgen.codec.lstm_layer_count", codec["num_lstm_layers"])
    b("musicgen.codec.use_conv_shortcut", bool(codec["use_conv_shortcut"]))
    b("musicgen.codec.use_causal_conv", bool(codec["use_causal_conv"]))
    s("musicgen.codec.pad_mode", codec.get("pad_mode", "reflect"))
    f32("musicgen.codec.trim_right_ratio", codec.get("trim_right_ratio", 1.0))

    # audiocraft's defaults where the checkpoint says nothing (transformers would silently use top_k 50).
    f32("musicgen.generation.guidance_scale", generation.get("guidance_scale", 3.0))
    u32("musicgen.generation.top_k", generation.get("top_k", 250))
    f32("musicgen.generation.top_p", generation.get("top_p", 0.0) if generation.get("top_p", 1.0) < 1.0 else 0.0)
    f32("musicgen.generation.temperature", generation.get("temperature", 1.0))
    u32("musicgen.generation.max_length", generation.get("max_length", 1500))


def add_tokenizer(writer, model_dir):
    import gguf
    from sentencepiece import SentencePieceProcessor
    from sentencepiece import sentencepiece_model_pb2

    spiece = model_dir / "spiece.model"
    if not spiece.exists():
        raise ConvertError(f"{model_dir} has no spiece.model (the T5 SentencePiece tokenizer)")
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(spiece.read_bytes())
    if proto.trainer_spec.model_type != sentencepiece_model_pb2.TrainerSpec.UNIGRAM:
        raise ConvertError(f"{spiece} is not a unigram SentencePiece model")
    sp = SentencePieceProcessor(model_file=str(spiece))
    tokens, scores, types = [], [], []
    for token_id in range(sp.vocab_size()):
        tokens.append(sp.id_to_piece(token_id).encode("utf-8"))
        scores.append(sp.get_score(token_id))
        if sp.is_unknown(token_id):
            types.append(gguf.TokenType.UNKNOWN)
        elif sp.is_control(token_id):
            types.append(gguf.TokenType.CONTROL)
        elif sp.is_unused(token_id):
            types.append(gguf.TokenType.UNUSED)
        elif sp.is_byte(token_id):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("t5")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_add_space_prefix(proto.normalizer_spec.add_dummy_prefix)
    writer.add_remove_extra_whitespaces(proto.normalizer_spec.remove_extra_whitespaces)
    writer.add_precompiled_charsmap(proto.normalizer_spec.precompiled_charsmap)
    writer.add_unk_token_id(sp.unk_id())
    writer.add_eos_token_id(sp.eos_id())
    writer.add_pad_token_id(max(sp.pad_id(), 0))
    writer.add_add_bos_token(False)
    writer.add_add_eos_token(True)


# --- conversion --------------------------------------------------------------------------------


def required_tensors(config):
    """Every GGUF tensor the engine needs, so a checkpoint missing one fails here, not at load."""
    t5, dec = config["text_encoder"], config["decoder"]
    names = ["t5.token_embd.weight", "t5.output_norm.weight", "t5.blk.0.attn_rel_b.weight", "proj.weight", "proj.bias"]
    gated = t5.get("feed_forward_proj", "relu").startswith("gated")
    for i in range(t5["num_layers"]):
        parts = ["attn_q", "attn_k", "attn_v", "attn_o", "attn_norm", "ffn_up", "ffn_down", "ffn_norm"]
        names += [f"t5.blk.{i}.{p}.weight" for p in parts + (["ffn_gate"] if gated else [])]
    for i in range(dec["num_hidden_layers"]):
        for p in ["attn", "cross_attn"]:
            names += [f"dec.blk.{i}.{p}_{x}.weight" for x in "qkvo"]
        for p in ["attn_norm", "cross_attn_norm", "ffn_norm"]:
            names += [f"dec.blk.{i}.{p}.weight", f"dec.blk.{i}.{p}.bias"]
        names += [f"dec.blk.{i}.ffn_up.weight", f"dec.blk.{i}.ffn_down.weight"]
    names += ["dec.output_norm.weight", "dec.output_norm.bias"]
    for k in range(dec["num_codebooks"]):
        names += [f"dec.tok_embd.{k}.weight", f"dec.output.{k}.weight"]
    names += [f"codec.vq.{q}.embd" for q in range(codebook_levels(dec))]
    names += ["codec.dec.0.weight", "codec.dec.0.bias"]
    return names


def card_license(model_dir):
    """The `license:` of a Hugging Face model card's front matter (README.md), if any."""
    card = model_dir / "README.md"
    if not card.is_file():
        return None
    lines = card.read_text(errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    for line in lines[1:]:
        if line.strip() == "---":
            break
        key, _, value = line.partition(":")
        if key.strip() == "license" and value.strip():
            return value.strip()
    return None


def convert(model_dir, out_path, outtype, name, source=None):
    import gguf

    config, generation = read_config(model_dir)
    writer = gguf.GGUFWriter(str(out_path), "musicgen")
    writer.add_file_type(gguf.LlamaFileType.ALL_F32 if outtype == "f32" else gguf.LlamaFileType.MOSTLY_F16)
    add_hparams(writer, config, generation, name)
    # Provenance, so --verify-model and the plugin can say whose weights these are.
    license = card_license(model_dir)
    if license:
        writer.add_string("general.license", license)
    if source:
        writer.add_string("general.source.huggingface.repository", source)
    levels = codebook_levels(config["decoder"])
    add_tokenizer(writer, model_dir)

    tensors = fold_weight_norm(load_checkpoint(model_dir))
    converted = {}
    for hf_name in sorted(tensors):
        target = gguf_name(hf_name, levels)
        if target is not None:
            converted[target] = tensors[hf_name]
    missing = [t for t in required_tensors(config) if t not in converted]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ConvertError(f"checkpoint lacks tensors {', '.join(missing[:5])}{more}")
    for target in sorted(converted):
        array = converted[target]
        writer.add_tensor(target, np.ascontiguousarray(array.astype(output_type(target, array, outtype))))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def find_quantizer():
    for candidate in (os.environ.get("LOFI_QUANTIZE"), ROOT / "target/release/lofi-quantize", ROOT / "target/debug/lofi-quantize"):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    found = shutil.which("lofi-quantize")
    if not found:
        raise ConvertError("quantized output needs lofi-quantize: run `cargo build --release -p lofi-convert` first")
    return found


def resolve_input(args):
    if args.hf_id:
        try:
            from huggingface_hub import snapshot_download
        except ImportError as err:
            raise ConvertError("--hf-id needs huggingface_hub (pip install huggingface_hub)") from err
        patterns = ["*.json", "*.safetensors", "spiece.model", "tokenizer*", "README.md"]
        try:
            return Path(snapshot_download(args.hf_id, allow_patterns=patterns))
        except Exception as err:  # huggingface_hub's errors, named in one line (install.sh reads the name)
            raise ConvertError(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else args.hf_id}") from err
    if args.model_dir is None:
        raise ConvertError("give a model directory or --hf-id")
    if not args.model_dir.is_dir():
        raise ConvertError(f"{args.model_dir} is not a directory")
    return args.model_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", nargs="?", type=Path, help="local Hugging Face MusicGen directory")
    parser.add_argument("--hf-id", help="download (or reuse from the HF cache) this repository, e.g. facebook/musicgen-small")
    parser.add_argument("--out", type=Path, required=True, help="output .gguf path")
    parser.add_argument("--outtype", choices=OUTTYPES, default="f16")
    parser.add_argument("--name", help="general.name (default: the directory or repository name)")
    args = parser.parse_args()
    try:
        model_dir = resolve_input(args)
        name = args.name or args.hf_id or model_dir.resolve().name
        out = args.out
        out.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target and renamed: an interrupted run never leaves a half file.
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".convert-") as tmp:
            base = Path(tmp) / "model.gguf"
            quantized = args.outtype not in ("f32", "f16")
            convert(model_dir, base, "f32" if quantized else args.outtype, name, source=args.hf_id)
            if quantized:
                final = Path(tmp) / "quantized.gguf"
                subprocess.run([find_quantizer(), str(base), str(final), args.outtype], check=True)
                base = final
            os.replace(base, out)
    except ConvertError as err:
        sys.exit(f"convert_musicgen_to_gguf: {err}")
    except subprocess.CalledProcessError as err:
        sys.exit(f"convert_musicgen_to_gguf: lofi-quantize failed (exit {err.returncode})")
    except OSError as err:  # e.g. a full disk: the temporary output is gone, the target untouched
        sys.exit(f"convert_musicgen_to_gguf: cannot write {args.out}: {err.strerror or err}")
    print(f"convert_musicgen_to_gguf: wrote {args.out} ({args.outtype}, {args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
