---@mod lofi.visualizer A braille picture of what plays: `:Lofi visualizer`.
---
--- The daemon sends the levels of 10 octave bands of the audio it hands the device
--- (`visualizer_frame`, only while subscribed and playing); this module smooths them, draws
--- rings (bass at the centre, treble at the edge) or bars in braille, and keeps a 10-cell
--- spectrum for the statusline. It subscribes only while something shows the frames.

local config = require("lofi.config")
local daemon = require("lofi.daemon")
local events = require("lofi.events")
local state = require("lofi.state")

local uv = vim.uv or vim.loop

local M = {}

local BANDS = 10
local STATUSLINE_FPS = 10
local ns = vim.api.nvim_create_namespace("lofi_visualizer")

-- Smoothing per preset: the share of the gap closed per frame going up (attack) and down
-- (release), and how strongly a kick onset flares (0: never).
local presets = {
  calm = { attack = 0.45, release = 0.08, flare = 0.6 },
  lively = { attack = 0.85, release = 0.22, flare = 1.0 },
  minimal = { attack = 0.35, release = 0.06, flare = 0 },
}

-- Highlight groups, each linked to a colourscheme group by the theme.
local themes = {
  auto = { Low = "Function", Mid = "String", High = "Constant", Flare = "WarningMsg" },
  mono = { Low = "Normal", Mid = "Normal", High = "Comment", Flare = "Title" },
  warm = { Low = "DiagnosticError", Mid = "DiagnosticWarn", High = "Constant", Flare = "Title" },
}

--- The braille glyph with dots `bits` (U+2800 + bits), as UTF-8: always 3 bytes.
local glyph = {} ---@type table<integer, string>
for bits = 0, 255 do
  glyph[bits] = string.char(0xE2, 0xA0 + math.floor(bits / 64), 0x80 + bits % 64)
end

-- Dots in the order a ring's glyphs thicken (scattered, so a half-lit cell looks even).
local THICKEN = { 0x10, 0x04, 0x08, 0x40, 0x02, 0x20, 0x01, 0x80 }
local thick = { [0] = 0 } ---@type table<integer, integer>
for n = 1, 8 do
  thick[n] = thick[n - 1] + THICKEN[n]
end
-- A bar's cell lit from the bottom: 0 to 4 dot rows.
local FROM_BOTTOM = { [0] = 0, 0xC0, 0xE4, 0xF6, 0xFF }

local SPARK = { "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█" }

---@param band integer 1-10
---@param flaring boolean
local function group_of(band, flaring)
  if band <= 2 and flaring then
    return "LofiVisualizerFlare"
  end
  return band <= 3 and "LofiVisualizerLow" or band <= 7 and "LofiVisualizerMid" or "LofiVisualizerHigh"
end

---@class lofi.VisualizerModel
---@field levels number[] smoothed, 0-1
---@field flare number 0-1, decaying
---@field baseline number slow average of the bass, for onsets
---@field last_bass number the bass of the previous frame
---@field last_onset integer uv.now() of the last kick flare

---@return lofi.VisualizerModel
function M.new_model()
  local levels = {}
  for i = 1, BANDS do
    levels[i] = 0
  end
  return { levels = levels, flare = 0, baseline = 0, last_bass = 0, last_onset = -math.huge }
end

--- Takes one frame of raw band levels into the model: asymmetric smoothing, and a flare on
--- a kick onset (the bass rising well over its slow average, not a sustained level).
---@param model lofi.VisualizerModel
---@param bands number[]
---@param preset string
---@param now integer milliseconds
function M.push(model, bands, preset, now)
  local p = presets[preset] or presets.calm
  for i = 1, BANDS do
    local x, s = bands[i] or 0, model.levels[i]
    model.levels[i] = s + (x - s) * (x > s and p.attack or p.release)
  end
  local bass = math.max(bands[1] or 0, bands[2] or 0)
  model.flare = model.flare * 0.75
  -- An onset: the bass jumps since the last frame and stands well over its slow average.
  local jump, over = bass - model.last_bass, bass - model.baseline
  if p.flare > 0 and jump > 0.08 and over > 0.12 and now - model.last_onset > 150 then
    model.flare, model.last_onset = p.flare, now
  end
  model.baseline = model.baseline + (bass - model.baseline) * 0.05
  model.last_bass = bass
end

