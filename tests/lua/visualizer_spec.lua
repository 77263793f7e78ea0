-- The visualizer: drawing and smoothing in this process, the window and the statusline
-- spectrum in a child Neovim against the real daemon.
local helpers = require("helpers")

local BLANK = "\226\160\128" -- U+2800, the empty braille cell
local FULL = "\226\163\191" -- U+28FF, ⣿

---@return string[] the cells of a drawn line
local function cells(line)
  local out = {}
  for i = 1, #line, 3 do
    out[#out + 1] = line:sub(i, i + 2)
  end
  return out
end

local function model_with(levels)
  local vis = require("lofi.visualizer")
  local model = vis.new_model()
  for band, level in pairs(levels) do
    model.levels[band] = level
  end
  return model
end

describe("visualizer drawing", function()
  local vis = require("lofi.visualizer")

  it("draws rings with the bass at the centre and the treble at the edge", function()
    local width, height = 40, 20
    local bass = vis.draw(model_with({ [1] = 1 }), width, height, "rings")
    assert.are.equal(height, #bass)
    local middle = cells(bass[height / 2])
    assert.are.equal(width, #middle)
    assert.are.equal(FULL, middle[width / 2], "the centre is full when the bass is")
    assert.are.equal(BLANK, middle[1], "the edge stays dark")
    local treble = vis.draw(model_with({ [10] = 1 }), width, height, "rings")
    middle = cells(treble[height / 2])
    assert.are.equal(BLANK, middle[width / 2])
    assert.are.equal(FULL, middle[2], "the outer ring lights with the treble")
    local silent = vis.draw(vis.new_model(), width, height, "rings")
    for _, line in ipairs(silent) do
      assert.are.equal(BLANK:rep(width), line)
    end
  end)

  it("thickens a cell's glyph as its band heats", function()
    local dots = function(level)
      local line = vis.draw(model_with({ [1] = level }), 40, 20, "rings")[10]
      local cell = cells(line)[20]
      local bits = (cell:byte(2) - 0xA0) * 64 + (cell:byte(3) - 0x80)
      local count = 0
      while bits > 0 do
        count, bits = count + bits % 2, math.floor(bits / 2)
      end
      return count
    end
    assert.are.same({ 0, 2, 4, 6, 8 }, { dots(0), dots(0.25), dots(0.5), dots(0.75), dots(1) })
  end)

  it("draws bars from the bottom, with highlight spans per band group", function()
    local lines, spans = vis.draw(model_with({ [6] = 1, [1] = 0.5 }), 40, 8, "bars")
    local top, bottom = cells(lines[1]), cells(lines[8])
    assert.are.equal(FULL, top[21], "band 6 fills its bar to the top")
    assert.are.equal(BLANK, top[1], "band 1 at half height leaves the top dark")
    assert.are.equal(FULL, bottom[1])
    assert.are.equal(BLANK, bottom[4], "a gap between bars")
    local groups = {}
    for _, span in ipairs(spans) do
      groups[span[4]] = true
      assert.is_true(span[3] > span[2] and span[2] % 3 == 0 and span[3] <= 40 * 3)
    end
    assert.are.same({ LofiVisualizerHigh = true, LofiVisualizerLow = true, LofiVisualizerMid = true }, groups)
  end)

  it("rises fast, falls slowly, and flares on a kick onset, not on a sustained bass", function()
    local model = vis.new_model()
    local loud = { 0.9, 0.9, 0, 0, 0, 0.6, 0, 0, 0, 0 }
    vis.push(model, loud, "calm", 0)
    local risen = model.levels[6]
    assert.is_true(model.flare > 0.3, "the first kick flares")
    for t = 1, 20 do
      vis.push(model, loud, "calm", t * 33)
    end
    assert.is_true(model.flare < 0.05, "a held bass does not keep flaring: " .. model.flare)
    vis.push(model, { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "calm", 800)
    local fell = 0.6 - model.levels[6]
    assert.is_true(fell < risen, ("release (%f) slower than attack (%f)"):format(fell, risen))
    local minimal = vis.new_model()
    vis.push(minimal, loud, "minimal", 0)
    assert.are.equal(0, minimal.flare, "minimal never flares")
    while vis.fade(model) do
    end
    assert.is_true(model.levels[6] <= 0.01, "a frozen picture fades out")
  end)
end)

describe("visualizer window", function()
  local child

  before_each(function()
    child = helpers.child()
    child:setup({ ui = { visualizer = { statusline = true, fps = 20 } } })
    child:lua("vim.o.columns, vim.o.lines = 120, 40")
  end)

  after_each(function()
    child:stop()
  end)

  local function lit()
    return child:lua([[
      local vis_buf
      for _, win in ipairs(vim.api.nvim_list_wins()) do
        local buf = vim.api.nvim_win_get_buf(win)
        if vim.bo[buf].filetype == "lofi-visualizer" then vis_buf = buf end
      end
      if not vis_buf then return -1 end
      local n = 0
      for _, line in ipairs(vim.api.nvim_buf_get_lines(vis_buf, 0, -1, false)) do
        for i = 1, #line, 3 do
          if line:sub(i, i + 2) ~= "\226\160\128" then n = n + 1 end
        end
      end
      return n
    ]])
  end

  local function frames()
    return child:lua([[
      return #vim.tbl_filter(function(e) return e.name == "visualizer_frame" end, _G.events)
    ]])
  end

  it("shows what plays, follows resizes, fades when paused, and unsubscribes when closed", function()
    local err = child:api("generate", { prompt = "visualizer", duration_sec = 20, seed = 3 })
    assert.is_nil(err)
    child:event("generation_complete")
    child:cmd("Lofi play")
    child:event("playback_start")
    child:cmd("Lofi visualizer")
    assert.is_true(child:lua("return require('lofi.visualizer').is_open()"))
    local ok = vim.wait(5000, function()
      return lit() > 20
    end, 50)
    assert.is_true(ok, "the picture lights up while playing: " .. lit())
    local width = child:lua([[
      for _, win in ipairs(vim.api.nvim_list_wins()) do
        if vim.bo[vim.api.nvim_win_get_buf(win)].filetype == "lofi-visualizer" then
          return vim.api.nvim_win_get_width(win)
        end
      end
    ]])
    assert.are.equal(60, width, "half the editor's 120 columns")
    child:lua("vim.o.columns = 80; vim.api.nvim_exec_autocmds('VimResized', {})")
    child:wait([[(function()
      for _, win in ipairs(vim.api.nvim_list_wins()) do
        local buf = vim.api.nvim_win_get_buf(win)
        if vim.bo[buf].filetype == "lofi-visualizer" then
          return vim.api.nvim_win_get_width(win) == 40 and #vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == 40 * 3
        end
      end
    end)()]])
    local spark = child:wait("(function() local s = require('lofi.visualizer').spark(); return s ~= '' and s end)()")
    assert.are.equal(10, vim.fn.strchars(spark), "ten cells")
    assert.is_truthy(child:lua("return require('lofi').statusline()"):find(spark, 1, true), "in the statusline")
    child:wait(("require('lofi.visualizer').spark() ~= %q"):format(spark), 5000, "the spectrum to change")

    child:cmd("Lofi pause")
    child:event("playback_pause")
    vim.wait(300)
    local paused_at = frames()
    local faded = vim.wait(3000, function()
      return lit() == 0
    end, 50)
    assert.is_true(faded, "the picture fades out while paused")
    assert.are.equal(paused_at, frames(), "no frames while paused")
    assert.are.equal("", child:lua("return require('lofi.visualizer').spark()"))

    child:cmd("Lofi resume")
    child:wait("#vim.tbl_filter(function(e) return e.name == 'visualizer_frame' end, _G.events) > " .. paused_at)
    child:cmd("Lofi visualizer")
    assert.is_false(child:lua("return require('lofi.visualizer').is_open()"))
    assert.are.equal(-1, lit(), "the window is gone")
    -- The statusline spectrum keeps a slower subscription; turned off too, frames stop.
    child:lua(
      "require('lofi').setup(vim.tbl_deep_extend('force', require('lofi.config').current, { ui = { visualizer = { statusline = false } } }))"
    )
    vim.wait(400)
    local stopped_at = frames()
    vim.wait(500)
    assert.are.equal(stopped_at, frames(), "unsubscribed: no more frames")
  end)

  it("draws nothing while another tab page shows, and closes with q", function()
    child:cmd("Lofi visualizer")
    local loud = "require('lofi.events').emit('visualizer_frame', { bands = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 } })"
    child:cmd("tabnew")
    child:lua(loud)
    assert.are.equal(0, lit(), "hidden: not drawn")
    child:cmd("tabprevious")
    child:lua(loud)
    assert.is_true(lit() > 100, "shown again: drawn")
    child:lua([[
      for _, win in ipairs(vim.api.nvim_list_wins()) do
        if vim.bo[vim.api.nvim_win_get_buf(win)].filetype == "lofi-visualizer" then vim.api.nvim_set_current_win(win) end
      end
    ]])
    child:lua("vim.api.nvim_feedkeys('q', 'x', false)")
    child:wait("not require('lofi.visualizer').is_open()")
  end)
end)
