//! Compiles the small C shim that routes libasound's messages to the daemon's log (Linux,
//! where cpal plays through ALSA).
fn main() {
    println!("cargo:rerun-if-changed=csrc/alsa_log.c");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        cc::Build::new().file("csrc/alsa_log.c").compile("lofi_alsa_log");
    }
}
