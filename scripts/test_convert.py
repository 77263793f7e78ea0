#!/usr/bin/env python3
"""Tests for convert_musicgen_to_gguf.py on the committed fixture (no torch needed).

    python scripts/test_convert.py      # needs scripts/requirements-convert.txt; quantized
                                        # outputs also need target/debug/lofi-quantize
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "musicgen-tiny"
CONVERTER = ROOT / "scripts" / "convert_musicgen_to_gguf.py"


def convert(model_dir, out, *extra):
    return subprocess.run(
        [sys.executable, str(CONVERTER), str(model_dir), "--out", str(out), "--name", "musicgen-tiny", *extra],
        capture_output=True, text=True,
    )


class ConverterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp())

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def copy_fixture(self):
        target = self.tmp / "hf"
        shutil.copytree(FIXTURE / "hf", target)
        return target

    def assert_fails(self, result, message):
        self.assertNotEqual(result.returncode, 0)
        self.assertIn(message, result.stderr)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)

    def test_reproduces_the_committed_gguf_byte_for_byte(self):
        out = self.tmp / "model.gguf"
        result = convert(FIXTURE / "hf", out, "--outtype", "f16")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(out.read_bytes(), (FIXTURE / "model-f16.gguf").read_bytes())

    def test_hub_style_weight_norm_converts_identically(self):
        # Hub checkpoints store weight_g / weight_v; transformers 5.x saves parametrizations.
        from safetensors.numpy import load_file, save_file

        model_dir = self.copy_fixture()
        tensors = load_file(model_dir / "model.safetensors")
        renamed = {
            name.replace("parametrizations.weight.original0", "weight_g").replace("parametrizations.weight.original1", "weight_v"): value
            for name, value in tensors.items()
        }
        self.assertTrue(any(name.endswith("weight_g") for name in renamed))
        save_file(renamed, model_dir / "model.safetensors")
        out = self.tmp / "model.gguf"
        result = convert(model_dir, out, "--outtype", "f16")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(out.read_bytes(), (FIXTURE / "model-f16.gguf").read_bytes())

    def test_quantized_output_goes_through_lofi_quantize(self):
        # scripts/test.sh sets LOFI_QUANTIZE, so CI never skips this.
        quantizer = Path(os.environ.get("LOFI_QUANTIZE", ROOT / "target" / "debug" / "lofi-quantize"))
        if "LOFI_QUANTIZE" not in os.environ and not quantizer.exists():
            self.skipTest("target/debug/lofi-quantize not built")
        out = self.tmp / "model-q4.gguf"
        result = subprocess.run(
            [sys.executable, str(CONVERTER), str(FIXTURE / "hf"), "--out", str(out), "--outtype", "q4_k_m"],
            capture_output=True, text=True, env={**os.environ, "LOFI_QUANTIZE": str(quantizer)},
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("q4_K", result.stdout)
        self.assertLess(out.stat().st_size, (FIXTURE / "model-f16.gguf").stat().st_size // 2)
        self.assertEqual([p.name for p in self.tmp.iterdir()], ["model-q4.gguf"], "no temporary files left")

    def test_a_directory_without_a_model(self):
        self.assert_fails(convert(self.tmp, self.tmp / "x.gguf"), "is not a Hugging Face model directory")
        self.assert_fails(convert(self.tmp / "nope", self.tmp / "x.gguf"), "is not a directory")

    def test_a_config_of_another_model(self):
        model_dir = self.copy_fixture()
        config = json.loads((model_dir / "config.json").read_text())
        config["model_type"] = "bark"
        (model_dir / "config.json").write_text(json.dumps(config))
        self.assert_fails(convert(model_dir, self.tmp / "x.gguf"), "not a MusicGen model")

    def test_a_checkpoint_missing_tensors(self):
        from safetensors.numpy import load_file, save_file

        model_dir = self.copy_fixture()
        tensors = load_file(model_dir / "model.safetensors")
        del tensors["decoder.lm_heads.2.weight"]
        save_file(tensors, model_dir / "model.safetensors")
        result = convert(model_dir, self.tmp / "x.gguf")
        self.assert_fails(result, "checkpoint lacks tensors dec.output.2.weight")
        self.assertFalse((self.tmp / "x.gguf").exists(), "no partial output")

    def test_a_missing_tokenizer(self):
        model_dir = self.copy_fixture()
        (model_dir / "spiece.model").unlink()
        self.assert_fails(convert(model_dir, self.tmp / "x.gguf"), "has no spiece.model")


if __name__ == "__main__":
    unittest.main(verbosity=2)
