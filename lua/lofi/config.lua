---@mod lofi.config Defaults, validation and merging of the user's configuration.

local described = require("lofi.described")

local M = {}

--- The official text-to-music checkpoints (model.name; :Lofi model install completes them).
M.model_names = {
  "musicgen-small",
  "musicgen-medium",
  "musicgen-large",
  "musicgen-stereo-small",
  "musicgen-stereo-medium",
  "musicgen-stereo-large",
}

---@class lofi.Config
---@field daemon lofi.DaemonConfig
---@field model lofi.ModelConfig
---@field defaults lofi.DefaultsConfig
---@field prefetch lofi.PrefetchConfig
---@field playback lofi.PlaybackConfig
---@field audio lofi.AudioConfig
---@field cache lofi.CacheConfig
---@field ui lofi.UiConfig
---@field keymaps lofi.KeymapsConfig|false

---@class lofi.DaemonConfig
---@field bin string?              Path of lofi-daemon; nil = plugin bin/, stdpath("data")/lofi/bin, PATH
---@field auto_start boolean       Start the daemon on first use
---@field auto_stop boolean        Stop the daemon on VimLeavePre
---@field restart_on_crash boolean Restart it (with back-off) when it dies
---@field idle_timeout_sec integer Daemon exits after this many idle seconds (0 = never)
---@field log_level "debug"|"info"|"warn"|"error"
---@field log_file string?         nil = keep the daemon's log in memory (:Lofi log)
---@field timeout_ms integer       A request without an answer after this long fails with DAEMON_TIMEOUT

