-- Lua cost of one visualizer frame: `nvim -l benches/visualizer.lua`.
-- A frame as the daemon sends it goes through the plugin's event path (smoothing, drawing
-- in braille, highlights) into an 80×24 float, 2000 times; the median and the 99th
-- percentile against the goal of 2 ms, beside the empty event path as the baseline.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.o.columns, vim.o.lines = 200, 63

local config = require("lofi.config")
config.current = config.resolve({ ui = { visualizer = { size = 0.4 } } }).config
local events = require("lofi.events")
local vis = require("lofi.visualizer")

local function frame(i)
  local bands = {}
  for b = 1, 10 do
    bands[b] = 0.5 + 0.45 * math.sin(i * 0.3 + b)
  end
  return { bands = bands, position_sec = i / 30 }
end

local function timings(n)
  local out = {}
  for i = 1, n do
    local start = vim.uv.hrtime()
    events.emit("visualizer_frame", frame(i))
    out[i] = (vim.uv.hrtime() - start) / 1e6
  end
  table.sort(out)
  return out
end

local function report(label, t)
  print(("%-34s median %.3f ms, p99 %.3f ms"):format(label, t[math.floor(#t / 2) + 1], t[math.floor(#t * 0.99)]))
end

report("event path, window closed:", timings(2000))
for _, style in ipairs({ "rings", "bars" }) do
  config.current.ui.visualizer.style = style
  vis.open()
  local win = vim.tbl_filter(function(w)
    return vim.bo[vim.api.nvim_win_get_buf(w)].filetype == "lofi-visualizer"
  end, vim.api.nvim_list_wins())[1]
  local size = ("%dx%d"):format(vim.api.nvim_win_get_width(win), vim.api.nvim_win_get_height(win))
  report(("%s at %s (goal 2 ms):"):format(style, size), timings(2000))
  vis.close()
end
