use std::ffi::{c_char, CStr};

use crate::error::{c_string, ErrorBuffer, GgmlError};
use crate::raw;
use crate::types::GgmlType;

/// A static C string the engine returns, copied.
fn static_text(text: *const c_char) -> String {
    // SAFETY: the engine's functions used here return static NUL-terminated strings.
    unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned()
}

/// The GGML version built in ("0.26.0").
pub fn version() -> String {
    // SAFETY: no arguments; returns a static string.
    static_text(unsafe { raw::lofi_ggml_version() })
}

/// What a C function that fills a buffer (at most its length, NUL-terminated) writes.
fn filled_by(fill: unsafe extern "C" fn(*mut c_char, usize)) -> String {
    let mut buf = [0 as c_char; 512];
    // SAFETY: fill writes at most buf.len() bytes, NUL-terminated.
    unsafe {
        fill(buf.as_mut_ptr(), buf.len());
        CStr::from_ptr(buf.as_ptr())
    }
    .to_string_lossy()
    .into_owned()
}

/// The levels of our own CPU kernels, lowest first: each the fastest where a CPU runs it, but a
/// CPU may run a level without the one below it (Zen 4 runs "avx512-vnni", not "avx-vnni"; a
/// 64-bit ARM CPU with dot products "neon-dotprod" and none of x86's).
pub const CPU_KERNEL_LEVELS: [&str; 5] = ["portable", "avx2", "avx-vnni", "avx512-vnni", "neon-dotprod"];

/// Which level of our own CPU kernels (the decoder's attention, EnCodec's ELU, the decoder's Q4_K,
/// Q5_K, Q6_K and Q8_0 products in strips) runs on this CPU: "avx512-vnni" (the products and attention; the
/// others stop at AVX2), "avx-vnni" (the same on 256-bit registers), "avx2", "neon-dotprod"
/// (64-bit ARM's dot products, and NEON for ELU, GELU and the rest) or "portable"
/// (chosen at run time, whatever the build's baseline; `LOFI_CPU_KERNELS` caps it: the highest
/// level this CPU runs at or below the one it names).
pub fn cpu_kernels() -> String {
    // SAFETY: no arguments; returns a static string.
    static_text(unsafe { raw::lofi_cpu_kernels() })
}

/// Whether this CPU has the instructions of the kernels of that level ([`CPU_KERNEL_LEVELS`]),
/// whatever `LOFI_CPU_KERNELS` says; false for any other name.
pub fn cpu_runs_kernels(level: &str) -> bool {
    let Ok(name) = c_string(level) else {
        return false;
    };
    // SAFETY: name is NUL-terminated and outlives the call.
    unsafe { raw::lofi_cpu_runs_kernels(name.as_ptr()) }
}

/// The memory read bandwidth (bytes per second) `threads` threads reach streaming 1 GiB as a
/// decoder step reads its weights (2 MB pages, this CPU's widest loads): the machine's figure the
/// benchmark prints beside each window's own floor (`musicgen::StepWeightsProbe`). Takes ~0.3 s
/// and 1 GiB for the while.
pub fn read_bandwidth(threads: usize) -> f64 {
    // SAFETY: no pointers; the C side allocates and frees its own buffer.
    unsafe { raw::lofi_read_bandwidth(threads.clamp(1, i32::MAX as usize) as i32) }
}

/// ELU (alpha 1) of each value by EnCodec's CPU kernel, the version [`cpu_kernels`] names.
pub fn cpu_elu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    // SAFETY: x and y hold x.len() floats each.
    unsafe { raw::lofi_cpu_elu(x.as_ptr(), y.as_mut_ptr(), x.len() as i64) };
    y
}

/// GELU (the erf form) of each value by the decoder's CPU kernel, the version [`cpu_kernels`]
/// names.
pub fn cpu_gelu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    // SAFETY: x and y hold x.len() floats each.
    unsafe { raw::lofi_cpu_gelu(x.as_ptr(), y.as_mut_ptr(), x.len() as i64) };
    y
}

/// The CPU features ggml-cpu was compiled for ("SSE3 SSSE3 AVX AVX2 F16C FMA ...").
pub fn cpu_features() -> String {
    filled_by(raw::lofi_ggml_cpu_features)
}

/// Which ggml-cpu computes: "zen4, chosen at run time among x64 haswell zen4" in a build with
/// CPU variants (`LOFI_GGML_CPU_VARIANTS`), "built in, for this machine's instruction set" in
/// a static one, or "none: " and why no CPU module loads.
pub fn cpu_variant() -> String {
    filled_by(raw::lofi_ggml_cpu_variant)
}