--- Fades a frozen picture (paused or stopped); false once there is nothing left to show.
---@param model lofi.VisualizerModel
---@return boolean
function M.fade(model)
  local left = false
  for i = 1, BANDS do
    model.levels[i] = model.levels[i] * 0.8
    left = left or model.levels[i] > 0.01
  end
  model.flare = 0
  return left
end

--- Draws the model into width × height cells: the lines, and highlight spans per line
--- ({line, start byte, end byte, group}).
---@param model lofi.VisualizerModel
---@param width integer
---@param height integer
---@param style "rings"|"bars"
---@return string[] lines, table[] spans
function M.draw(model, width, height, style)
  local levels, flaring = model.levels, model.flare > 0.3
  local lines, spans = {}, {}
  local cells = {}
  for row = 0, height - 1 do
    local prev_group, start = nil, 0
    for col = 0, width - 1 do
      local band, bits
      if style == "bars" then
        local bar_width = width / BANDS
        band = math.min(BANDS, math.floor(col / bar_width) + 1)
        -- The last column of each bar stays dark between bars.
        local gap = bar_width >= 2 and math.floor((col + 1) / bar_width) + 1 > band
        local level = math.min(1, levels[band] * (band <= 2 and 1 + model.flare * 0.5 or 1))
        local dots = level * height * 4 - (height - 1 - row) * 4
        bits = gap and 0 or FROM_BOTTOM[math.max(0, math.min(4, math.floor(dots + 0.5)))]
      else
        -- A cell is about twice as tall as wide: rows count double for round rings.
        local dx, dy = col + 0.5 - width / 2, (row + 0.5 - height / 2) * 2
        local r = math.sqrt(dx * dx + dy * dy) / math.max(1, math.min(width / 2, height))
        band = math.min(BANDS, math.floor(r * BANDS) + 1)
        if r >= 1 then
          bits = 0
        else
          local level = math.min(1, levels[band] * (band <= 2 and 1 + model.flare or 1))
          bits = thick[math.floor(level * 8 + 0.5)]
        end
      end
      cells[col + 1] = glyph[bits]
      local group = group_of(band, flaring)
      if group ~= prev_group then
        if prev_group then
          spans[#spans + 1] = { row, start, col * 3, prev_group }
        end
        prev_group, start = group, col * 3
      end
    end
    if prev_group then
      spans[#spans + 1] = { row, start, width * 3, prev_group }
    end
    lines[row + 1] = table.concat(cells, "", 1, width)
  end
  return lines, spans
end

--- The 10-cell spectrum for the statusline, "" when nothing plays or the option is off.
---@return string
function M.spark()
  local spectrum = state.current.spectrum
  if
    not config.current.ui.visualizer.statusline
    or not spectrum
    or state.current.playback.state ~= "playing"
    or uv.now() - spectrum.at > 1000
  then
    return ""
  end
  local cells = {}
  for i = 1, BANDS do
    cells[i] = SPARK[math.max(1, math.min(8, math.floor((spectrum.bands[i] or 0) * 8) + 1))]
  end
  return table.concat(cells)
end

-- The open window, its buffer and model, and the fade timer.
local view = nil ---@type { win: integer, buf: integer, model: lofi.VisualizerModel, augroup: integer }?
local fade_timer = nil ---@type uv.uv_timer_t?
local subscribed_fps = nil ---@type integer?

local function apply_theme()
  local theme = config.current.ui.visualizer.theme
  for part, target in pairs(themes[theme] or {}) do
    vim.api.nvim_set_hl(0, "LofiVisualizer" .. part, { link = target, default = theme == "auto" })
  end
end

--- Whether the window is on screen: valid, and in the current tab page.
local function visible()
  return view ~= nil
    and vim.api.nvim_win_is_valid(view.win)
    and vim.api.nvim_win_get_tabpage(view.win) == vim.api.nvim_get_current_tabpage()
end

local function render()
  if not visible() then
    return
  end
  ---@cast view -nil
  local width, height = vim.api.nvim_win_get_width(view.win), vim.api.nvim_win_get_height(view.win)
  local lines, spans = M.draw(view.model, width, height, config.current.ui.visualizer.style)
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.api.nvim_buf_clear_namespace(view.buf, ns, 0, -1)
  for _, span in ipairs(spans) do
    vim.api.nvim_buf_set_extmark(view.buf, ns, span[1], span[2], { end_col = span[3], hl_group = span[4] })
  end
end

local function stop_fade()
  if fade_timer then
    fade_timer:stop()
    fade_timer:close()
    fade_timer = nil
  end
end

-- Frozen (paused, stopped): the picture fades out over about a second.
local function start_fade()
  if fade_timer or not view then
    return
  end
  fade_timer = uv.new_timer()
  fade_timer:start(
    0,
    66,
    vim.schedule_wrap(function()
      if not view or not M.fade(view.model) then
        stop_fade()
      end
      render()
    end)
  )
end

--- Subscribes at the rate what shows the frames needs (the window, the statusline spectrum),
--- or unsubscribes when nothing does. Never starts the daemon.
function M.sync()
  local opts = config.current.ui.visualizer
  local fps = view and opts.fps or (opts.statusline and STATUSLINE_FPS or nil)
  if fps == subscribed_fps or not daemon.is_running() then
    return
  end
  subscribed_fps = fps
  local method, params = "visualizer_unsubscribe", nil
  if fps then
    method, params = "visualizer_subscribe", { fps = fps }
  end
  daemon.request(method, params, function(err)
    if err then
      subscribed_fps = nil
      require("lofi.ui").error(err)
    end
  end)
end

local function window_config()
  local size = config.current.ui.visualizer.size
  local width = math.max(10, math.floor(vim.o.columns * size))
  local height = math.max(4, math.floor((vim.o.lines - vim.o.cmdheight - 2) * size))
  return require("lofi.ui").centred(width, height, "lofi")
end

--- Opens the window (float or split, as ui.visualizer.layout says).
function M.open()
  if view and vim.api.nvim_win_is_valid(view.win) then
    return
  end
  apply_theme()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].filetype = "lofi-visualizer"
  local win
  if config.current.ui.visualizer.layout == "split" then
    vim.cmd(("botright %dsplit"):format(math.max(4, math.floor(vim.o.lines * config.current.ui.visualizer.size))))
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, buf)
    for option, value in pairs({ number = false, relativenumber = false, signcolumn = "no", list = false }) do
      vim.wo[win][option] = value
    end
    vim.cmd.wincmd("p")
  else
    win = vim.api.nvim_open_win(buf, false, window_config())
  end
  vim.wo[win].wrap = false
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, M.close, { buffer = buf, nowait = true, desc = "Close the lofi visualizer" })
  end
  local augroup = vim.api.nvim_create_augroup("lofi_visualizer", { clear = true })
  view = { win = win, buf = buf, model = M.new_model(), augroup = augroup }
  vim.api.nvim_create_autocmd("WinClosed", {
    group = augroup,
    pattern = tostring(win),
    callback = function()
      vim.schedule(M.close)
    end,
  })
  vim.api.nvim_create_autocmd("VimResized", {
    group = augroup,
    callback = function()
      if view and vim.api.nvim_win_is_valid(view.win) and config.current.ui.visualizer.layout == "float" then
        vim.api.nvim_win_set_config(view.win, window_config())
      end
      render()
    end,
  })
  vim.api.nvim_create_autocmd({ "TabEnter", "ColorScheme" }, {
    group = augroup,
    callback = function()
      apply_theme()
      render()
    end,
  })
  render()
  M.sync()
