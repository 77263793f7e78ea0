---@mod lofi.ui Notifications, the statusline component and the status float.

local config = require("lofi.config")
local state = require("lofi.state")

local M = {}

---@param message string
---@param level integer? vim.log.levels.*
function M.notify(message, level)
  level = level or vim.log.levels.INFO
  local ui = config.current.ui
  if level < vim.log.levels.WARN and (not ui.notify or level < ui.notify_level) then
    return
  end
  vim.notify(message, level, { title = "lofi" })
end

---@param err lofi.Error
function M.error(err)
  M.notify(require("lofi.errors").format(err), vim.log.levels.ERROR)
end

---@param seconds number?
---@return string
function M.clock(seconds)
  seconds = math.max(0, math.floor(seconds or 0))
  return ("%d:%02d"):format(math.floor(seconds / 60), seconds % 60)
end

local function short(text, width)
  if vim.fn.strchars(text) <= width then
    return text
  end
  return vim.fn.strcharpart(text, 0, width - 1) .. "…"
end

--- The statusline component: "♪ ▶ lofi hip hop, chill… 0:12/0:30 ◌ 45%", or "" when idle
--- (or when ui.statusline is false). Reads state only; never waits.
---@return string
function M.statusline()
  local ui = config.current.ui
  if not ui.statusline then
    return ""
  end
  local s = state.current
  local parts = {}
  local p = s.playback
  if p.state == "playing" or p.state == "paused" then
    local icon = p.state == "playing" and ui.icons.playing or ui.icons.paused
    local title = state.title(p.track_id)
    parts[#parts + 1] = ("%s %s %s %s"):format(ui.icons.music, icon, short(title, 24), M.clock(state.position()))
    if p.duration_sec then
      parts[#parts] = parts[#parts] .. "/" .. M.clock(p.duration_sec)
    end
    if ui.visualizer.statusline then
      local spark = require("lofi.visualizer").spark()
      parts[#parts + 1] = spark ~= "" and spark or nil
    end
  end
  if s.radio then
    parts[#parts + 1] = M.radio_health(s.radio)
  elseif s.generation.active then
    parts[#parts + 1] = ("%s %d%%"):format(ui.icons.generating, s.generation.percent or 0)
  end
  return table.concat(parts, " ")
end

--- The radio's buffer health: seconds queued ahead and generation speed ("📻 42s 0.4×").
---@param radio lofi.RadioState
---@return string
function M.radio_health(radio)
  local speed = radio.speed and (" %.1f×"):format(radio.speed) or ""
  return ("%s %ds%s"):format(config.current.ui.icons.radio, math.floor(radio.seconds_ahead or 0), speed)
end

--- Lines of the status float.
---@return string[]
function M.status_lines()
  local s = state.current
  local p = s.playback
  local track = state.track(p.track_id)
  local lines = {
    ("Playback:   %s%s"):format(p.state, p.track_id and (" " .. p.track_id) or ""),
  }
  if track then
    lines[#lines + 1] = ("Prompt:     %s"):format(track.prompt)
    lines[#lines + 1] = ("Seed:       %s"):format(tostring(track.seed))
  end
  if p.state ~= "stopped" then
    lines[#lines + 1] = ("Position:   %s / %s"):format(M.clock(state.position()), M.clock(p.duration_sec))
  end
  lines[#lines + 1] = ("Volume:     %d%%"):format(math.floor(config.current.playback.volume * 100 + 0.5))
  if s.generation.active then
    lines[#lines + 1] = ("Generating: %s %d%%%s"):format(
      s.generation.track_id or "",
      s.generation.percent or 0,
      s.generation.eta_sec and (", ~" .. math.ceil(s.generation.eta_sec) .. " s left") or ""
    )
  else
    lines[#lines + 1] = "Generating: nothing"
  end
  lines[#lines + 1] = ("Queue:      %d pending"):format(s.queue_length or 0)
  lines[#lines + 1] = ("Playlist:   %d tracks"):format(#s.playlist)
  if s.radio then
    lines[#lines + 1] = ("Radio:      %q, %d segments, %d s ahead, %s, %d bridges"):format(
      s.radio.prompt,
      s.radio.segments or 0,
      math.floor(s.radio.seconds_ahead or 0),
      s.radio.speed and ("%.2f× real time"):format(s.radio.speed) or "speed not measured yet",
      s.radio.bridges or 0
    )
  end
  if s.model then
    local memory = ""
    if s.model.loaded == false then
      memory = ", handed back while unused: the next generation loads it"
    end
    lines[#lines + 1] = ("Backend:    %s (%s)%s"):format(s.model.backend, s.model.model_version or "", memory)
  end
  lines[#lines + 1] = ("Device:     %s"):format(s.audio_device or "?")
  lines[#lines + 1] = ("Cache:      %d tracks, %.1f MB"):format(#s.tracks, s.cache_size_mb or 0)
  lines[#lines + 1] = ("Daemon:     %s"):format(
    require("lofi.daemon").is_running() and ("running, v" .. (s.daemon_version or "?")) or "not running"
  )
  return lines
end

--- The window config of a float of `width` × `height` centred in the editor.
---@param width integer
---@param height integer
---@param title string
---@return vim.api.keyset.win_config
function M.centred(width, height, title)
  return {
    relative = "editor",
    width = width,
    height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1,
    col = math.floor((vim.o.columns - width) / 2),
    style = "minimal",
    border = "rounded",
    title = " " .. title .. " ",
    title_pos = "center",
  }
end

--- Opens a scratch float with `lines`; q or <Esc> closes it.
---@param lines string[]
---@param title string
---@return integer buf, integer win
function M.float(lines, title)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width + 2, vim.o.columns - 4)
  local height = math.min(#lines, vim.o.lines - 4)
  local win = vim.api.nvim_open_win(buf, true, M.centred(width, height, title))
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, "<Cmd>close<CR>", { buffer = buf, nowait = true })
  end
  return buf, win
end

return M