---@class lofi.ModelConfig
---@field backend "auto"|"ggml"|"procedural"  auto = ggml when the model file exists, else procedural
---@field name "musicgen-small"|"musicgen-medium"|"musicgen-large"|"musicgen-stereo-small"|"musicgen-stereo-medium"|"musicgen-stereo-large"  which checkpoint (:Lofi model install's default; stereo-* make stereo tracks)
---@field weights_path string?     nil = stdpath("data")/lofi/models/<name>-<quantization>.gguf
---@field quantization "Q4_K_M"|"Q5_K_M"|"Q8_0"|"F16"
---@field device "auto"|"cpu"|"cuda"|"vulkan"|"metal"  auto = the first GPU the daemon's build can use, else the CPU
---@field threads integer?
---@field keep_loaded_sec integer Hand the model's memory back after this many seconds unused (0 = keep it)

---@class lofi.DefaultsConfig
---@field prompt string
---@field duration_sec number
---@field seed integer?

---@class lofi.PrefetchConfig
---@field enabled boolean
---@field strategy "same_prompt"|"preset_cycle"|"random_preset"
---@field presets string[]

---@class lofi.PlaybackConfig
---@field volume number            0.0–1.0
---@field loop boolean
---@field crossfade_sec number     0 disables
---@field auto_play boolean        Play a track as soon as its generation completes

---@class lofi.AudioConfig
---@field device string?           nil = system default; "none" = silent clock
---@field format "wav"|"mp3"

---@class lofi.CacheConfig
---@field dir string
---@field max_mb number
---@field max_tracks integer?

---@class lofi.UiConfig
---@field notify boolean
---@field notify_level integer
---@field progress "cmdline"|"fidget"|"mini"|"notify"|"none"
---@field picker "auto"|"telescope"|"snacks"|"select" auto: Telescope, then snacks.nvim, then vim.ui.select
---@field statusline boolean
---@field icons { playing: string, paused: string, generating: string, music: string, radio: string }
---@field visualizer lofi.VisualizerConfig

---@class lofi.VisualizerConfig
---@field layout "float"|"split"
---@field style "rings"|"bars"         rings: bass at the centre, treble at the edge
---@field preset "calm"|"lively"|"minimal" how fast levels rise and fall, and the kick flare
---@field theme "auto"|"mono"|"warm"|"none" colours linked to the colourscheme's groups; none: yours
---@field fps integer                  frames a second while the window shows (1-30)
---@field size number                  the window's share of the editor (0.1-1)
---@field statusline boolean           a 10-cell spectrum in the statusline while playing

---@alias lofi.KeymapsConfig table<string, string|false>

---@return lofi.Config
function M.defaults()
  return {
    daemon = {
      bin = nil,
      auto_start = true,
      auto_stop = true,
      restart_on_crash = true,
      idle_timeout_sec = described.defaults.idle_timeout_sec,
      log_level = "warn",
      log_file = nil,
      timeout_ms = 10000,
    },
    model = {
      backend = described.defaults.backend,
      name = "musicgen-small",
      weights_path = nil,
      quantization = "Q4_K_M",
      device = "auto",
      threads = nil,
      keep_loaded_sec = described.defaults.keep_model_sec,
    },
    defaults = {
      prompt = described.defaults.prompt,
      duration_sec = described.defaults.duration_sec,
      seed = nil,
    },
    prefetch = {
      enabled = true,
      strategy = described.defaults.prefetch_strategy,
      presets = vim.deepcopy(described.defaults.prefetch_presets),
    },
    playback = {
      volume = described.defaults.volume,
      loop = true,
      crossfade_sec = described.defaults.crossfade_sec,
      auto_play = true,
    },
    audio = {
      device = nil,
      format = "wav",
    },
    cache = {
      dir = vim.fn.stdpath("cache") .. "/lofi",
      max_mb = described.defaults.cache_max_mb,
      max_tracks = nil,
    },
    ui = {
      notify = true,
      notify_level = vim.log.levels.INFO,
      progress = "cmdline",
      picker = "auto",
      statusline = true,
      icons = {
        playing = "▶",
        paused = "⏸",
        generating = "◌",
        music = "♪",
        radio = "📻",
      },
      visualizer = {
        layout = "float",
        style = "rings",
        preset = "calm",
        theme = "auto",
        fps = described.ranges.visualizer_fps[2],
        size = 0.5,
        statusline = false,
      },
    },
    keymaps = {
      toggle = "<leader>ll",
      generate = "<leader>lg",
      stop = "<leader>ls",
      skip = "<leader>ln",
      volume_up = "<leader>l=",
      volume_down = "<leader>l-",
      prompt = "<leader>lp",
      status = "<leader>li",
    },
  }
end

---@param choices string[]
local function one_of(choices)
  return function(v)
    return vim.tbl_contains(choices, v), "one of " .. table.concat(choices, ", ")
  end
end

---@param lo number
---@param hi number?
local function number_in(lo, hi)
  return function(v)
    return type(v) == "number" and v >= lo and (hi == nil or v <= hi),
      hi and ("a number from " .. lo .. " to " .. hi) or ("a number ≥ " .. lo)
  end
end

---@param lo number
---@param hi number?
local function whole_number(lo, hi)
  return function(v)
    return type(v) == "number" and v >= lo and (hi == nil or v <= hi) and v == math.floor(v),
      hi and ("a whole number from %d to %d"):format(lo, hi) or ("a whole number ≥ %d"):format(lo)
  end
end

local function optional(check)
  return function(v)
    if v == nil then
      return true
    end
    return check(v)
  end
end

local function string_list(v)
  if type(v) ~= "table" or not vim.islist(v) then
    return false, "a list of strings"
  end
  for _, item in ipairs(v) do
    if type(item) ~= "string" then
      return false, "a list of strings"
    end
  end
  return true
end

local function lhs_or_false(v)
  return type(v) == "string" or v == false, "a key sequence or false"
end

-- Each leaf is a type name, a list of type names, or a predicate returning (ok, expected).
-- Keys whose default is nil are listed too, so they are known, not "unknown".
local schema = {
  daemon = {
    bin = { "string", "nil" },
    auto_start = "boolean",
    auto_stop = "boolean",
    restart_on_crash = "boolean",
    idle_timeout_sec = whole_number(0),
    log_level = one_of({ "debug", "info", "warn", "error" }),
    log_file = { "string", "nil" },
    timeout_ms = whole_number(1),
  },
  model = {
    backend = one_of(described.choices.backend),
    name = one_of(M.model_names),
    weights_path = { "string", "nil" },
    quantization = one_of({ "Q4_K_M", "Q5_K_M", "Q8_0", "F16" }),
    device = one_of(described.choices.device),
    threads = optional(whole_number(1)),
    keep_loaded_sec = whole_number(0),
  },
  defaults = {
    prompt = "string",
    duration_sec = number_in(unpack(described.ranges.duration_sec)),
    seed = optional(whole_number(unpack(described.ranges.seed))),
  },
  prefetch = {
    enabled = "boolean",
    strategy = one_of(described.choices.prefetch_strategy),
    presets = string_list,
  },
  playback = {
    volume = number_in(unpack(described.ranges.volume)),
    loop = "boolean",
    crossfade_sec = number_in(unpack(described.ranges.crossfade_sec)),
    auto_play = "boolean",
  },
  audio = {
    device = { "string", "nil" },
    format = one_of(described.choices.format),
  },
  cache = {
    dir = "string",
    max_mb = number_in(unpack(described.ranges.cache_max_mb)),
    max_tracks = optional(whole_number(unpack(described.ranges.cache_max_tracks))),
  },
  ui = {
    notify = "boolean",
    notify_level = whole_number(0),
    progress = one_of({ "cmdline", "fidget", "mini", "notify", "none" }),
    picker = one_of({ "auto", "telescope", "snacks", "select" }),
    statusline = "boolean",
    icons = { playing = "string", paused = "string", generating = "string", music = "string", radio = "string" },
    visualizer = {
      layout = one_of({ "float", "split" }),
      style = one_of({ "rings", "bars" }),
      preset = one_of({ "calm", "lively", "minimal" }),
      theme = one_of({ "auto", "mono", "warm", "none" }),
      fps = whole_number(unpack(described.ranges.visualizer_fps)),
      size = number_in(0.1, 1),
      statusline = "boolean",
    },
  },
  keymaps = {
    toggle = lhs_or_false,
    generate = lhs_or_false,
    stop = lhs_or_false,
    skip = lhs_or_false,
    volume_up = lhs_or_false,
    volume_down = lhs_or_false,
    prompt = lhs_or_false,
    status = lhs_or_false,
  },
}

-- Sections that may also be `false` as a whole.
local may_be_false = { keymaps = true }

--- One leaf check: type names through `vim.validate(name, value, types)` (0.11's form, the
--- table form on 0.10); predicates say what they expected themselves.
---@return string? problem
local function check_leaf(path, value, rule)
  if type(rule) == "function" then
    local ok, expected = rule(value)
    return not ok and ("%s: expected %s, got %s"):format(path, expected, vim.inspect(value)) or nil
  end
  local ok, err
  if vim.fn.has("nvim-0.11") == 1 then
    ok, err = pcall(vim.validate, path, value, rule)
  else
    ok, err = pcall(vim.validate, { [path] = { value, rule } })
  end
  return not ok and (tostring(err):gsub("^.-:%d+: ", "")) or nil
end

---@param user table
---@param rules table
---@param prefix string
---@param problems string[]
local function check_section(user, rules, prefix, problems)
  for key, value in pairs(user) do
    local path = prefix == "" and tostring(key) or (prefix .. "." .. tostring(key))
    local rule = rules[key]
    if rule == nil then
      problems[#problems + 1] = ("unknown option `%s`"):format(path)
    elseif type(rule) == "table" and not vim.islist(rule) then
      if may_be_false[path] and value == false then
        -- a whole section switched off
      elseif type(value) ~= "table" then
        problems[#problems + 1] = ("%s: expected table, got %s"):format(path, type(value))
      else
        check_section(value, rule, path, problems)
      end
    else
      local problem = check_leaf(path, value, rule)
      if problem then
        problems[#problems + 1] = problem
      end
    end
  end
end

--- Drops the user's values that failed validation, so the defaults stand in for them.
local function without_invalid(user, rules, prefix, bad)
  local kept = {}
  for key, value in pairs(user) do
    local path = prefix == "" and tostring(key) or (prefix .. "." .. tostring(key))
    local rule = rules[key]
    if rule ~= nil and not bad[path] then
      if type(rule) == "table" and not vim.islist(rule) and type(value) == "table" then
        kept[key] = without_invalid(value, rule, path, bad)
      else
        kept[key] = value
      end
    end
  end
  return kept
end

---@class lofi.ConfigResult
---@field config lofi.Config
---@field problems string[] one line per unknown key or wrong value, with its key path

--- Validates `user` and deep-merges it over the defaults. Values that fail keep their defaults.
---@param user table?
---@return lofi.ConfigResult
function M.resolve(user)
  user = user or {}
  local problems = {}
  if type(user) ~= "table" then
    return { config = M.defaults(), problems = { "setup() expects a table, got " .. type(user) } }
  end
  check_section(user, schema, "", problems)
  local bad = {}
  for _, problem in ipairs(problems) do
    local path = problem:match("^unknown option `(.-)`") or problem:match("^([%w_%.]+):")
    if path then
      bad[path] = true
    end
  end
  local merged = vim.tbl_deep_extend("force", M.defaults(), without_invalid(user, schema, "", bad))
  if user.keymaps == false then
    merged.keymaps = false
  end
  if type(user.prefetch) == "table" and type(user.prefetch.presets) == "table" and not bad["prefetch.presets"] then
    merged.prefetch.presets = vim.deepcopy(user.prefetch.presets) -- a list replaces, never merges by index
  end
  return { config = merged, problems = problems }
end

---@type lofi.Config
M.current = M.defaults()
---@type string[]
M.problems = {}

--- The model file the daemon is pointed at.
---@param config lofi.Config?
---@return string
function M.weights_path(config)
  config = config or M.current
  return config.model.weights_path
    or (vim.fn.stdpath("data") .. "/lofi/models/" .. config.model.name .. "-" .. config.model.quantization .. ".gguf")
end

return M
