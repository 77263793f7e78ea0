#include "cpu_backend.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

#include "errors.h"

namespace lofi {

namespace {

namespace fs = std::filesystem;

struct CpuBackend {
    ggml_backend_reg_t reg = nullptr;
    std::string variant; // describe_cpu_variant's text
    std::string error;   // why reg is nullptr
};

#ifdef LOFI_GGML_BUILD_MODULE_DIR

constexpr const char *kModulePrefix = "libggml-cpu-";
constexpr const char *kModuleSuffix = ".so";

struct Module {
    std::string name; // "haswell"
    fs::path path;
};

// The CPU modules beside the running executable (an installed or unpacked release) or, for
// binaries run inside the build tree (tests, benchmarks), those the build wrote. One directory,
// never the current one: a module is code, and GGML's own search would also try the cwd.
std::vector<Module> find_modules(std::string &searched) {
    std::vector<fs::path> dirs;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        dirs.push_back(exe.parent_path());
    }
    dirs.emplace_back(LOFI_GGML_BUILD_MODULE_DIR);
    const size_t prefix = std::char_traits<char>::length(kModulePrefix);
    const size_t suffix = std::char_traits<char>::length(kModuleSuffix);
    for (const fs::path &dir : dirs) {
        searched += (searched.empty() ? "" : " or ") + dir.string();
        std::vector<Module> modules;
        for (const fs::directory_entry &entry : fs::directory_iterator(dir, ec)) {
            const std::string file = entry.path().filename().string();
            if (file.size() > prefix + suffix && file.compare(0, prefix, kModulePrefix) == 0 &&
                file.compare(file.size() - suffix, suffix, kModuleSuffix) == 0) {
                modules.push_back({file.substr(prefix, file.size() - prefix - suffix), entry.path()});
            }
        }
        if (!modules.empty()) {
            std::sort(modules.begin(), modules.end(), [](const Module &a, const Module &b) { return a.name < b.name; });
            return modules;
        }
    }
    return {};
}

// GGML's rating of a module for this CPU (its `ggml_backend_score`): 0 where it cannot run.
int score_of(const Module &module) {
    void *handle = dlopen(module.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        return 0;
    }
    auto score = reinterpret_cast<int (*)()>(dlsym(handle, "ggml_backend_score"));
    const int value = score != nullptr ? score() : 0;
    dlclose(handle);
    return value;
}

CpuBackend load_cpu_backend() {
    CpuBackend out;
    std::string searched;
    const std::vector<Module> modules = find_modules(searched);
    if (modules.empty()) {
        out.error = "no GGML CPU module (libggml-cpu-*.so) in " + searched + "; reinstall lofi-daemon";
        return out;
    }
    // LOFI_GGML_CPU_VARIANT=NAME runs that variant instead (the tests compare them).
    const char *env = std::getenv("LOFI_GGML_CPU_VARIANT");
    const std::string forced = env != nullptr ? env : "";
    std::string names;
    const Module *best = nullptr;
    int best_score = 0;
    for (const Module &module : modules) {
        names += (names.empty() ? "" : " ") + module.name;
        const int score = score_of(module);
        if ((forced.empty() || module.name == forced) && score > best_score) {
            best = &module;
            best_score = score;
        }
    }
    if (best == nullptr) {
        out.error = forced.empty() ? "none of the GGML CPU modules (" + names + ") runs on this CPU"
                                   : "the GGML CPU variant '" + forced +
                                         "' (LOFI_GGML_CPU_VARIANT) is not one this CPU runs among: " + names;
        return out;
    }
    LogCapture capture; // GGML's loader logs on stderr: the daemon's is the user's log
    out.reg = ggml_backend_load(best->path.c_str());
    if (out.reg == nullptr) {
        out.error = "GGML could not load its CPU module " + best->path.string() + ": " + capture.last_error();
        return out;
    }
    out.variant = best->name + (forced.empty() ? ", chosen at run time among " : ", forced by LOFI_GGML_CPU_VARIANT among ") +
                  names + " in " + best->path.parent_path().string();
    return out;
}

#else

CpuBackend load_cpu_backend() {
    CpuBackend out;
    out.reg = ggml_backend_reg_by_name("CPU");
    out.variant = std::string("built in, for ") + LOFI_GGML_CPU_BUILD;
    return out;
}

#endif

const CpuBackend &cpu_backend() {
    static const CpuBackend loaded = load_cpu_backend();
    return loaded;
}

} // namespace

ggml_backend_t start_cpu_backend(int threads, std::string &error) {
    ggml_backend_reg_t reg = cpu_backend().reg;
    if (reg == nullptr) {
        error = cpu_backend().error;
        return nullptr;
    }
    ggml_backend_t backend = ggml_backend_dev_init(ggml_backend_reg_dev_get(reg, 0), nullptr);
    if (backend == nullptr) {
        error = "GGML could not start its CPU backend";
        return nullptr;
    }
    set_cpu_threads(backend, threads);
    return backend;
}

void set_cpu_threads(ggml_backend_t backend, int threads) {
    static const auto set_n_threads = reinterpret_cast<ggml_backend_set_n_threads_t>(
        ggml_backend_reg_get_proc_address(cpu_backend().reg, "ggml_backend_set_n_threads"));
    set_n_threads(backend, threads);
}

std::string describe_cpu_variant() {
    return cpu_backend().reg != nullptr ? cpu_backend().variant : "none: " + cpu_backend().error;
}

std::string cpu_backend_features() {
    if (cpu_backend().reg == nullptr) {
        return "none";
    }
    auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
        ggml_backend_reg_get_proc_address(cpu_backend().reg, "ggml_backend_get_features"));
    std::string out;
    for (const ggml_backend_feature *feature = get_features(cpu_backend().reg); feature->name != nullptr; feature++) {
        out += (out.empty() ? "" : " ") + std::string(feature->name);
        if (std::string(feature->value) != "1") {
            out += std::string("=") + feature->value;
        }
    }
    return out.empty() ? "none" : out;
}

} // namespace lofi
