//! Builds GGML from the sources the pinned `llama-cpp-sys-2` crate ships (only `llama.cpp/ggml`,
//! not llama.cpp itself), compiles our engine in `cpp/` against its headers, and generates
//! bindings for our own C header only.
//!
//! Environment:
//! - `LOFI_GGML_SRC`: a GGML source tree to use instead of the one in llama-cpp-sys-2.
//! - `LOFI_GGML_NATIVE=0`: portable build (GGML's baseline: AVX2/FMA/F16C on x86-64, armv8-a on
//!   64-bit ARM unless the compiler targets more, as Apple's does) instead of this CPU's full
//!   instruction set.
//! - `LOFI_GGML_CPU_VARIANTS`: `all` or names from [`X86_CPU_VARIANTS`] ("x64 haswell zen4") or,
//!   building for 64-bit ARM, [`ARM_CPU_VARIANTS`] ("armv8.0_1 armv8.2_2"):
//!   GGML as shared libraries plus one ggml-cpu module per variant (`libggml-cpu-NAME.so`), of
//!   which the engine loads the best for the CPU it runs on. Release binaries are built that way
//!   (scripts/build-release.sh); CPU only.
use std::collections::hash_map::DefaultHasher;
use std::env;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCE_CRATE: &str = "llama-cpp-sys-2";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=LOFI_GGML_SRC");
    println!("cargo:rerun-if-env-changed=LOFI_GGML_NATIVE");
    println!("cargo:rerun-if-env-changed=LOFI_GGML_CPU_VARIANTS");
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

    let cmake_dir = cmake_dir(&out_dir, &ggml_src);
    let engine = match cpu_variants_wanted() {
        None => build_ggml(&ggml_src, &cmake_dir),
        Some(variants) => build_ggml_with_cpu_variants(&ggml_src, &cmake_dir, &out_dir, &variants),
    };
    build_engine(&manifest_dir.join("cpp"), &include_dir, &engine);
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

/// GGML's CPU variants for x86-64 Linux, as its CMake names them (ggml/src/CMakeLists.txt,
/// `GGML_CPU_ALL_VARIANTS`, which also says which instruction sets each is compiled for).
const X86_CPU_VARIANTS: &[&str] = &[
    "x64",
    "sse42",
    "sandybridge",
    "ivybridge",
    "piledriver",
    "haswell",
    "skylakex",
    "cannonlake",
    "cascadelake",
    "icelake",
    "cooperlake",
    "zen4",
    "alderlake",
    "sapphirerapids",
];

/// GGML's CPU variants for 64-bit ARM Linux: armv8.0_1 (NEON), armv8.2_1 (dot products),
/// armv8.2_2 (and FP16 arithmetic), armv8.2_3 (and SVE), armv8.6_1 (and int8 matrix multiply),
/// armv8.6_2 (and SVE2). Not its two SME ones (armv9.2_1, armv9.2_2): GCC 12 and older cannot
/// compile for Armv9.2-A.
const ARM_CPU_VARIANTS: &[&str] = &[
    "armv8.0_1",
    "armv8.2_1",
    "armv8.2_2",
    "armv8.2_3",
    "armv8.6_1",
    "armv8.6_2",
];

/// How the engine is compiled against the GGML just built.
struct EngineBuild {
    /// Preprocessor definitions: what the build is (the C++ reads them as such).
    defines: Vec<(&'static str, String)>,
    /// `cargo:rustc-link-lib` values, printed after the engine's own library.
    link_libs: Vec<&'static str>,
}

/// The variants `LOFI_GGML_CPU_VARIANTS` names, from [`X86_CPU_VARIANTS`] or [`ARM_CPU_VARIANTS`];
/// None when unset.
fn cpu_variants_wanted() -> Option<Vec<&'static str>> {
    let wanted = env::var("LOFI_GGML_CPU_VARIANTS")
        .ok()
        .filter(|v| !v.trim().is_empty())?;
    let known = match (
        env::var("CARGO_CFG_TARGET_ARCH").as_deref(),
        env::var("CARGO_CFG_TARGET_OS").as_deref(),
    ) {
        (Ok("x86_64"), Ok("linux")) => X86_CPU_VARIANTS,
        (Ok("aarch64"), Ok("linux")) => ARM_CPU_VARIANTS,
        _ => panic!("ggml-sys: LOFI_GGML_CPU_VARIANTS is for x86-64 and 64-bit ARM Linux builds"),
    };
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    assert!(
        !["CUDA", "VULKAN", "METAL"].into_iter().any(feature),
        "ggml-sys: LOFI_GGML_CPU_VARIANTS builds the CPU backend only; build GPU backends without it"
    );
    if wanted.trim() == "all" {
        return Some(known.to_vec());
    }
    let names = wanted.split([' ', ',']).filter(|name| !name.is_empty());
    Some(
        names
            .map(|name| {
                *known.iter().find(|known| **known == name).unwrap_or_else(|| {
                    panic!(
                        "ggml-sys: LOFI_GGML_CPU_VARIANTS: no CPU variant '{name}' (known: all, or {})",
                        known.join(" ")
                    )
                })
            })
            .collect(),
    )
}

