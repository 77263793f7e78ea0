//! The GGML build computes: matrix products against a naive Rust result, quantize round trips,
//! and a GGUF written and read back through GGML's own writer and parser.
use ggml_sys::{
    conv_tap_sum, cpu_elu, cpu_features, cpu_gelu, cpu_kernels, cpu_runs_kernels, mul_mat, quantize, read_bandwidth,
    strip_mul_mat, strip_mul_mats, to_f32, version, GgmlType, GgufFile, GgufWriter, LayerNorm, StripInput, StripWeight,
    TapGeometry, CPU_KERNEL_LEVELS,
};

/// Deterministic values in [-1, 1) (a small LCG; the test needs no quality randomness).
fn values(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for j in 0..n {
        for i in 0..m {
            c[j * m + i] = (0..k).map(|x| a[i * k + x] * b[j * k + x]).sum();
        }
    }
    c
}

fn max_abs_diff(x: &[f32], y: &[f32]) -> f32 {
    x.iter().zip(y).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

#[test]
fn the_cpu_elu_matches_exp_m1_over_its_whole_range() {
    // Every length's tail (the vector loop leaves up to 7), zero and both signs of tiny values,
    // the range where exp underflows, and infinities.
    let mut x: Vec<f32> = (-12_000..=300).map(|i| i as f32 * 0.01).collect();
    x.extend([
        0.0,
        -0.0,
        1e-8,
        -1e-8,
        -1e-30,
        -87.5,
        -88.8,
        -104.0,
        -1e30,
        f32::NEG_INFINITY,
        f32::INFINITY,
    ]);
    for n in [x.len(), 7, 1] {
        let y = cpu_elu(&x[..n]);
        for (&v, &e) in x.iter().zip(&y) {
            let expected = if v > 0.0 { v } else { v.exp_m1() };
            // Absolute: what follows ELU adds it to values of order 1.
            assert!(
                e == expected || (e - expected).abs() <= 2e-7,
                "{} kernel: ELU({v}) = {e}, expected {expected}",
                cpu_kernels()
            );
        }
    }
}

/// erf in f64: its Taylor series, exact to ~1e-9 up to |x| = 4 (the terms cancel from ~e^16),
/// and 1 within 2e-8 beyond.
fn erf(x: f64) -> f64 {
    if x.abs() > 4.0 {
        return x.signum();
    }
    let (mut term, mut sum) = (x, x);
    for n in 1..200 {
        term *= -x * x / f64::from(n);
        sum += term / f64::from(2 * n + 1);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

fn gelu(x: f32) -> f32 {
    let x = f64::from(x);
    (0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))) as f32
}

/// Which input step (or a zero: None) each position of the padded input holds, as transformers'
/// `EncodecConv1d._pad1d` pads: an input not longer than the larger padding is first extended
/// with zeros, then reflect-padded, then the extension is cut off the end.
fn pad1d_reflect(length: usize, left: usize, right: usize) -> Vec<Option<usize>> {
    let extra = (left.max(right) + 1).saturating_sub(length);
    let extended = length + extra;
    let reflected = |i: isize| -> usize {
        let last = extended as isize - 1;
        (if i < 0 {
            -i
        } else if i > last {
            2 * last - i
        } else {
            i
        }) as usize
    };
    (0..left + extended + right - extra)
        .map(|p| Some(reflected(p as isize - left as isize)).filter(|&step| step < length))
        .collect()
}

#[test]
fn the_convolutions_tap_sum_pads_as_transformers() {
    let out = 5;
    for (kernel, dilation) in [(3, 1), (7, 1), (3, 2)] {
        let total = (kernel - 1) * dilation;
        let (left, right) = (total - total / 2, total / 2);
        for length in 1..=10 {
            // lengths up to the padding take _pad1d's zero extension
            let taps = values(length * out * kernel, (kernel * 31 + length) as u64);
            let bias = values(out, 7);
            let geometry = TapGeometry {
                kernel,
                dilation,
                left,
                right,
            };
            let y = conv_tap_sum(&taps, &bias, length, geometry).unwrap();
            let padded = pad1d_reflect(length, left, right);
            for t in 0..length {
                for o in 0..out {
                    let mut want = f64::from(bias[o]);
                    for k in 0..kernel {
                        if let Some(step) = padded[t + k * dilation] {
                            want += f64::from(taps[step * out * kernel + k * out + o]);
                        }
                    }
                    let got = f64::from(y[t * out + o]);
                    assert!(
                        (got - want).abs() < 1e-5,
                        "kernel {kernel} dilation {dilation} length {length}: y[{t}][{o}] {got} vs {want}"
                    );
                }
            }
        }
    }
    let geometry = TapGeometry {
        kernel: 3,
        dilation: 1,
        left: 1,
        right: 1,
    };
    assert!(
        conv_tap_sum(&[0.0; 5], &[0.0; 2], 1, geometry).is_err(),
        "taps of the wrong size are refused"
    );
}

#[test]
fn the_cpu_gelu_matches_the_erf_form() {
    // Every length's tail (the vector loop leaves up to 7), both signs, zero, the range where
    // erf saturates.
    let mut x: Vec<f32> = (-1200..=1200).map(|i| i as f32 * 0.01).collect();
    x.extend([0.0, -0.0, 1e-8, -1e-8, -30.0, 30.0, -1e4, 1e4]);
    for n in [x.len(), 7, 1] {
        let y = cpu_gelu(&x[..n]);
        for (&v, &g) in x.iter().zip(&y) {
            let expected = gelu(v);
            assert!(
                (g - expected).abs() <= 1e-6 * expected.abs().max(1.0),
                "{} kernel: GELU({v}) = {g}, expected {expected}",
                cpu_kernels()
            );
        }
    }
}

/// The decoder's GELU, computed in the node that quantizes a strip product's input, gives the
/// product with the activated rows on every kernel level this CPU runs.
#[test]
fn a_strip_product_of_gelu_rows_matches_gelu_then_the_product() {
    let (m, k) = (16, 1024);
    let a = quantize(GgmlType::Q6_K, &values(m * k, 21), k).unwrap();
    for n in [1, 2] {
        let b: Vec<f32> = values(n * k, 22).iter().map(|v| v * 4.0).collect();
        let activated: Vec<f32> = b.iter().map(|&v| gelu(v)).collect();
        let expected = mul_mat(GgmlType::Q6_K, &a, &activated, m, n, k, 1).unwrap();
        // The inputs' int8 rounding may differ by one step where the two GELUs part.
        assert_strip_product_on_every_level((GgmlType::Q6_K, &a), &b, (m, n, k), StripInput::Gelu, &expected, 2e-3);
    }
}

/// GELU of a strip product, computed and quantized for the next product in that product's node
/// (a feed-forward block's up product), then the next (down) product: GGML's up product, GELU
/// and GGML's down product agree on every kernel level, however the threads share the up
/// weight's superblocks of outputs (two of them here).
#[test]
fn a_strip_product_of_gelu_of_a_product_matches_the_products_with_gelu_between() {
    let (inputs, m, k) = (256, 16, 512);
    let up = quantize(GgmlType::Q4_K, &values(k * inputs, 30), inputs).unwrap();
    let down = quantize(GgmlType::Q6_K, &values(m * k, 31), k).unwrap();
    for n in [1, 2, 3] {
        let b: Vec<f32> = values(n * inputs, 32).iter().map(|v| v * 4.0).collect();
        let up_product = mul_mat(GgmlType::Q4_K, &up, &b, k, n, inputs, 1).unwrap();
        let activated: Vec<f32> = up_product.iter().map(|&v| gelu(v)).collect();
        let expected = mul_mat(GgmlType::Q6_K, &down, &activated, m, n, k, 1).unwrap();
        let input = StripInput::GeluOfProduct {
            up: StripWeight {
                a_type: GgmlType::Q4_K,
                a: &up,
                m: k,
            },
            inputs,
        };
        // The inputs' int8 rounding may differ by one step where the two GELUs part.
        assert_strip_product_on_every_level((GgmlType::Q6_K, &down), &b, (m, n, k), input, &expected, 2e-3);
    }
    let half_up = StripInput::GeluOfProduct {
        up: StripWeight {
            a_type: GgmlType::Q4_K,
            a: &up[..up.len() / 2],
            m: k / 2,
        },
        inputs,
    };
    let refused = strip_mul_mat(GgmlType::Q6_K, &down, &values(inputs, 32), (m, 1, k), None, half_up, 1).unwrap_err();
    assert!(
        refused.0.contains("the up weight's rows are the products' inputs"),
        "{refused}"
    );
}

#[test]
fn f32_mul_mat_matches_naive() {
    let (m, n, k) = (48, 5, 256);
    let a = values(m * k, 1);
    let b = values(n * k, 2);
    let bytes: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    let c = mul_mat(GgmlType::F32, &bytes, &b, m, n, k, 2).unwrap();
    let diff = max_abs_diff(&c, &naive(&a, &b, m, n, k));
    assert!(diff < 1e-4, "F32 mul_mat differs by {diff}");
}

#[test]
fn q4_k_mul_mat_matches_naive_on_dequantized_weights() {
    let (m, n, k) = (32, 3, 512);
    let a = values(m * k, 3);
    let b = values(n * k, 4);
    let quantized = quantize(GgmlType::Q4_K, &a, k).unwrap();
    assert_eq!(
        quantized.len(),
        m * k / 256 * 144,
        "Q4_K stores 144 bytes per 256 values"
    );
    let restored = to_f32(GgmlType::Q4_K, &quantized, m * k).unwrap();
    let c = mul_mat(GgmlType::Q4_K, &quantized, &b, m, n, k, 2).unwrap();
    let expected = naive(&restored, &b, m, n, k);
    // GGML quantizes the activations to Q8_K for the dot product: close, not exact.
    let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
    let diff = max_abs_diff(&c, &expected);
    assert!(
        diff < 0.02 * scale,
        "Q4_K mul_mat differs by {diff} (values up to {scale})"
    );
    // And the quantization itself is close to the original weights.
    let weight_diff = max_abs_diff(&a, &restored);
    assert!(weight_diff < 0.15, "Q4_K round trip differs by {weight_diff}");
}

/// The kernel levels this CPU runs, lowest first (the cap of `LOFI_CPU_KERNELS` aside).
fn runnable_levels() -> impl Iterator<Item = &'static str> {
    CPU_KERNEL_LEVELS.into_iter().filter(|level| cpu_runs_kernels(level))
}

