use std::ffi::CStr;

use crate::raw;

/// A GGML tensor type (the value of `enum ggml_type`, as stored in GGUF files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub i32);

impl GgmlType {
    pub const F32: Self = Self(0);
    pub const F16: Self = Self(1);
    pub const Q4_0: Self = Self(2);
    pub const Q4_1: Self = Self(3);
    pub const Q5_0: Self = Self(6);
    pub const Q5_1: Self = Self(7);
    pub const Q8_0: Self = Self(8);
    pub const Q4_K: Self = Self(12);
    pub const Q5_K: Self = Self(13);
    pub const Q6_K: Self = Self(14);

    /// GGML's name ("q4_K"), or None for a value GGML does not know.
    pub fn name(self) -> Option<&'static str> {
        // SAFETY: returns a static string or NULL.
        let name = unsafe { raw::lofi_ggml_type_name(self.0) };
        (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_str().unwrap_or("?"))
    }
    /// Values per block (1 for F32/F16, 32 or 256 for quantized types); 0 if unknown.
    pub fn block_size(self) -> i64 {
        unsafe { raw::lofi_ggml_block_size(self.0) }
    }
    /// Bytes one row of `n` values takes.
    pub fn row_size(self, n: i64) -> usize {
        unsafe { raw::lofi_ggml_row_size(self.0, n) }
    }
    pub fn is_quantized(self) -> bool {
        unsafe { raw::lofi_ggml_type_is_quantized(self.0) }
    }
}

/// Quantizes `values` (rows of `row_len`) to `ty` with GGML's own functions. None when the
/// type is unknown or the row length is not a multiple of its block size.
pub fn quantize(ty: GgmlType, values: &[f32], row_len: usize) -> Option<Vec<u8>> {
    if row_len == 0
        || !values.len().is_multiple_of(row_len)
        || ty.block_size() <= 0
        || row_len as i64 % ty.block_size() != 0
    {
        return None;
    }
    let rows = values.len() / row_len;
    let mut out = vec![0u8; ty.row_size(row_len as i64) * rows];
    // SAFETY: out holds rows × row_size bytes; values holds rows × row_len floats.
    let written = unsafe {
        raw::lofi_ggml_quantize(
            ty.0,
            values.as_ptr(),
            out.as_mut_ptr().cast(),
            rows as i64,
            row_len as i64,
        )
    };
    (written == out.len()).then_some(out)
}

/// Converts `count` values stored as `ty` to f32. None when `bytes` does not hold exactly that.
pub fn to_f32(ty: GgmlType, bytes: &[u8], count: usize) -> Option<Vec<f32>> {
    let block = ty.block_size();
    if block <= 0 || count as i64 % block != 0 || ty.row_size(count as i64) != bytes.len() {
        return None;
    }
    let mut out = vec![0f32; count];
    // SAFETY: sizes checked above.
    let ok = unsafe { raw::lofi_ggml_to_f32(ty.0, bytes.as_ptr().cast(), out.as_mut_ptr(), count as i64) };
    ok.then_some(out)
}
