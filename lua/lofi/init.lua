---@mod lofi lofi.nvim: local lofi beats, generated and played by lofi-daemon.
---
--- Every function that talks to the daemon is asynchronous: it returns at once (with
--- the last known value where it has one) and, given a callback, calls it on the main
--- loop with `(err, result)` once the daemon answers. `err` is a |lofi.Error|.

local config = require("lofi.config")
local daemon = require("lofi.daemon")
local events = require("lofi.events")
local session = require("lofi.session")
local state = require("lofi.state")
local track_id = require("lofi.track_id")

local M = {}

---@alias lofi.Callback fun(err: lofi.Error?, result: any)

local autocmds_made = false

local function stop_on_leave()
  if autocmds_made then
    return
  end
  autocmds_made = true
  vim.api.nvim_create_autocmd("VimLeavePre", {
    group = vim.api.nvim_create_augroup("lofi", { clear = true }),
    callback = function()
      if config.current.daemon.auto_stop then
        daemon.stop()
      end
    end,
  })
end

--- Applies the configuration (deep-merged over the defaults, validated). Calling it
--- again hot-reloads: keymaps and ui at once; defaults, prefetch, playback and cache
--- limits before the next command; daemon, model, audio and cache.dir on restart.
---@param opts table?
function M.setup(opts)
  vim.g.lofi_did_setup = true
  local resolved = config.resolve(opts)
  local old = config.current
  config.current = resolved.config
  config.problems = resolved.problems
  if #resolved.problems > 0 then
    vim.notify(
      "lofi: configuration problems (defaults used instead):\n  " .. table.concat(resolved.problems, "\n  "),
      vim.log.levels.WARN
    )
  end
  require("lofi.keymaps").apply(config.current.keymaps)
  session.reconfigure(old, config.current)
  stop_on_leave()
  if config.current.ui.visualizer.statusline or package.loaded["lofi.visualizer"] then
    require("lofi.visualizer").sync() -- the statusline spectrum needs frames too
  end
end

--- Sends a request after any settings a hot reload left to send (the daemon client keeps
--- the result in lofi.state before the callback sees it); `after` runs on success.
---@param method string
---@param params table?
---@param callback lofi.Callback?
---@param after fun(result: any)?
local function call(method, params, callback, after)
  session.flush()
  stop_on_leave()
  daemon.request(method, params, function(err, result)
    if not err and after then
      after(result)
    end
    if callback then
      callback(err, result)
    elseif err then
      require("lofi.ui").error(err)
    end
  end)
end

local function refresh_tracks()
  session.refresh({ "tracks", "playlist" })
end

---@class lofi.GenerateOpts
---@field prompt string?
---@field duration_sec number?
---@field seed integer?     nil = random (drawn here, reported in the result)
---@field priority "normal"|"high"?
---@field play boolean?     default: playback.auto_play

--- Queues a generation. Returns the track id when the daemon is known to be running
--- (nil before its first start); the callback always gets `{track_id, status, position, seed}`.
---@param opts lofi.GenerateOpts?
---@param callback lofi.Callback?
---@return string? track_id
function M.generate(opts, callback)
  opts = opts or {}
  if type(opts) ~= "table" or (opts.prompt ~= nil and type(opts.prompt) ~= "string") then
    local err = require("lofi.errors").new("INVALID_PARAMS", "generate() takes { prompt = string, ... }")
    return (callback or require("lofi.ui").error)(err)
  end
  local d = config.current.defaults
  local prompt = vim.trim(opts.prompt or d.prompt)
  local seed = opts.seed or d.seed or track_id.random_seed()
  local duration = opts.duration_sec or d.duration_sec
  local play = opts.play
  if play == nil then
    play = config.current.playback.auto_play
  end
  -- Anything else the daemon checks and answers with INVALID_PARAMS (field named).
  local computable = type(seed) == "number" and seed == math.floor(seed) and type(duration) == "number"
  local id = computable
    and state.current.model
    and daemon.is_running()
    and track_id.compute(prompt, seed, duration, state.current.model.model_version)
  if id then
    session.expect(id)
  end
  call(
    "generate",
    {
      prompt = prompt,
      seed = seed,
      duration_sec = duration,
      priority = opts.priority or "normal",
      play = play,
    },
    callback,
    function(result)
      session.expect(result.track_id)
    end
  )
  return id or nil
end

--- The generation queue as last heard (`{current, pending}`); the callback gets it fresh.
---@param callback lofi.Callback?
---@return table
function M.queue(callback)
  call("queue_status", nil, callback)
  return state.current.queue
end

--- Cancels a queued generation (the active one cannot be: GENERATION_IN_PROGRESS).
---@param id string
---@param callback lofi.Callback?
function M.cancel(id, callback)
  call("queue_cancel", { track_id = id }, callback)
end

--- Plays a track; without one resumes, or plays the playlist, or the most recent track,
--- or generates one when the cache is empty.
---@param id string?
---@param callback lofi.Callback?
function M.play(id, callback)
  call("play", id and { track_id = id } or nil, callback)
end

---@param id string
---@param callback lofi.Callback?
function M.playlist_add(id, callback)
  call("playlist_add", { track_id = id }, callback)
end

--- The playlist as last heard (track ids); the callback gets it fresh.
---@param callback lofi.Callback?
---@return string[]
function M.playlist(callback)
  call("playlist_get", nil, callback and function(err, result)
    callback(err, result and result.tracks)
  end)
  return state.current.playlist