/// `strip_mul_mat` of `a` by `b` with `input` on every kernel level this CPU runs (on 1, 2, 3
/// and 2 threads: 3 shares unevenly) stays within `tolerance` times the largest value of `expected`.
fn assert_strip_product_on_every_level(
    (a_type, a): (GgmlType, &[u8]),
    b: &[f32],
    mnk: (usize, usize, usize),
    input: StripInput,
    expected: &[f32],
    tolerance: f32,
) {
    let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
    for (level, threads) in runnable_levels().zip([1, 2, 3, 2]) {
        let c = strip_mul_mat(a_type, a, b, mnk, Some(level), input, threads).unwrap();
        let diff = max_abs_diff(&c, expected);
        assert!(
            diff <= tolerance * scale,
            "{level} {:?} strips, (m, n, k) {mnk:?}, {input:?}, {threads} threads: differ by {diff} (values up to {scale})",
            a_type.name()
        );
    }
}

/// The decoder's Q4_K, Q5_K and Q6_K products through its strip layout give GGML's products
/// (which quantize the inputs the same way) on every kernel level this CPU runs: one, two and
/// three input rows (kernels take rows in pairs), one strip and several, split among threads
/// unevenly.
#[test]
fn strip_products_match_ggml_products_on_every_kernel_level() {
    for a_type in [GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        for (m, k) in [(16, 256), (48, 768), (64, 1024)] {
            let a = quantize(a_type, &values(m * k, 7), k).unwrap();
            for n in [1, 2, 3] {
                let b: Vec<f32> = values(n * k, 8).iter().map(|v| v * 4.0).collect();
                let expected = mul_mat(a_type, &a, &b, m, n, k, 1).unwrap();
                assert_strip_product_on_every_level((a_type, &a), &b, (m, n, k), StripInput::AsIs, &expected, 1e-5);
            }
        }
    }
}

