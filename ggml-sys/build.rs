//! Builds GGML from the sources the pinned `llama-cpp-sys-2` crate ships (only `llama.cpp/ggml`,
//! not llama.cpp itself), compiles our engine in `cpp/` against its headers, and generates
//! bindings for our own C header only.
//!
//! Environment:
//! - `LOFI_GGML_SRC`: a GGML source tree to use instead of the one in llama-cpp-sys-2.
//! - `LOFI_GGML_NATIVE=0`: portable build (GGML's AVX2/FMA/F16C baseline) instead of this CPU's
//!   full instruction set; release binaries for other machines are built that way.
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE_CRATE: &str = "llama-cpp-sys-2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=LOFI_GGML_SRC");
    println!("cargo:rerun-if-env-changed=LOFI_GGML_NATIVE");
    println!("cargo:rerun-if-changed=cpp");

    let ggml_src = match env::var_os("LOFI_GGML_SRC") {
        Some(dir) => PathBuf::from(dir),
        None => locate_source_crate(&manifest_dir).join("llama.cpp/ggml"),
    };
    assert!(
        ggml_src.join("include/ggml.h").exists(),
        "ggml-sys: no GGML source tree at {}",
        ggml_src.display()
    );
    let include_dir = ggml_src.join("include");

    build_ggml(&ggml_src, &out_dir);
    build_engine(&manifest_dir.join("cpp"), &include_dir);
    generate_bindings(&manifest_dir.join("cpp/lofi_ggml.h"), &out_dir);
    println!("cargo:include={}", include_dir.display());
}

/// Finds the unpacked `llama-cpp-sys-2` package through `cargo metadata` (it is a dependency
/// under a never-matching target, so it is fetched and locked but never built).
fn locate_source_crate(manifest_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .expect("ggml-sys: cannot run `cargo metadata`");
    assert!(
        output.status.success(),
        "ggml-sys: `cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");
    let manifest = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|package| package["name"] == SOURCE_CRATE)
        .and_then(|package| package["manifest_path"].as_str())
        .unwrap_or_else(|| panic!("ggml-sys: {SOURCE_CRATE} not in cargo metadata"));
    Path::new(manifest).parent().unwrap().to_path_buf()
}

fn on(flag: bool) -> &'static str {
    if flag {
        "ON"
    } else {
        "OFF"
    }
}

fn build_ggml(ggml_src: &Path, out_dir: &Path) {
    // Pointing cmake straight at ggml/ fails (it expects to be a subproject: ggml.pc.in).
    let wrapper = out_dir.join("ggml-wrapper");
    fs::create_dir_all(&wrapper).unwrap();
    fs::write(
        wrapper.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.14)\nproject(lofi_ggml C CXX)\nadd_subdirectory(${GGML_SRC} ggml)\n",
    )
    .unwrap();

    let native = env::var("LOFI_GGML_NATIVE").map(|v| v != "0").unwrap_or(true);
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let install = cmake::Config::new(&wrapper)
        .define("GGML_SRC", ggml_src)
        // GGML unoptimised is unusable, whatever the Rust profile.
        .profile("Release")
        .define("BUILD_SHARED_LIBS", "OFF")
        .define("GGML_BUILD_TESTS", "OFF")
        .define("GGML_BUILD_EXAMPLES", "OFF")
        .define("GGML_NATIVE", on(native))
        .define("GGML_OPENMP", "ON")
        // llamafile's tiled matrix kernels (F32, F16, Q8_0): GGML's own CMake leaves them off
        // unless llama.cpp's turns them on. EnCodec's convolutions and T5 run on them.
        .define("GGML_LLAMAFILE", "ON")
        .define("GGML_CUDA", on(feature("CUDA")))
        .define("GGML_VULKAN", on(feature("VULKAN")))
        .define("GGML_METAL", on(feature("METAL")))
        .build();

    for lib_dir in ["lib", "lib64"] {
        println!("cargo:rustc-link-search=native={}", install.join(lib_dir).display());
    }
}

fn build_engine(cpp_dir: &Path, include_dir: &Path) {
    let sources: Vec<PathBuf> = fs::read_dir(cpp_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cpp"))
        .collect();
    cc::Build::new()
        .cpp(true)
        .std("c++17")
        .opt_level(3)
        .warnings(true)
        .include(include_dir)
        .files(&sources)
        .compile("lofi_engine");

    // After our engine, in dependency order, so static linking resolves.
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    println!("cargo:rustc-link-lib=static=ggml");
    if feature("CUDA") {
        println!("cargo:rustc-link-lib=static=ggml-cuda");
    }
    if feature("VULKAN") {
        println!("cargo:rustc-link-lib=static=ggml-vulkan");
        println!("cargo:rustc-link-lib=dylib=vulkan");
    }
    if feature("METAL") {
        println!("cargo:rustc-link-lib=static=ggml-metal");
    }
    println!("cargo:rustc-link-lib=static=ggml-cpu");
    println!("cargo:rustc-link-lib=static=ggml-base");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-link-lib=dylib=omp");
    } else {
        println!("cargo:rustc-link-lib=dylib=gomp");
    }
}

fn generate_bindings(header: &Path, out_dir: &Path) {
    bindgen::Builder::default()
        .header(header.to_string_lossy())
        .allowlist_function("lofi_.*")
        .allowlist_type("lofi_.*")
        .allowlist_var("LOFI_.*")
        .prepend_enum_name(false)
        .generate()
        .expect("ggml-sys: bindgen failed on cpp/lofi_ggml.h (is libclang-dev installed?)")
        .write_to_file(out_dir.join("bindings.rs"))
        .unwrap();
}
