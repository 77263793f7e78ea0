---@mod lofi.health :checkhealth lofi

local config = require("lofi.config")
local daemon = require("lofi.daemon")

local uv = vim.uv or vim.loop
local health = vim.health

local M = {}

--- Asks the running (or just started) daemon; waits at most 3 s — :checkhealth is synchronous.
---@return any result, lofi.Error? err
local function ask(method)
  local done, result, failure = false, nil, nil
  daemon.request(method, nil, function(err, res)
    done, result, failure = true, res, err
  end)
  vim.wait(3000, function()
    return done
  end, 10)
  if not done then
    return nil, { code = "DAEMON_TIMEOUT", message = "no answer within 3 s" }
  end
  return result, failure
end

local function check_neovim()
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. tostring(vim.version()) .. " (needs ≥ 0.10)")
  else
    health.error("Neovim " .. tostring(vim.version()) .. " is too old: lofi.nvim needs ≥ 0.10")
  end
end

local function check_config()
  if #config.problems == 0 then
    health.ok("configuration is valid")
  end
  for _, problem in ipairs(config.problems) do
    health.warn("config: " .. problem, "fix it in setup(); the default is used meanwhile")
  end
end

---@class lofi.health.Binary
---@field path string
---@field ggml_variant string? which ggml-cpu runs ("zen4, chosen at run time among ...", "built in, for ...")
---@field ggml_features string? CPU features GGML was compiled for
---@field cpu_kernels string? the level of lofi's own CPU kernels on this CPU ("avx512-vnni", "avx-vnni", "avx2", "neon-dotprod", "portable")
---@field accelerators string? GPUs the daemon's build can compute on ("none" when none)

---@return lofi.health.Binary? binary nil when missing or not runnable
local function check_binary()
  local bin, err = daemon.find_bin()
  if not bin then
    health.error(
      err.message .. " (DAEMON_NOT_FOUND)",
      { "run ./install.sh in the plugin directory", "or set daemon.bin" }
    )
    return nil
  end
  local run = vim.system({ bin, "--version", "--verbose" }, { text = true }):wait(3000)
  if run.code ~= 0 then
    health.error(("lofi-daemon at %s does not run: %s"):format(bin, vim.trim(run.stderr or "")))
    return nil
  end
  local out = run.stdout or ""
  health.ok(("lofi-daemon binary found: %s (%s)"):format(bin, vim.trim(out:match("^[^\n]*"))))
  return {
    path = bin,
    ggml_variant = out:match("ggml CPU variant: ([^\n]*)"),
    ggml_features = out:match("ggml CPU features: ([^\n]*)"),
    cpu_kernels = out:match("lofi CPU kernels %b(): ([^\n]*)"),
    accelerators = out:match("ggml accelerators: ([^\n]*)"),
  }
end

--- The ggml backend's own load-time checks on the model file (`lofi-daemon --verify-model`).
---@param bin string
---@param path string
local function verify_model(bin, path)
  local run = vim.system({ bin, "--verify-model", path }, { text = true }):wait(10000)
  if run.code == 0 then
    local quant = (run.stdout or ""):match("quantization%s+([^\n]*)") or "?"
    health.ok(("model verified: %s (%s)"):format(path, quant))
  else
    health.error(
      vim.trim(run.stderr ~= "" and run.stderr or "model verification did not finish"),
      { "reinstall it with :Lofi model install (or ./install.sh --model PATH)" }
    )
  end
end

--- model.device against the GPUs the daemon's build found on this machine.
---@param accelerators string? "kind: description; ..." or "none"
local function check_device(accelerators)
  local wanted = config.current.model.device
  if not accelerators or config.current.model.backend ~= "ggml" then
    return
  end
  if wanted == "cpu" then
    health.ok("model.device = cpu" .. (accelerators ~= "none" and (" (also available: " .. accelerators .. ")") or ""))
  elseif wanted == "auto" then
    health.ok(
      "model.device = auto: "
        .. (accelerators == "none" and "no GPU backend found, generation runs on the CPU" or accelerators)
    )
  elseif not accelerators:find(wanted .. ":", 1, true) then
    health.error(
      ("model.device = %q but the daemon finds no %s device (it has: %s): the procedural backend plays instead"):format(
        wanted,
        wanted,
        accelerators
      ),
      {
        ('build the daemon with `cargo build --release -p lofi-daemon --features %s`, or set model.device = "auto"'):format(
          wanted
        ),
      }
    )
  else
    health.ok(("model.device = %s: %s"):format(wanted, accelerators))
  end