/// The largest sums the strips' kernels hold in int16 (every value at its top, 15 for Q4_K and 31
/// for Q5_K, times every scale at 63 and every input at 127) give GGML's products: none overflows
/// on any level.
#[test]
fn strip_products_of_the_largest_values_match_ggml_products() {
    let (m, n, k) = (16, 2, 512);
    for (a_type, block_bytes) in [(GgmlType::Q4_K, 144), (GgmlType::Q5_K, 176)] {
        // d = 1 and dmin = 0 (f16), then the scales and mins, fifth bits and values: every bit set.
        let mut block = vec![0x00, 0x3C, 0x00, 0x00];
        block.resize(block_bytes, 0xFF);
        let a = block.repeat(m * k / 256);
        let b = vec![1.0f32; n * k];
        let expected = mul_mat(a_type, &a, &b, m, n, k, 1).unwrap();
        assert_strip_product_on_every_level((a_type, &a), &b, (m, n, k), StripInput::AsIs, &expected, 1e-5);
    }
}

/// `values` as the strips' products quantize their inputs (GGML's Q8_K: int8 within ±127, one
/// scale per 256), and back.
fn through_q8_k(values: &[f32]) -> Vec<f32> {
    values
        .chunks(256)
        .flat_map(|block| {
            let top = block.iter().map(|v| v.abs()).fold(0.0, f32::max);
            let inverse = if top == 0.0 { 0.0 } else { 127.0 / top };
            block
                .iter()
                .map(move |v| (v * inverse).round_ties_even().clamp(-127.0, 127.0) * (top / 127.0))
        })
        .collect()
}

