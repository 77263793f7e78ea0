---@mod lofi.state What the plugin last heard from the daemon: playback, generation, tracks.
---
--- Read synchronously by the statusline and the public API; written only from the
--- daemon's replies and notifications, so reading it never waits for anything.

local uv = vim.uv or vim.loop

local M = {}

---@class lofi.PlaybackState
---@field state "playing"|"paused"|"stopped"
---@field track_id string?
---@field position_sec number
---@field duration_sec number?
---@field volume number
---@field loop boolean?
---@field crossfade_sec number?

---@class lofi.GenerationState
---@field active boolean
---@field track_id string?
---@field prompt string?
---@field percent number?
---@field eta_sec number?

---@class lofi.RadioState
---@field prompt string
---@field seed integer
---@field backend "ggml"|"procedural" how a new prompt is heard: a new song, or from the next bar
---@field segments integer    segments made so far
---@field bridges integer     procedural bridges played while the generator caught up
---@field seconds_ahead number music queued ahead of the listener
---@field speed number?       generation speed, × real time (nil until measured)

--- The daemon's radio status (vim.NIL or nothing: no radio).
local function radio_of(value)
  return type(value) == "table" and value or nil
end

local function initial()
  return {
    ---@type lofi.PlaybackState
    playback = { state = "stopped", track_id = nil, position_sec = 0, duration_sec = nil, volume = nil },
    ---@type lofi.GenerationState
    generation = { active = false },
    queue = { current = nil, pending = {} },
    queue_length = 0,
    playlist = {}, ---@type string[]
    tracks = {}, ---@type table[] cache_list, most recently used first
    devices = nil, ---@type table? audio_devices result
    spectrum = nil, ---@type { bands: number[], position_sec: number, at: integer }? the latest visualizer_frame
    model = nil, ---@type table? status.model
    daemon_version = nil, ---@type string?
    audio_device = nil, ---@type string?
    cache_size_mb = nil, ---@type number?
    radio = nil, ---@type lofi.RadioState? while the radio plays
    updated_at = uv.now(),
  }
end

M.current = initial()

--- Forgets what the daemon said (it exited); the track list stays, the cache is on disk.
function M.reset()
  local tracks = M.current.tracks
  M.current = initial()
  M.current.tracks = tracks
end

---@param playback table the daemon's playback status
function M.set_playback(playback)
  if type(playback) ~= "table" or playback.state == nil then
    return
  end
  M.current.playback = playback
  M.current.updated_at = uv.now()
end

---@param status table the daemon's `status` result
function M.set_status(status)
  local s = M.current
  M.set_playback(status.playback)
  if status.generation then
    s.generation.active = status.generation.active or false
    s.generation.track_id = status.generation.track_id
    s.generation.percent = status.generation.percent
  end
  s.queue_length = status.queue_length or 0
  s.model = status.model
  s.daemon_version = status.version
  s.audio_device = status.audio_device
  s.cache_size_mb = status.cache_size_mb
  s.radio = radio_of(status.radio)
end

--- Playback position now, moved on from the last report while playing.
---@return number
function M.position()
  local p = M.current.playback
  local position = p.position_sec or 0
  if p.state == "playing" then
    position = position + (uv.now() - M.current.updated_at) / 1000
  end
  if p.duration_sec and p.duration_sec > 0 then
    position = math.min(position, p.duration_sec)
  end
  return position
end

--- What a track is called: its prompt (also while it plays as it generates), else its id.
---@param track_id string?
---@return string
function M.title(track_id)
  local track = M.track(track_id)
  local g = M.current.generation
  if track then
    return track.prompt
  elseif g.track_id == track_id and g.prompt then
    return g.prompt
  end
  return track_id or ""
end

---@param track_id string?
---@return table? the cached track's metadata
function M.track(track_id)
  for _, track in ipairs(M.current.tracks) do
    if track.track_id == track_id then
      return track
    end
  end
end

local function keep_playlist(result)
  M.current.playlist = result.tracks or {}
end

-- A generated track joins the list first (the most recently used), replacing its old entry.
local function add_track(track)
  local tracks = vim.tbl_filter(function(t)
    return t.track_id ~= track.track_id
  end, M.current.tracks or {})
  table.insert(tracks, 1, track)
  M.current.tracks = tracks
end

local function generation_over(data)
  if M.current.generation.track_id == data.track_id then
    M.current.generation = { active = false }
  end
end

local function playing(data, started)
  local p = M.current.playback
  if started and p.track_id ~= data.track_id then
    p.position_sec, p.duration_sec = 0, nil
  end
  p.state = "playing"
  p.track_id = data.track_id
  M.current.updated_at = uv.now()
end

--- How each reply (by method) and each event changes the state.
---@type table<string, fun(data: any)>
local reducers = {
  -- Replies, whoever asked.
  status = M.set_status,
  cache_list = function(result)
    M.current.tracks = result
  end,
  queue_status = function(result)
    M.current.queue = result
  end,
  playlist_get = keep_playlist,
  playlist_add = keep_playlist,
  playlist_clear = keep_playlist,
  audio_devices = function(result)
    M.current.devices = result
  end,
  audio_device_set = function(result)
    M.current.audio_device = result.current
  end,
  play = M.set_playback,
  pause = M.set_playback,
  resume = M.set_playback,
  stop = function(result)
    M.set_playback(result)
    M.current.radio = nil -- stopping leaves the radio
  end,
  skip = M.set_playback,
  -- Events.
  generation_start = function(data)
    M.current.generation = { active = true, track_id = data.track_id, prompt = data.prompt, percent = 0 }
  end,
  generation_progress = function(data)
    local g = M.current.generation
    M.current.generation = {
      active = true,
      track_id = data.track_id,
      prompt = g.track_id == data.track_id and g.prompt or nil,
      percent = data.percent,
      eta_sec = data.eta_sec,
    }
  end,
  generation_complete = function(data)
    generation_over(data)
    add_track(data)
  end,
  generation_error = generation_over,
  playback_start = function(data)
    playing(data, true)
  end,
  playback_resume = function(data)
    playing(data, false)
  end,
  playback_pause = function()
    M.current.playback.position_sec = M.position()
    M.current.playback.state = "paused"
    M.current.updated_at = uv.now()
  end,
  radio_start = function(result)
    M.current.radio = radio_of(result)
  end,
  radio_prompt = function(result)
    M.current.radio = radio_of(result)
  end,
  radio_stop = function()
    M.current.radio = nil
  end,
  radio_segment = function(data)
    M.current.radio = radio_of(data.radio)
    add_track(data.track)
  end,
  radio_stopped = function()
    M.current.radio = nil
  end,
  visualizer_frame = function(data)
    M.current.spectrum = { bands = data.bands or {}, position_sec = data.position_sec, at = uv.now() }
  end,
  playlist_changed = function(data)
    keep_playlist(data)
    if data.reason == "not_in_cache" then
      -- Deleted from the cache (here, or by another Neovim's daemon): gone from the list too.
      local removed = {} ---@type table<string, boolean>
      for _, id in ipairs(data.removed or {}) do
        removed[id] = true
      end
      M.current.tracks = vim.tbl_filter(function(track)
        return not removed[track.track_id]
      end, M.current.tracks or {})
    end
  end,
}

--- The state's one writer (called by lofi.session): the reply to the method `name`, or the
--- plugin event `name`, with its data.
---@param name string
---@param data any
function M.reduce(name, data)
  local reduce = reducers[name]
  if reduce then
    reduce(data)
  end
end

return M
