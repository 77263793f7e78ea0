---@mod lofi.session What the plugin does with the daemon's words: events, state, settings.
---
--- Routes notifications to the state, the UI and the event listeners; sends the
--- user's settings at every (re)start and, after a hot reload, before the next command.

local config = require("lofi.config")
local daemon = require("lofi.daemon")
local events = require("lofi.events")
local progress = require("lofi.progress")
local state = require("lofi.state")
local ui = require("lofi.ui")

local M = {}

-- Tracks the user asked for; prefetches stay quiet (statusline only).
local requested = {} ---@type table<string, boolean>

---@param track_id string
function M.expect(track_id)
  requested[track_id] = true
end

-- What refresh() can ask for, and the method that answers it (state.reduce stores it).
local method_of = { status = "status", tracks = "cache_list", playlist = "playlist_get", queue = "queue_status" }

--- Asks the daemon for fresh state, if it is running (never starts it).
---@param what ("status"|"tracks"|"playlist"|"queue")[]
---@param done fun()? called once every answer is in
function M.refresh(what, done)
  done = done or function() end
  if not daemon.is_running() then
    return done()
  end
  local left = #what
  for _, name in ipairs(what) do
    daemon.request(method_of[name], nil, function()
      left = left - 1
      if left == 0 then
        done()
      end
    end)
  end
end

local warned = {} ---@type table<string, boolean>

-- Kinds of failure (error codes) of tracks made ahead, said since a track was last made: the
-- daemon tries again at each track's half way, and a model that fails (a file replaced under
-- it) fails every time, so each kind is said once until a track is made again.
local failed_ahead = {} ---@type table<string, boolean>

local reactions = {
  generation_progress = function(data)
    if requested[data.track_id] then
      progress.update(data)
    end
  end,
  generation_complete = function(data)
    progress.finish(data.track_id)
    failed_ahead = {}
    if requested[data.track_id] then
      requested[data.track_id] = nil
      ui.notify(
        ("lofi: %s ready: %s (%s, %d s)"):format(
          config.current.ui.icons.music,
          data.prompt or "",
          data.track_id,
          math.floor((data.duration_sec or 0) + 0.5)
        )
      )
    end
    -- The track came with the event, the playlist comes with playlist_changed; the status
    -- (queue length, cache size) is asked for.
    M.refresh({ "status" })
  end,
  generation_error = function(data)
    progress.finish(data.track_id)
    requested[data.track_id] = nil
    M.refresh({ "status" })
    -- A stand-in's failure is followed by the outcome of the track it stood in for.
    if data.stand_in == true or (data.prefetch == true and failed_ahead[data.code]) then
      return
    end
    failed_ahead[data.code] = failed_ahead[data.code] or data.prefetch == true
    local what = data.prefetch == true and "making %s ahead" or "generating %s"
    ui.notify(
      ("lofi: " .. what .. " failed: %s (%s)"):format(data.track_id, data.message, data.code),
      vim.log.levels.ERROR
    )
  end,
  daemon_error = function(data)
    ui.notify(("lofi: %s (%s)"):format(data.message, data.code), vim.log.levels.ERROR)
  end,
  daemon_warning = function(data)
    -- A degraded mode is worth one sentence per session, not one per start.
    if not warned[data.code] then
      warned[data.code] = true
      ui.notify(("lofi: %s (%s)"):format(data.message, data.code), vim.log.levels.WARN)
    end
  end,
  audio_device_restored = function(data)
    ui.notify(("lofi: audio device %s is back"):format(data.device or ""))
  end,
  radio_stopped = function(data)
    -- Leaving the radio (stop, another track) is what was asked; a failure is worth saying.
    if data.message and data.message ~= vim.NIL then
      ui.notify(("lofi: the radio stopped: %s (%s)"):format(data.message, data.reason), vim.log.levels.ERROR)
    end
  end,
}

local function on_playback_event()
  M.refresh({ "status" })