/// Q8_0 weights in strips: the products of their values with the inputs as the strips quantize
/// them (as they do for the K-quants; GGML's own Q8_0 product quantizes its inputs with a scale
/// per 32, so it differs from these by that rounding), on every kernel level this CPU runs,
/// one to three rows, with values of both signs up to ±127 and inputs up to ±127.
#[test]
fn q8_0_strip_products_match_the_values_times_the_quantized_inputs() {
    for (m, k) in [(16, 256), (48, 768), (64, 1024)] {
        let a = quantize(GgmlType::Q8_0, &values(m * k, 7), k).unwrap();
        let weights = to_f32(GgmlType::Q8_0, &a, m * k).unwrap();
        for n in [1, 2, 3] {
            let b: Vec<f32> = values(n * k, 8).iter().map(|v| v * 4.0).collect();
            let expected = naive(&weights, &through_q8_k(&b), m, n, k);
            assert_strip_product_on_every_level((GgmlType::Q8_0, &a), &b, (m, n, k), StripInput::AsIs, &expected, 1e-5);
            let from_ggml = mul_mat(GgmlType::Q8_0, &a, &b, m, n, k, 1).unwrap();
            let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
            assert!(
                max_abs_diff(&from_ggml, &expected) < 1e-2 * scale,
                "GGML's Q8_0 product, its inputs rounded apart"
            );
        }
    }
}