/// Where GGML's CMake builds and installs: `target/PROFILE/ggml-cmake/KEY`, KEY a hash of all
/// that decides the build, rather than OUT_DIR. Cargo runs this script again under a new OUT_DIR
/// whenever ggml-sys is hashed anew — as another package selection does (`cargo test -p musicgen`
/// after a workspace build), resolving a build dependency's features otherwise — and GGML would
/// be compiled again each time (1-2 minutes on 2 cores, 3 with CPU variants); here CMake finds
/// its build up to date. Cargo's lock on the target directory keeps two builds out of it at once.
fn cmake_dir(out_dir: &Path, ggml_src: &Path) -> PathBuf {
    let mut hasher = DefaultHasher::new();
    ggml_src.hash(&mut hasher);
    for name in [
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "LOFI_GGML_NATIVE",
        "LOFI_GGML_CPU_VARIANTS",
        "CARGO_FEATURE_CUDA",
        "CARGO_FEATURE_VULKAN",
        "CARGO_FEATURE_METAL",
    ] {
        (name, env::var_os(name)).hash(&mut hasher);
    }
    // The compilers and flags the cmake crate hands CMake (CC, CXX_aarch64_unknown_linux_gnu, ...).
    let mut compiler_settings: Vec<_> = env::vars_os()
        .filter(|(name, _)| {
            let name = name.to_string_lossy();
            ["CC", "CXX", "CFLAGS", "CXXFLAGS", "AR", "CMAKE"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
        .collect();
    compiler_settings.sort();
    compiler_settings.hash(&mut hasher);
    let profile_dir = out_dir.ancestors().nth(3).unwrap();
    profile_dir.join("ggml-cmake").join(format!("{:016x}", hasher.finish()))
}

/// Pointing cmake straight at ggml/ fails (it expects to be a subproject: ggml.pc.in), so a
/// three-line project includes it.
fn cmake_wrapper(dir: &Path) -> PathBuf {
    let wrapper = dir.join("ggml-wrapper");
    fs::create_dir_all(&wrapper).unwrap();
    fs::write(
        wrapper.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.14)\nproject(lofi_ggml C CXX)\nadd_subdirectory(${GGML_SRC} ggml)\n",
    )
    .unwrap();
    wrapper
}

/// GGML's options common to every build here; CMake builds in `dir`/build and installs to `dir`.
fn ggml_config(ggml_src: &Path, dir: &Path) -> cmake::Config {
    let mut config = cmake::Config::new(cmake_wrapper(dir));
    config
        .out_dir(dir)
        .define("GGML_SRC", ggml_src)
        // GGML unoptimised is unusable, whatever the Rust profile.
        .profile("Release")
        .define("GGML_BUILD_TESTS", "OFF")
        .define("GGML_BUILD_EXAMPLES", "OFF")
        .define("GGML_OPENMP", "ON")
        // llamafile's tiled matrix kernels (F32, F16, Q8_0): GGML's own CMake leaves them off
        // unless llama.cpp's turns them on. EnCodec's convolutions and T5 run on them.
        .define("GGML_LLAMAFILE", "ON");
    config
}

fn link_search(install: &Path) {
    for lib_dir in ["lib", "lib64"] {
        println!("cargo:rustc-link-search=native={}", install.join(lib_dir).display());
    }
}

/// Static GGML with one CPU backend, for this machine or GGML's portable baseline.
fn build_ggml(ggml_src: &Path, cmake_dir: &Path) -> EngineBuild {
    let native = env::var("LOFI_GGML_NATIVE").map(|v| v != "0").unwrap_or(true);
    let feature = |name: &str| env::var_os(format!("CARGO_FEATURE_{name}")).is_some();
    let install = ggml_config(ggml_src, cmake_dir)
        .define("BUILD_SHARED_LIBS", "OFF")
        .define("GGML_NATIVE", on(native))
        .define("GGML_CUDA", on(feature("CUDA")))
        .define("GGML_VULKAN", on(feature("VULKAN")))
        .define("GGML_METAL", on(feature("METAL")))
        .build();
    link_search(&install);

    // After our engine, in dependency order, so static linking resolves.
    let mut link_libs = vec!["static=ggml"];
    if feature("CUDA") {
        link_libs.push("static=ggml-cuda");
    }
    if feature("VULKAN") {
        link_libs.extend(["static=ggml-vulkan", "dylib=vulkan"]);
    }
    if feature("METAL") {
        link_libs.push("static=ggml-metal");
    }
    link_libs.extend(["static=ggml-cpu", "static=ggml-base"]);
    let macos = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos");
    link_libs.push(if macos { "dylib=omp" } else { "dylib=gomp" });
    let cpu_build = if native {
        "this machine's instruction set"
    } else {
        "GGML's portable baseline"
    };
    EngineBuild {
        defines: vec![("LOFI_GGML_CPU_BUILD", format!("{cpu_build:?}"))],
        link_libs,
    }
}

/// Shared GGML (libggml, libggml-base) and a ggml-cpu module per variant, all in `cmake_dir/lib`;
/// the engine loads the best module for the CPU at run time, from its executable's directory
/// or, for binaries run in this build tree (tests), from that one. The modules are GGML's own
/// `GGML_CPU_ALL_VARIANTS` targets (`ggml-cpu-haswell`), built one by one by name, so its
/// CMake decides each one's instruction sets and a variant nobody asked for is never compiled.
fn build_ggml_with_cpu_variants(ggml_src: &Path, cmake_dir: &Path, out_dir: &Path, variants: &[&str]) -> EngineBuild {
    let install = ggml_config(ggml_src, cmake_dir)
        .define("BUILD_SHARED_LIBS", "ON")
        .define("GGML_BACKEND_DL", "ON")
        .define("GGML_CPU", "OFF")
        .define("GGML_NATIVE", "OFF")
        .build();
    link_search(&install);
    let lib_dir = install.join("lib");
    remove_cpu_modules(&lib_dir); // a previous build's variant list

    let variants_dir = cmake_dir.join("cpu-variants");
    let module_dir = variants_dir.join("modules");
    let mut config = ggml_config(ggml_src, &variants_dir);
    config
        .define("BUILD_SHARED_LIBS", "ON")
        .define("GGML_BACKEND_DL", "ON")
        // Its ggml-cpu directory, where the variants' build is defined, is only read with the CPU
        // backend on; with all variants on, the variants are the only CPU backends.
        .define("GGML_CPU", "ON")
        .define("GGML_CPU_ALL_VARIANTS", "ON")
        .define("GGML_NATIVE", "OFF")
        .define("CMAKE_RUNTIME_OUTPUT_DIRECTORY", &module_dir);
    for name in variants {
        let module = format!("libggml-cpu-{name}.so");
        config.build_target(&format!("ggml-cpu-{name}")).build();
        fs::copy(module_dir.join(&module), lib_dir.join(&module))
            .unwrap_or_else(|e| panic!("ggml-sys: the {name} CPU module was not built ({e})"));
    }

    copy_beside_binaries(&lib_dir, out_dir);
    EngineBuild {
        defines: vec![(
            "LOFI_GGML_BUILD_MODULE_DIR",
            format!("{:?}", lib_dir.display().to_string()),
        )],
        link_libs: vec!["dylib=ggml", "dylib=ggml-base", "dylib=dl"],
    }
}

/// Copies the shared libraries (under their sonames, `libggml.so.0`) and the CPU modules into
/// the profile's directory (`OUT_DIR/../../..`, target/PROFILE), where the binaries are: that
/// directory then looks as a release does, and binaries linked with rpath `$ORIGIN`
/// (scripts/build-release.sh) run from it.
fn copy_beside_binaries(lib_dir: &Path, out_dir: &Path) {
    let profile_dir = out_dir.ancestors().nth(3).unwrap();
    remove_cpu_modules(profile_dir);
    for entry in fs::read_dir(lib_dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let soname = ["libggml.so.", "libggml-base.so."].iter().any(|stem| {
            name.strip_prefix(stem)
                .is_some_and(|v| v.bytes().all(|b| b.is_ascii_digit()))
        });
        if soname || is_cpu_module(&name) {
            fs::copy(lib_dir.join(&name), profile_dir.join(&name)).unwrap();
        }
    }
}

/// `libggml-cpu-NAME.so`: a CPU variant's module.
fn is_cpu_module(file_name: &str) -> bool {
    file_name.starts_with("libggml-cpu-") && file_name.ends_with(".so")
}

fn remove_cpu_modules(dir: &Path) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if is_cpu_module(&path.file_name().unwrap().to_string_lossy()) {
            fs::remove_file(&path).unwrap();
        }
    }
}

fn build_engine(cpp_dir: &Path, include_dir: &Path, engine: &EngineBuild) {
    let sources: Vec<PathBuf> = fs::read_dir(cpp_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "cpp"))
        .collect();
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .opt_level(3)
        .warnings(true)
        .include(include_dir)
        .files(&sources);
    for (name, value) in &engine.defines {
        build.define(name, value.as_str());
    }
    build.compile("lofi_engine");
    for lib in &engine.link_libs {
        println!("cargo:rustc-link-lib={lib}");
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