end

--- Closes the window; the subscription goes with it (unless the statusline spectrum wants it).
function M.close()
  stop_fade()
  if not view then
    return
  end
  local closing = view
  view = nil
  pcall(vim.api.nvim_del_augroup_by_id, closing.augroup)
  if vim.api.nvim_win_is_valid(closing.win) then
    vim.api.nvim_win_close(closing.win, true)
  end
  M.sync()
end

function M.toggle()
  if view then
    M.close()
  else
    M.open()
  end
end

---@return boolean
function M.is_open()
  return view ~= nil
end

local last_statusline = 0

events.on("visualizer_frame", function(frame)
  local now = uv.now()
  if config.current.ui.visualizer.statusline and now - last_statusline >= 1000 / STATUSLINE_FPS then
    last_statusline = now
    vim.cmd.redrawstatus()
  end
  if not view then
    return
  end
  stop_fade()
  M.push(view.model, frame.bands or {}, config.current.ui.visualizer.preset, now)
  render()
end)
for _, event in ipairs({ "playback_pause", "playback_end" }) do
  events.on(event, start_fade)
end
for _, event in ipairs({ "playback_start", "playback_resume" }) do
  events.on(event, M.sync) -- a restarted daemon needs the subscription again
end
events.on("daemon_exit", function()
  subscribed_fps = nil
end)

return M