/// The accelerators `model.device` can pick with this build on this machine, "; " separated
/// ("vulkan: NVIDIA GeForce RTX 3060"), or "none". Starts every compiled GPU backend.
pub fn accelerators() -> String {
    filled_by(raw::lofi_ggml_accelerators)
}

/// Checks the operands of `c[j][i] = dot(a row i, b row j)` (`a`: `m` rows of `k` values stored
/// as `a_type`, `b`: `n` rows of `k` floats), then has `compute` fill the `m × n` result.
fn checked_product(
    what: &str,
    (a_type, a, b): (GgmlType, &[u8], &[f32]),
    (m, n, k): (usize, usize, usize),
    compute: impl FnOnce(&mut [f32], &mut ErrorBuffer) -> bool,
) -> Result<Vec<f32>, GgmlError> {
    if a.len() != a_type.row_size(k as i64) * m || b.len() != n * k {
        return Err(GgmlError(format!("{what}: operand sizes do not match m, n, k")));
    }
    let mut c = vec![0f32; m * n];
    let mut err = ErrorBuffer::new();
    let ok = compute(&mut c, &mut err);
    err.check(ok).map(|()| c)
}

/// How a convolution's input is padded on each side (`left`, `right` steps) and how far apart its
/// taps are (`dilation`), for [`conv_tap_sum`].
#[derive(Clone, Copy, Debug)]
pub struct TapGeometry {
    pub kernel: usize,
    pub dilation: usize,
    pub left: usize,
    pub right: usize,
}

/// EnCodec's convolution output from its taps' products, by the CPU node the decoder uses:
/// `taps` is `length` steps of `out * kernel` floats (tap k of channel o at `k * out + o`), `bias`
/// `out` floats; the result `length` steps of `out` floats, each the bias plus its taps at the
/// positions of the input padded as transformers' `EncodecConv1d._pad1d` pads it.
pub fn conv_tap_sum(taps: &[f32], bias: &[f32], length: usize, geometry: TapGeometry) -> Result<Vec<f32>, GgmlError> {
    let out = bias.len();
    if taps.len() != length * out * geometry.kernel {
        return Err(GgmlError(
            "conv_tap_sum: taps do not hold length × out × kernel floats".into(),
        ));
    }
    let mut y = vec![0f32; length * out];
    let mut err = ErrorBuffer::new();
    // SAFETY: taps, bias and y hold the sizes the C side reads and writes, checked above.
    let ok = unsafe {
        raw::lofi_conv_tap_sum(
            taps.as_ptr(),
            bias.as_ptr(),
            out as i64,
            length as i64,
            geometry.kernel as i64,
            geometry.dilation as i64,
            geometry.left as i64,
            geometry.right as i64,
            y.as_mut_ptr(),
            err.ptr(),
            err.capacity(),
        )
    };
    err.check(ok).map(|()| y)
}

/// `c[j][i] = dot(a row i, b row j)` on GGML's CPU backend: `a` is `m` rows of `k` values stored
/// as `a_type` (as [`crate::quantize`] writes them), `b` is `n` rows of `k` floats.
pub fn mul_mat(
    a_type: GgmlType,
    a: &[u8],
    b: &[f32],
    m: usize,
    n: usize,
    k: usize,
    threads: usize,
) -> Result<Vec<f32>, GgmlError> {
    checked_product("mul_mat", (a_type, a, b), (m, n, k), |c, err| {
        // SAFETY: checked_product checked the sizes; c holds m × n floats.
        unsafe {
            raw::lofi_ggml_mul_mat(
                a_type.0,
                a.as_ptr().cast(),
                b.as_ptr(),
                m as i64,
                n as i64,
                k as i64,
                c.as_mut_ptr(),
                threads.max(1) as i32,
                err.ptr(),
                err.capacity(),
            )
        }
    })
}

/// A layer norm of each input row: `(x - mean) / sqrt(variance + epsilon) * w + b`.
#[derive(Clone, Copy, Debug)]
pub struct LayerNorm<'a> {
    /// `k` weights.
    pub w: &'a [f32],
    /// `k` biases.
    pub b: &'a [f32],
    /// Added to the variance.
    pub epsilon: f32,
}

