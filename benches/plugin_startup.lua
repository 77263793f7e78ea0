-- Startup cost of plugin/lofi.lua: `nvim -l benches/plugin_startup.lua`.
-- Sources Neovim with --startuptime 40 times and reports the median time spent sourcing
-- plugin/lofi.lua, against an empty plugin file sourced in the same runs as the baseline.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
local empty_dir = vim.fn.tempname()
vim.fn.mkdir(empty_dir .. "/plugin", "p")
vim.fn.writefile({}, empty_dir .. "/plugin/empty.lua")

local function median(list)
  table.sort(list)
  return list[math.floor(#list / 2) + 1]
end

local lofi, empty, total = {}, {}, {}
for _ = 1, 40 do
  local log = vim.fn.tempname()
  vim
    .system({
      vim.v.progpath,
      "--headless",
      "-u",
      "NONE",
      "-i",
      "NONE",
      "--cmd",
      "set loadplugins rtp^=" .. root .. "," .. empty_dir,
      "--startuptime",
      log,
      "+qa!",
    })
    :wait()
  for _, line in ipairs(vim.fn.readfile(log)) do
    -- "clock  self+sourced  self:  sourcing <file>"
    local self_ms, file = line:match("^%S+%s+%S+%s+(%S+): sourcing (.*)$")
    if file and file:find("/plugin/lofi.lua$") then
      lofi[#lofi + 1] = tonumber(self_ms)
    elseif file and file:find("/plugin/empty.lua$") then
      empty[#empty + 1] = tonumber(self_ms)
    end
    local clock = line:match("^(%S+)%s+%S+: %-%-%- NVIM STARTED %-%-%-")
    if clock then
      total[#total + 1] = tonumber(clock)
    end
  end
  os.remove(log)
end
assert(#lofi > 0 and #empty > 0, "plugin/lofi.lua was not sourced")
print(
  ("plugin/lofi.lua: median %.3f ms to source (goal ≤ 0.3 ms); an empty plugin file: %.3f ms (%.1f×); whole startup: %.1f ms"):format(
    median(lofi),
    median(empty),
    median(lofi) / median(empty),
    median(total)
  )
)
