//! The benchmark's probe of the decoder step's weights: it reads them where the step does, and
//! holds them while it lives, the model dropped or not.
mod fixture;

use lofi_convert::FileType;
use musicgen::Musicgen;

#[test]
fn the_weights_probe_reads_the_placed_weights_and_outlives_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = Musicgen::load(&fixture::quantized_fixture(dir.path(), FileType::Q8_0), 2, "cpu").unwrap();
    let probe = m.step_weights_probe().expect("the weights are in the CPU's memory");
    let read = probe.read_bandwidth(2);
    assert!(read.is_finite() && read > 0.0, "{read} bytes per second");
    drop(m);
    let read = probe.read_bandwidth(3); // a share per thread, over the weights' many tensors
    assert!(
        read.is_finite() && read > 0.0,
        "{read} bytes per second after the model went"
    );
}