end
for _, name in ipairs({ "playback_start", "playback_pause", "playback_resume" }) do
  reactions[name] = on_playback_event
end
function reactions.playback_end(data)
  if data.reason == "error" then
    -- The daemon dropped a track it could not load from the playlist and went on.
    ui.notify(
      ("lofi: skipped %s: %s"):format(data.track_id, data.message or "it cannot be played"),
      vim.log.levels.WARN
    )
  end
  on_playback_event()
end

-- The state's one writer: every reply and every notification goes through state.reduce.
---@param method string
---@param result any
function daemon.on_reply(method, result)
  state.reduce(method, result)
end

---@param method string
---@param params table
function daemon.on_notification(method, params)
  local event = events.from_daemon[method]
  if not event then
    return -- a newer daemon's notification: nothing here knows it
  end
  state.reduce(event, params)
  local react = reactions[event]
  if react then
    react(params)
  end
  events.emit(event, params)
end

local function config_requests(c)
  return {
    prefetch = {
      "prefetch_config",
      { enabled = c.prefetch.enabled, strategy = c.prefetch.strategy, presets = c.prefetch.presets },
    },
    crossfade = { "crossfade_set", { duration_sec = c.playback.crossfade_sec } },
    loop = { "playback_config", { loop = c.playback.loop } },
    volume = { "volume_set", { level = c.playback.volume } },
    cache = { "cache_config", { max_mb = c.cache.max_mb, max_tracks = c.cache.max_tracks or vim.NIL } },
  }
end

local function send(names)
  local requests = config_requests(config.current)
  for _, name in ipairs(names) do
    daemon.request(requests[name][1], requests[name][2], function(err)
      if err then
        ui.error(err)
      end
    end)
  end
end

---@param restarted boolean
function daemon.on_start(restarted)
  -- Every setting a running daemon can change travels by request, these first: requests are
  -- answered in order, so the daemon has them all before the request that started it.
  send({ "volume", "cache", "prefetch", "crossfade", "loop" })
  daemon.request("status", nil, function(err)
    if not err and restarted then
      events.emit("daemon_restart", {})
    end
  end)
  M.refresh({ "tracks", "playlist" })
end

events.on("daemon_exit", function()
  state.reset()
  requested = {}
  failed_ahead = {}
end)

-- Settings changed by a later setup(): which requests carry them, and which need a restart.
local dirty = {} ---@type table<string, boolean>

local function changed(old, new, path)
  local a, b = old, new
  for key in path:gmatch("[^.]+") do
    a, b = a and a[key], b and b[key]
  end
  return not vim.deep_equal(a, b)
end

local live = {
  prefetch = { "prefetch" },
  crossfade = { "playback.crossfade_sec" },
  loop = { "playback.loop" },
  volume = { "playback.volume" },
  cache = { "cache.max_mb", "cache.max_tracks" },
}
local needs_restart = { "daemon", "model", "audio", "cache.dir" }

--- Compares two configurations after setup() ran again.
---@param old lofi.Config
---@param new lofi.Config
function M.reconfigure(old, new)
  for name, paths in pairs(live) do
    for _, path in ipairs(paths) do
      if changed(old, new, path) then
        dirty[name] = true
      end
    end
  end
  if daemon.is_running() then
    local stale = vim.tbl_filter(function(path)
      return changed(old, new, path)
    end, needs_restart)
    if #stale > 0 then
      ui.notify(
        ("lofi: %s changed; :Lofi daemon restart applies it"):format(table.concat(stale, ", ")),
        vim.log.levels.WARN
      )
    end
  else
    dirty = {} -- the next start sends everything
  end
end

--- Sends the settings a hot reload changed; called before each command.
function M.flush()
  if not daemon.is_running() or next(dirty) == nil then
    return
  end
  local names = vim.tbl_keys(dirty)
  table.sort(names)
  dirty = {}
  send(names)
end

return M