/// What a strip product's input rows go through first, in the node that quantizes them (as the
/// decoder computes its layer norms and GELU).
#[derive(Clone, Copy, Debug)]
pub enum StripInput<'a> {
    /// The rows as they are.
    AsIs,
    /// Their layer norm.
    LayerNorm(LayerNorm<'a>),
    /// GELU (the erf form) of each value.
    Gelu,
    /// GELU of their product with `up` (a feed-forward block's up weight: `k` rows of `inputs`
    /// values; `b`'s rows then hold `inputs` values), in that product's node.
    GeluOfProduct { up: StripWeight<'a>, inputs: usize },
}

/// The same product as [`mul_mat`] for a Q4_K, Q5_K, Q6_K or Q8_0 `a` (`m` a multiple of 16) through the
/// decoder's strip layout and kernels: `kernels` names a level (of [`CPU_KERNEL_LEVELS`]; `None`:
/// this CPU's, as [`cpu_kernels`] names it), refused where this CPU does
/// not run it; `input` says what `b`'s rows go through first.
pub fn strip_mul_mat(
    a_type: GgmlType,
    a: &[u8],
    b: &[f32],
    (m, n, k): (usize, usize, usize),
    kernels: Option<&str>,
    input: StripInput,
    threads: usize,
) -> Result<Vec<f32>, GgmlError> {
    strip_mul_mats(&[StripWeight { a_type, a, m }], b, (n, k), kernels, input, threads)
}

/// One weight of [`strip_mul_mats`]: `m` rows of type `a_type` (as [`quantize`] writes them).
#[derive(Clone, Copy, Debug)]
pub struct StripWeight<'a> {
    pub a_type: GgmlType,
    pub a: &'a [u8],
    pub m: usize,
}

/// A weight as the C API takes it (its bytes borrowed).
fn raw_weight(weight: &StripWeight) -> raw::lofi_strip_weight {
    raw::lofi_strip_weight {
        type_: weight.a_type.0,
        data: weight.a.as_ptr().cast(),
        rows: weight.m as i64,
    }
}

/// [`strip_mul_mat`] with several weights (1 to 9) in one node, as the decoder computes a
/// layer's Q, K and V: each weight's product (`m` × `n`, as [`mul_mat`]'s) after the previous
/// one's.
pub fn strip_mul_mats(
    weights: &[StripWeight],
    b: &[f32],
    (n, k): (usize, usize),
    kernels: Option<&str>,
    input: StripInput,
    threads: usize,
) -> Result<Vec<f32>, GgmlError> {
    // b's rows hold the first product's inputs: the up weight's where there is one.
    let (b_inputs, up_fits) = match input {
        StripInput::GeluOfProduct { up, inputs } => (inputs, up.a.len() == up.a_type.row_size(inputs as i64) * up.m),
        _ => (k, true),
    };
    let sizes_match = weights.iter().all(|w| w.a.len() == w.a_type.row_size(k as i64) * w.m);
    if !sizes_match || !up_fits || b_inputs.checked_mul(n) != Some(b.len()) {
        return Err(GgmlError("strip_mul_mat: operand sizes do not match m, n, k".into()));
    }
    let kernels = kernels.map(c_string).transpose()?;
    let mut raw_input = raw::lofi_strip_input {
        norm_w: std::ptr::null(),
        norm_b: std::ptr::null(),
        norm_epsilon: 0.0,
        gelu: matches!(input, StripInput::Gelu),
        up: raw::lofi_strip_weight {
            type_: 0,
            data: std::ptr::null(),
            rows: 0,
        },
        up_inputs: 0,
    };
    match input {
        StripInput::LayerNorm(norm) if norm.w.len() != k || norm.b.len() != k => {
            return Err(GgmlError(
                "strip_mul_mat: a layer norm needs k weights and k biases".into(),
            ));
        }
        StripInput::LayerNorm(norm) => {
            raw_input.norm_w = norm.w.as_ptr();
            raw_input.norm_b = norm.b.as_ptr();
            raw_input.norm_epsilon = norm.epsilon;
        }
        StripInput::GeluOfProduct { up, inputs } => {
            raw_input.up = raw_weight(&up);
            raw_input.up_inputs = inputs as i64;
        }
        StripInput::AsIs | StripInput::Gelu => {}
    }
    let raw_weights: Vec<raw::lofi_strip_weight> = weights.iter().map(raw_weight).collect();
    let mut c = vec![0f32; weights.iter().map(|w| w.m).sum::<usize>() * n];
    let mut err = ErrorBuffer::new();
    // SAFETY: the sizes are checked above (each weight m rows of k, the up weight's k rows of its
    // inputs, b n rows of the first product's inputs, the norm's k values); c holds every
    // product's m × n floats; kernels is NUL-terminated or null.
    let ok = unsafe {
        raw::lofi_strip_mul_mat(
            raw_weights.as_ptr(),
            raw_weights.len() as i32,
            b.as_ptr(),
            n as i64,
            k as i64,
            kernels.as_ref().map_or(std::ptr::null(), |name| name.as_ptr()),
            &raw_input,
            c.as_mut_ptr(),
            threads.max(1) as i32,
            err.ptr(),
            err.capacity(),
        )
    };
    err.check(ok).map(|()| c)
}