/// Several weights' products with one input in one node (a layer's Q, K and V; Q4_K_M's V may
/// be Q6_K beside Q4_K) give each weight's GGML product, one after the other, on every kernel
/// level this CPU runs and however the threads share each weight; more weights than a node
/// takes are refused.
#[test]
fn strip_products_sharing_one_input_match_each_ggml_product() {
    let k = 512;
    let shapes = [(GgmlType::Q4_K, 48), (GgmlType::Q6_K, 32), (GgmlType::Q4_K, 16)];
    let quantized: Vec<Vec<u8>> = shapes
        .iter()
        .enumerate()
        .map(|(i, &(a_type, m))| quantize(a_type, &values(m * k, 20 + i as u64), k).unwrap())
        .collect();
    let weights: Vec<StripWeight> = shapes
        .iter()
        .zip(&quantized)
        .map(|(&(a_type, m), a)| StripWeight { a_type, a, m })
        .collect();
    for n in [1, 2, 3] {
        let b: Vec<f32> = values(n * k, 24).iter().map(|v| v * 4.0).collect();
        let expected: Vec<f32> = weights
            .iter()
            .flat_map(|w| mul_mat(w.a_type, w.a, &b, w.m, n, k, 1).unwrap())
            .collect();
        let scale = expected.iter().map(|v| v.abs()).fold(0.0, f32::max);
        for (level, threads) in runnable_levels().zip([1, 2, 3, 2]) {
            let c = strip_mul_mats(&weights, &b, (n, k), Some(level), StripInput::AsIs, threads).unwrap();
            let diff = max_abs_diff(&c, &expected);
            assert!(
                diff <= 1e-5 * scale,
                "{level}, {n} rows, {threads} threads: differ by {diff} (values up to {scale})"
            );
        }
    }
    let b = values(k, 24);
    let too_many = strip_mul_mats(&[weights[2]; 10], &b, (1, k), None, StripInput::AsIs, 1).unwrap_err();
    assert!(too_many.0.contains("one to 9 weights"), "{too_many}");
}

/// The decoder's layer norm, computed in the node that quantizes a strip product's input, gives
/// the product with the normed rows (normed here in f64, then GGML's product) on every kernel
/// level this CPU runs, for rows whose offset and spread the norm must take out.
#[test]
fn a_strip_product_of_layer_normed_rows_matches_the_norm_then_the_product() {
    let (m, k) = (32, 1024);
    let a = quantize(GgmlType::Q4_K, &values(m * k, 11), k).unwrap();
    let w: Vec<f32> = values(k, 12).iter().map(|v| 1.0 + 0.5 * v).collect();
    let bias = values(k, 13);
    let norm = LayerNorm {
        w: &w,
        b: &bias,
        epsilon: 1e-5,
    };
    for n in [1, 2, 3] {
        let b: Vec<f32> = values(n * k, 14)
            .iter()
            .enumerate()
            .map(|(i, v)| 3.0 + 5.0 * v + (i / k) as f32)
            .collect();
        let normed: Vec<f32> =
            b.chunks(k)
                .flat_map(|row| {
                    let mean = row.iter().map(|&x| f64::from(x)).sum::<f64>() / k as f64;
                    let variance = row.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / k as f64;
                    let scale = 1.0 / (variance + 1e-5).sqrt();
                    row.iter().zip(&w).zip(&bias).map(move |((&x, &wi), &bi)| {
                        ((f64::from(x) - mean) * scale * f64::from(wi) + f64::from(bi)) as f32
                    })
                })
                .collect();
        let expected = mul_mat(GgmlType::Q4_K, &a, &normed, m, n, k, 1).unwrap();
        // The inputs' int8 rounding may differ by one step where f32 and f64 norms part.
        let input = StripInput::LayerNorm(norm);
        assert_strip_product_on_every_level((GgmlType::Q4_K, &a), &b, (m, n, k), input, &expected, 2e-3);
    }
    let short = LayerNorm { w: &w[..k - 1], ..norm };
    let refused = strip_mul_mat(
        GgmlType::Q4_K,
        &a,
        &values(k, 14),
        (m, 1, k),
        None,
        StripInput::LayerNorm(short),
        1,
    )
    .unwrap_err();
    assert!(refused.0.contains("k weights and k biases"), "{refused}");
}

