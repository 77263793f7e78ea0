//! T5's SentencePiece unigram tokenizer, rebuilt from a MusicGen GGUF's `tokenizer.ggml.*` keys
//! with the `tokenizers` crate exactly as transformers builds it from `spiece.model`:
//! precompiled (NFKC) normalizer, whitespace split + metaspace, then `</s>` appended.
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::precompiled::Precompiled;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::Tokenizer;

use ggml_sys::GgmlError;
use ggml_sys::GgufMetadata;

pub struct T5Tokenizer {
    tokenizer: Tokenizer,
    eos: i32,
}

fn missing(key: &str) -> GgmlError {
    GgmlError(format!("the model's tokenizer lacks {key}"))
}

impl T5Tokenizer {
    pub fn from_gguf(file: GgufMetadata<'_>) -> Result<Self, GgmlError> {
        let tokens = file
            .string_array("tokenizer.ggml.tokens")
            .ok_or_else(|| missing("tokenizer.ggml.tokens"))?;
        let scores = file
            .f32_array("tokenizer.ggml.scores")
            .ok_or_else(|| missing("tokenizer.ggml.scores"))?;
        let charsmap = file
            .bytes("tokenizer.ggml.precompiled_charsmap")
            .ok_or_else(|| missing("the precompiled charsmap"))?;
        let unk = file.get_u32("tokenizer.ggml.unknown_token_id").unwrap_or(2) as usize;
        let eos = file.get_u32("tokenizer.ggml.eos_token_id").unwrap_or(1) as i32;
        if tokens.len() != scores.len() || unk >= tokens.len() || eos as usize >= tokens.len() {
            return Err(GgmlError("the model's tokenizer arrays disagree".into()));
        }
        let vocab = tokens.into_iter().zip(scores.into_iter().map(f64::from)).collect();
        let unigram = Unigram::from(vocab, Some(unk), false).map_err(|e| GgmlError(format!("tokenizer: {e}")))?;
        let normalizer = Precompiled::from(&charsmap).map_err(|e| GgmlError(format!("tokenizer normalizer: {e}")))?;
        let mut tokenizer = Tokenizer::new(unigram);
        tokenizer.with_normalizer(Some(normalizer));
        tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
            WhitespaceSplit.into(),
            Metaspace::new('\u{2581}', PrependScheme::Always, true).into(),
        ])));
        Ok(Self { tokenizer, eos })
    }

    /// Token ids for `text`, ending with `</s>` as T5 expects.
    pub fn encode(&self, text: &str) -> Result<Vec<i32>, GgmlError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| GgmlError(format!("tokenizer: {e}")))?;
        let mut ids: Vec<i32> = encoding.get_ids().iter().map(|&id| id as i32).collect();
        ids.push(self.eos);
        Ok(ids)
    }
}