end

---@param status table? the daemon's status reply
---@param bin string? the daemon binary
local function check_model(status, bin)
  local c = config.current
  local path = config.weights_path()
  local stat = uv.fs_stat(path)
  if c.model.backend == "procedural" then
    health.ok("backend: procedural (instant, needs no model)")
  elseif not stat then
    local report = c.model.backend == "ggml" and health.warn or health.info
    local advice =
      "install MusicGen with :Lofi model install (or ./install.sh --model musicgen-small, or --model FILE.gguf)"
    report(("no model at %s: the procedural backend plays instead"):format(path), { advice })
  else
    health.info(("model file: %s (%.0f MB)"):format(path, stat.size / 1e6))
    if bin then
      verify_model(bin, path)
    end
  end
  if status and status.model then
    local m = status.model
    local wanted = c.model.backend ~= "procedural" and stat
    local report = (wanted and m.backend ~= "ggml") and health.warn or health.ok
    report(("the daemon generates with: %s (%s, %s)"):format(m.backend, m.model_version, m.device))
  end
end

local function check_audio()
  local devices, err = ask("audio_devices")
  if err then
    health.error("cannot list audio devices: " .. err.message)
    return
  end
  local current = devices.output or {}
  if devices.current == "none" then
    health.warn("audio output: none (silent clock)", { "set audio.device = nil for the system default" })
  elseif current.sample_rate then
    health.ok(("audio device: %s (%d Hz)"):format(devices.current, current.sample_rate))
  else
    local real = vim.tbl_filter(function(d)
      return d.name ~= "none"
    end, devices.available or {})
    if #real == 0 then
      health.warn("no audio device found: playback runs silently until one appears", {
        'check `aplay -l`, or set audio.device = "none" on a headless machine',
      })
    else
      health.ok(("audio devices: %s"):format(table.concat(
        vim.tbl_map(function(d)
          return d.name .. (d.is_default and " (default)" or "")
        end, real),
        ", "
      )))
    end
  end
end

local function cpu_flags()
  local file = io.open("/proc/cpuinfo", "r")
  if file then
    local text = file:read("*a")
    file:close()
    return " " .. (text:match("\nflags%s*:%s*([^\n]*)") or text:match("\nFeatures%s*:%s*([^\n]*)") or "") .. " "
  end
  local sysctl = vim
    .system({ "sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features" }, { text = true })
    :wait(1000)
  return " " .. (sysctl.stdout or ""):lower() .. " "
end