#[test]
fn strip_products_refuse_what_they_cannot_compute() {
    let b = values(256, 10);
    let few_rows = quantize(GgmlType::Q4_K, &values(8 * 256, 9), 256).unwrap();
    let refused = strip_mul_mat(GgmlType::Q4_K, &few_rows, &b, (8, 1, 256), None, StripInput::AsIs, 1).unwrap_err();
    assert!(refused.0.contains("a multiple of 16"), "{refused}");
    let q5_0 = quantize(GgmlType::Q5_0, &values(16 * 256, 9), 256).unwrap();
    let refused = strip_mul_mat(GgmlType::Q5_0, &q5_0, &b, (16, 1, 256), None, StripInput::AsIs, 1).unwrap_err();
    assert!(refused.0.contains("Q4_K, Q5_K, Q6_K or Q8_0"), "{refused}");
    let a = quantize(GgmlType::Q4_K, &values(16 * 256, 9), 256).unwrap();
    let unknown = strip_mul_mat(GgmlType::Q4_K, &a, &b, (16, 1, 256), Some("sse9"), StripInput::AsIs, 1).unwrap_err();
    assert_eq!(unknown.0, "no CPU kernels are named 'sse9'");
    for level in CPU_KERNEL_LEVELS.into_iter().filter(|level| !cpu_runs_kernels(level)) {
        let beyond = strip_mul_mat(GgmlType::Q4_K, &a, &b, (16, 1, 256), Some(level), StripInput::AsIs, 1).unwrap_err();
        assert!(beyond.0.contains("do not run here"), "{beyond}");
    }
}

/// On 64-bit ARM the neon-dotprod kernels run exactly where the CPU has dot products (as Rust's
/// own detection sees them): never faulting on a CPU without, never left unused on one with.
#[cfg(target_arch = "aarch64")]
#[test]
fn neon_dotprod_kernels_run_where_the_cpu_has_dot_products() {
    let dot_products = std::arch::is_aarch64_feature_detected!("dotprod");
    assert_eq!(cpu_runs_kernels("neon-dotprod"), dot_products);
    if std::env::var_os("LOFI_CPU_KERNELS").is_none() {
        assert_eq!(cpu_kernels(), if dot_products { "neon-dotprod" } else { "portable" });
    }
    eprintln!("this CPU's dot products: {dot_products}; kernels: {}", cpu_kernels());
}

/// GGML's ARM CPU variants in rising order, each with the CPU features its `ggml_backend_score`
/// requires (ggml-cpu/arch/arm/cpu-feats.cpp; ggml-sys's build.rs builds them).
#[cfg(target_arch = "aarch64")]
const GGML_ARM_VARIANTS: &[(&str, &[&str])] = &[
    ("armv8.0_1", &[]),
    ("armv8.2_1", &["dotprod"]),
    ("armv8.2_2", &["dotprod", "fp16"]),
    ("armv8.2_3", &["dotprod", "fp16", "sve"]),
    ("armv8.6_1", &["dotprod", "fp16", "sve", "i8mm"]),
    ("armv8.6_2", &["dotprod", "fp16", "sve", "i8mm", "sve2"]),
];

#[cfg(target_arch = "aarch64")]
fn cpu_has(feature: &str) -> bool {
    use std::arch::is_aarch64_feature_detected as has;
    match feature {
        "dotprod" => has!("dotprod"),
        "fp16" => has!("fp16"),
        "sve" => has!("sve"),
        "i8mm" => has!("i8mm"),
        "sve2" => has!("sve2"),
        _ => unreachable!("no such feature in GGML_ARM_VARIANTS: {feature}"),
    }
}

/// In a build with GGML's CPU variants (an ARM Linux release), the module loaded must be the most
/// capable of those built whose every required feature this CPU has: scripts/test-aarch64.sh runs
/// this under emulated CPUs of each kind.
#[cfg(target_arch = "aarch64")]
#[test]
fn ggml_loads_the_most_capable_arm_variant_this_cpu_runs() {
    let variant = ggml_sys::cpu_variant();
    eprintln!("ggml CPU variant: {variant}; features: {}", cpu_features());
    let Some((chosen, among)) = variant.split_once(", chosen at run time among ") else {
        // One ggml-cpu linked in, or LOFI_GGML_CPU_VARIANT forcing a module.
        assert!(
            variant.starts_with("built in, for ") || variant.contains(", forced by LOFI_GGML_CPU_VARIANT among "),
            "{variant}"
        );
        return;
    };
    let built: Vec<&str> = among.split(" in ").next().unwrap().split(' ').collect();
    let expected = GGML_ARM_VARIANTS
        .iter()
        .filter(|(name, needs)| built.contains(name) && needs.iter().all(|feature| cpu_has(feature)))
        .map(|(name, _)| *name)
        .next_back();
    assert_eq!(Some(chosen), expected, "{variant}");
}

