//! Benchmarks live in benches/*.rs; this crate only hosts them.