end

---@param callback lofi.Callback?
function M.playlist_clear(callback)
  call("playlist_clear", nil, callback)
end

---@param callback lofi.Callback?
function M.pause(callback)
  call("pause", nil, callback)
end

---@param callback lofi.Callback?
function M.resume(callback)
  call("resume", nil, callback)
end

--- Pauses when playing, resumes when paused, otherwise plays (generating when nothing is cached).
---@param callback lofi.Callback?
function M.toggle(callback)
  local playback = state.current.playback.state
  if daemon.is_running() and playback == "playing" then
    M.pause(callback)
  elseif daemon.is_running() and playback == "paused" then
    M.resume(callback)
  else
    M.play(nil, callback)
  end
end

--- Stops at once (no fade) and resets the playlist position.
---@param callback lofi.Callback?
function M.stop(callback)
  call("stop", nil, callback)
end

--- Crossfades to the next playlist track.
---@param callback lofi.Callback?
function M.skip(callback)
  call("skip", nil, callback)
end

--- Sets the volume (0.0–1.0) when given a level; returns the volume. The plugin owns the level
--- (the daemon changes it only when asked), so it is read back from the configuration.
---@param level number?
---@param callback lofi.Callback?
---@return number
function M.volume(level, callback)
  if level == nil then
    return config.current.playback.volume
  end
  if type(level) ~= "number" or level < 0 or level > 1 then
    local err = require("lofi.errors").new("INVALID_PARAMS", "volume must be a number from 0.0 to 1.0")
    if callback then
      callback(err)
    else
      require("lofi.ui").error(err)
    end
    return M.volume()
  end
  -- Kept as the configured volume so a restarted daemon comes back at this level.
  config.current.playback.volume = level
  call("volume_set", { level = level }, function(err, result)
    if callback then
      callback(err, result)
    elseif err then
      require("lofi.ui").error(err)
    end
  end)
  return level
end

--- The daemon's full status as last heard; the callback gets it fresh.
---@param callback lofi.Callback?
---@return table
function M.status(callback)
  if callback or daemon.is_running() then
    call("status", nil, callback or function() end)
  end
  local s = state.current
  return {
    playback = vim.tbl_extend("force", s.playback, { position_sec = state.position() }),
    generation = s.generation,
    queue_length = s.queue_length,
    playlist_length = #s.playlist,
    cache_size_mb = s.cache_size_mb,
    audio_device = s.audio_device,
    model = s.model,
    radio = s.radio,
    daemon_running = daemon.is_running(),
  }
end

---@return boolean
function M.is_playing()
  return state.current.playback.state == "playing"
end

---@return boolean
function M.is_generating()
  return state.current.generation.active == true
end

M.on = events.on

--- Cached tracks as last heard (most recently used first); the callback gets them fresh.
---@param callback lofi.Callback?
---@return table[]
function M.cache(callback)
  call("cache_list", nil, callback)
  return state.current.tracks
end

---@param id string
---@param callback lofi.Callback?
function M.cache_delete(id, callback)
  call("cache_delete", { track_id = id }, callback, refresh_tracks)
end

---@param callback lofi.Callback?
function M.cache_clear(callback)
  call("cache_clear", nil, callback, refresh_tracks)
end

--- Audio devices (`{current, available}`) as last heard; the callback gets them fresh.
---@param callback lofi.Callback?
---@return table?
function M.devices(callback)
  call("audio_devices", nil, callback)
  return state.current.devices
end

--- Switches the output device live ("none" = silent clock).
---@param name string
---@param callback lofi.Callback?
function M.device(name, callback)
  call("audio_device_set", { device = name }, callback)
end

--- A block-character waveform of a cached track: the callback gets `{track_id, lines}`.
---@param id string
---@param size { width: integer?, rows: integer? }?
---@param callback lofi.Callback
function M.waveform(id, size, callback)
  size = size or {}
  call("track_waveform", { track_id = id, width = size.width, rows = size.rows }, callback)
end

--- Opens or closes the visualizer window (see |lofi-visualizer|).
function M.visualizer()
  require("lofi.visualizer").toggle()
end

---@class lofi.RadioOpts
---@field prompt string?  default: defaults.prompt
---@field seed integer?   nil = random

--- Starts the radio (see |lofi-radio|): music without end, steered by |lofi.radio_prompt()|.
--- It replaces the playlist; the callback gets the radio's status.
---@param opts lofi.RadioOpts?
---@param callback lofi.Callback?
function M.radio(opts, callback)
  opts = opts or {}
  vim.validate("opts.prompt", opts.prompt, "string", true)
  vim.validate("opts.seed", opts.seed, "number", true)
  call("radio_start", { prompt = opts.prompt, seed = opts.seed }, callback)
end

--- Steers the radio to `prompt`: with MusicGen a new song starts at once (what was made ahead
--- leaves the playlist); the procedural score changes at its next bar line.
---@param prompt string
---@param callback lofi.Callback?
function M.radio_prompt(prompt, callback)
  vim.validate("prompt", prompt, "string")
  call("radio_prompt", { prompt = prompt }, callback)
end

--- Stops the radio and what plays (its segments stay in the cache and the playlist).
---@param callback lofi.Callback?
function M.radio_stop(callback)
  call("radio_stop", nil, callback)
end

--- The statusline component (see |lofi-statusline|).
---@return string
function M.statusline()
  return require("lofi.ui").statusline()
end

return M