---@param ggml_variant string? which ggml-cpu the daemon runs
---@param ggml_features string? what the daemon's GGML was compiled for
---@param cpu_kernels string? what lofi's own CPU kernels chose on this CPU
local function check_cpu(ggml_variant, ggml_features, cpu_kernels)
  if ggml_variant and ggml_variant:match("^none") then
    health.error("GGML CPU variant " .. ggml_variant, {
      "AI generation (the ggml backend) cannot run; run ./install.sh again",
      "the procedural backend is unaffected",
    })
  elseif ggml_variant then
    health.info("GGML CPU variant: " .. ggml_variant)
  end
  if ggml_features then
    health.info("GGML compiled for: " .. ggml_features)
  end
  if cpu_kernels and cpu_kernels:match("^portable") then
    health.warn(
      "MusicGen CPU kernels (quantized products, attention, ELU, GELU): "
        .. cpu_kernels
        .. ": AI generation will be slow",
      {
        "the fast ones need AVX2 (x86-64) or Armv8.2-A's dot products (64-bit ARM; a Raspberry Pi 4 has none)",
        "unless LOFI_CPU_KERNELS in the daemon's environment caps them",
        "the procedural backend is unaffected",
      }
    )
  elseif cpu_kernels then
    health.info("MusicGen CPU kernels (quantized products, attention, ELU, GELU): " .. cpu_kernels)
  end
  local flags = cpu_flags()
  local arch = uv.os_uname().machine
  local has = function(flag)
    return flags:find(" " .. flag .. " ", 1, true) ~= nil
  end
  if arch == "x86_64" then
    if has("avx2") then
      health.ok("CPU supports AVX2" .. (has("fma") and " and FMA" or "") .. (has("avx512f") and ", AVX-512" or ""))
    else
      health.warn("CPU lacks AVX2: AI generation will be slow", { "the procedural backend is unaffected" })
    end
  else
    health.ok(("CPU: %s%s"):format(arch, (has("asimd") or arch == "arm64") and " with NEON" or ""))
  end
  health.info(
    ("%d CPU threads available for generation"):format(uv.available_parallelism and uv.available_parallelism() or 1)
  )
end

local function check_tools()
  health.start("Audio encoding")
  if vim.fn.executable("lame") == 1 then
    health.ok('lame found: MP3 caching available (audio.format = "mp3")')
  elseif config.current.audio.format == "mp3" then
    health.warn("lame not found: MP3 caching disabled, tracks are cached as WAV", {
      'install lame for ~85% smaller cache, or set audio.format = "wav" to silence this',
    })
  else
    health.info('lame not found: only needed for audio.format = "mp3"')
  end
  if vim.fn.executable("sox") == 1 then
    health.ok("sox found (not needed: the daemon draws waveforms itself)")
  else
    health.info("sox not found: not needed, the daemon draws the Telescope waveform preview")
  end
end

local function check_integrations()
  health.start("Optional integrations")
  local function optional(module, name, gives)
    if pcall(require, module) then
      health.ok(("%s: %s"):format(name, gives))
    else
      health.info(("%s not installed (%s)"):format(name, gives))
    end
  end
  optional("telescope", "telescope.nvim", ":Telescope lofi tracks / prompts, and :Lofi list")
  optional("snacks", "snacks.nvim", ":Lofi list in Snacks.picker when Telescope is absent (ui.picker)")
  optional("fidget", "fidget.nvim", 'ui.progress = "fidget"')
  optional("mini.notify", "mini.notify", 'ui.progress = "mini"')
  optional("notify", "nvim-notify", 'ui.progress = "notify"')
  optional("lualine", "lualine.nvim", 'the "lofi" statusline component')
  local mode = config.current.ui.progress
  local needs = { fidget = "fidget", mini = "mini.notify" }
  if needs[mode] and not pcall(require, needs[mode]) then
    health.warn(("ui.progress = %q but %s is not installed: progress shows in the cmdline"):format(mode, needs[mode]))
  end
  local picker = config.current.ui.picker
  local used = require("lofi.picker").backend()
  if picker ~= "auto" and picker ~= used then
    health.warn(("ui.picker = %q but %s is not installed: :Lofi list uses %s"):format(picker, picker, used))
  else
    health.ok(":Lofi list uses " .. (used == "select" and "vim.ui.select" or used))
  end
end

function M.check()
  health.start("lofi.nvim")
  check_neovim()
  check_config()
  local binary = check_binary()
  if binary then
    local status, err = ask("status")
    if err then
      health.error(
        "the daemon does not answer: " .. err.message .. " (" .. err.code .. ")",
        { ":Lofi log shows its output" }
      )
    else
      health.ok(("daemon running (pid %d, v%s)"):format(daemon.pid() or 0, status.version))
    end
    check_model(status, binary.path)
    check_device(binary.accelerators)
    if not err then
      check_audio()
    end
  end
  check_cpu(binary and binary.ggml_variant, binary and binary.ggml_features, binary and binary.cpu_kernels)
  check_tools()
  check_integrations()
end

return M
