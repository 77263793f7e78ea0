---@mod lofi.picker Track and prompt pickers: Telescope or snacks.nvim when present (ui.picker),
--- vim.ui.select otherwise.
---
--- The entries, previews and actions live here; lofi.telescope and lofi.snacks only dress them.

local state = require("lofi.state")
local ui = require("lofi.ui")

local M = {}

---@param track table cache_list entry
---@return string
function M.track_label(track)
  return ("%s  %s  %s  %s"):format(
    track.track_id,
    ui.clock(track.duration_sec),
    os.date("%Y-%m-%d %H:%M", track.created_at or 0),
    track.prompt or ""
  )
end

--- Preview lines for a track: its metadata, then the waveform once the daemon drew it.
---@param track table
---@param waveform string[]?
---@return string[]
function M.preview_lines(track, waveform)
  local lines = {
    "Prompt:   " .. (track.prompt or ""),
    "Seed:     " .. tostring(track.seed),
    "Duration: " .. ui.clock(track.duration_sec),
    "Backend:  " .. (track.model_version or track.backend or ""),
    "Created:  " .. os.date("%Y-%m-%d %H:%M", track.created_at or 0),
    "",
  }
  vim.list_extend(lines, waveform or { "(drawing waveform…)" })
  return lines
end

--- Asks the daemon to draw `track`'s waveform `width` cells wide.
---@param track table
---@param width integer
---@param done fun(lines: string[])
function M.waveform(track, width, done)
  require("lofi").waveform(
    track.track_id,
    { width = math.max(8, math.min(width, 400)), rows = 6 },
    function(err, result)
      done(err and { "(no waveform: " .. err.message .. ")" } or result.lines)
    end
  )
end

M.track_actions = {
  {
    "Play",
    function(track)
      require("lofi").play(track.track_id)
    end,
  },
  {
    "Add to playlist",
    function(track)
      require("lofi").playlist_add(track.track_id)
    end,
  },
  {
    "Delete",
    function(track)
      require("lofi").cache_delete(track.track_id)
    end,
  },
}

--- Unique prompts of the cached tracks, most recently used first, with their last seed.
---@return { prompt: string, seed: integer, count: integer }[]
function M.prompt_history()
  local seen, history = {}, {}
  for _, track in ipairs(state.current.tracks) do
    local entry = seen[track.prompt]
    if entry then
      entry.count = entry.count + 1
    else
      entry = { prompt = track.prompt, seed = track.seed, count = 1 }
      seen[track.prompt] = entry
      history[#history + 1] = entry
    end
  end
  return history
end

M.prompt_actions = {
  {
    "Regenerate with a new seed",
    function(entry)
      require("lofi").generate({ prompt = entry.prompt })
    end,
  },
  {
    "Regenerate with the same seed",
    function(entry)
      require("lofi").generate({ prompt = entry.prompt, seed = entry.seed })
    end,
  },
}

--- The picker ui.picker asks for, or in "auto" the first installed: Telescope, snacks.nvim,
--- then vim.ui.select.
---@return "telescope"|"snacks"|"select"
function M.backend()
  local wanted = require("lofi.config").current.ui.picker
  local available = {
    telescope = function()
      return (pcall(require, "telescope"))
    end,
    snacks = function()
      return (pcall(require, "snacks")) and _G.Snacks ~= nil and Snacks.picker ~= nil
    end,
  }
  for _, name in ipairs({ "telescope", "snacks" }) do
    if (wanted == "auto" or wanted == name) and available[name]() then
      return name
    end
  end
  return "select"
end

---@param items table[]
---@param label fun(item: table): string
---@param actions table
---@param title string
local function select(items, label, actions, title)
  if #items == 0 then
    return ui.notify("lofi: the cache is empty; :Lofi generate makes a track", vim.log.levels.INFO)
  end
  vim.ui.select(items, { prompt = title, format_item = label }, function(item)
    if not item then
      return
    end
    vim.ui.select(actions, {
      prompt = label(item),
      format_item = function(action)
        return action[1]
      end,
    }, function(action)
      if action then
        action[2](item)
      end
    end)
  end)
end

---@param entry { prompt: string, count: integer }
---@return string
function M.prompt_label(entry)
  return ("%s  (%d×)"):format(entry.prompt, entry.count)
end

--- Refreshes the track list, then shows the picker `name` in Telescope or snacks.nvim (see
--- M.backend), else vim.ui.select over `items()`.
local function pick(name, opts, items, label, actions)
  require("lofi").cache(function(err)
    if err then
      return ui.error(err)
    end
    local backend = M.backend()
    if backend ~= "select" then
      return require("lofi." .. backend)[name](opts)
    end
    select(items(), label, actions, "lofi " .. name)
  end)
end

--- Picks a cached track to play, add to the playlist or delete.
---@param opts table? Telescope or Snacks.picker options
function M.tracks(opts)
  pick("tracks", opts, function()
    return state.current.tracks
  end, M.track_label, M.track_actions)
end

--- Picks a prompt from the history to generate again.
---@param opts table? Telescope or Snacks.picker options
function M.prompts(opts)
  pick("prompts", opts, M.prompt_history, M.prompt_label, M.prompt_actions)
end

return M