#[test]
fn quantize_rejects_rows_that_do_not_fit_the_block() {
    assert!(quantize(GgmlType::Q4_K, &values(128, 5), 128).is_none());
    assert!(quantize(GgmlType::Q8_0, &values(96, 5), 48).is_none());
    assert!(quantize(GgmlType(999), &values(32, 5), 32).is_none());
    assert_eq!(GgmlType(999).name(), None);
    assert_eq!(GgmlType::Q4_K.name(), Some("q4_K"));
}

#[test]
fn gguf_written_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.gguf");
    // A file with metadata to copy: written from an empty writer seeded by... itself, so start
    // from a minimal hand-made GGUF (header + one string key, no tensors).
    let mut header = Vec::new();
    header.extend_from_slice(b"GGUF");
    header.extend_from_slice(&3u32.to_le_bytes());
    header.extend_from_slice(&0u64.to_le_bytes()); // tensors
    header.extend_from_slice(&1u64.to_le_bytes()); // key/values
    let key = b"general.architecture";
    header.extend_from_slice(&(key.len() as u64).to_le_bytes());
    header.extend_from_slice(key);
    header.extend_from_slice(&8u32.to_le_bytes()); // GGUF_TYPE_STRING
    header.extend_from_slice(&8u64.to_le_bytes());
    header.extend_from_slice(b"musicgen");
    std::fs::write(&base, &header).unwrap();

    let source = GgufFile::open(&base).unwrap();
    assert_eq!(
        source.metadata().get_string("general.architecture").as_deref(),
        Some("musicgen")
    );
    let weights = values(2 * 256, 6);
    let q8 = quantize(GgmlType::Q8_0, &weights, 256).unwrap();
    let mut writer = GgufWriter::new(&source);
    writer.set_u32("general.file_type", 7).unwrap();
    writer.add_tensor("w", GgmlType::Q8_0, &[256, 2], &q8).unwrap();
    assert!(
        writer.add_tensor("w", GgmlType::Q8_0, &[256, 2], &q8).is_err(),
        "duplicate names are refused"
    );
    assert!(
        writer.add_tensor("bad", GgmlType::Q8_0, &[256, 3], &q8).is_err(),
        "size must match the shape"
    );
    let out = dir.path().join("out.gguf");
    writer.write(&out).unwrap();

    let read = GgufFile::open(&out).unwrap();
    assert_eq!(read.tensors().len(), 1);
    let info = &read.tensors()[0];
    assert_eq!(
        (info.name.as_str(), info.ty, info.shape.as_slice()),
        ("w", GgmlType::Q8_0, &[256i64, 2][..])
    );
    assert_eq!(read.read_tensor(0).unwrap(), q8);
    assert_eq!(
        read.metadata().get_string("general.architecture").as_deref(),
        Some("musicgen")
    );
}

#[test]
fn build_reports_version_and_cpu_features() {
    assert_eq!(version(), "0.26.0");
    let features = cpu_features();
    assert!(!features.is_empty());
    #[cfg(target_arch = "x86_64")]
    assert!(
        features.contains("AVX2"),
        "x86-64 builds target AVX2 at least: {features}"
    );
}

#[test]
fn the_read_bandwidth_shares_its_buffer_among_any_number_of_threads() {
    // 46 threads: 1 GiB's words over 46, rounded down and then up to whole blocks, came to less
    // than the buffer, and the last thread's share never ended.
    for threads in [1, 2, 46] {
        let read = read_bandwidth(threads);
        assert!(
            read.is_finite() && read > 0.0,
            "{read} bytes per second on {threads} threads"
        );
    }
}
