---@mod lofi.events Subscriptions to the plugin's events.

local M = {}

---@alias lofi.Event
---| "generation_start"    { track_id }
---| "generation_progress" { track_id, percent, eta_sec, tokens_generated, tokens_estimated }
---| "generation_complete" { track_id, path, duration_sec, prompt, seed, ... }
---| "generation_error"    { track_id, message, code, prefetch, stand_in }
---| "playback_start"      { track_id }
---| "playback_pause"      { track_id }
---| "playback_resume"     { track_id }
---| "playback_end"        { track_id, reason, message? } reason: finished|skipped|stopped|error
---| "playlist_changed"    { tracks, removed, reason } reason: added|cleared|removed|not_in_cache|unplayable
---| "daemon_error"        { message, code }
---| "daemon_warning"      { message, code }
---| "daemon_exit"         { code, signal }
---| "daemon_restart"      {}
---| "audio_device_restored" { device }
---| "visualizer_frame"    { bands, position_sec } 10 levels 0-1, 32 Hz … 16 kHz; only while subscribed
---| "radio_segment"       { track, bridge, radio } a radio segment (or bridge) joined the playlist
---| "radio_stopped"       { reason, message } the radio ended: stop, play (another track), or an error

--- The one table between the daemon's notification names and the plugin's event names
--- (the spec's API names differ for the playback events). A test checks it covers every
--- notification in lofi.described.
---@type table<string, lofi.Event>
M.from_daemon = {
  generation_started = "generation_start",
  generation_progress = "generation_progress",
  generation_complete = "generation_complete",
  generation_error = "generation_error",
  playback_started = "playback_start",
  playback_paused = "playback_pause",
  playback_resumed = "playback_resume",
  playback_ended = "playback_end",
  playlist_changed = "playlist_changed",
  daemon_error = "daemon_error",
  daemon_warning = "daemon_warning",
  audio_device_restored = "audio_device_restored",
  visualizer_frame = "visualizer_frame",
  radio_segment = "radio_segment",
  radio_stopped = "radio_stopped",
}

--- Every event: the daemon's, then the plugin's own about the daemon process.
---@type lofi.Event[]
M.names = vim.list_extend(vim.tbl_values(M.from_daemon), { "daemon_exit", "daemon_restart" })
table.sort(M.names)

---@type table<string, fun(data: table)[]>
local listeners = {}

--- Subscribes `callback` to `event`; returns a function that unsubscribes it.
---@param event lofi.Event
---@param callback fun(data: table)
---@return fun()
function M.on(event, callback)
  if not vim.tbl_contains(M.names, event) then
    error(("lofi: unknown event %q (known: %s)"):format(tostring(event), table.concat(M.names, ", ")), 2)
  end
  if type(callback) ~= "function" then
    error("lofi: on() expects a function, got " .. type(callback), 2)
  end
  listeners[event] = listeners[event] or {}
  table.insert(listeners[event], callback)
  return function()
    for i, fn in ipairs(listeners[event] or {}) do
      if fn == callback then
        table.remove(listeners[event], i)
        return
      end
    end
  end
end

local function camel(event)
  return (event:gsub("^%l", string.upper):gsub("_(%l)", string.upper))
end

--- Calls every listener of `event` (a failing listener is reported, the others still run),
--- then fires `User Lofi<Event>` autocmds. Call from the main loop only.
---@param event lofi.Event
---@param data table
function M.emit(event, data)
  for _, fn in ipairs(vim.list_slice(listeners[event] or {})) do
    local ok, err = pcall(fn, data)
    if not ok then
      vim.notify(("lofi: a %s listener failed: %s"):format(event, err), vim.log.levels.ERROR)
    end
  end
  vim.api.nvim_exec_autocmds("User", { pattern = "Lofi" .. camel(event), data = data, modeline = false })
end

return M
