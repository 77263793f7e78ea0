-- :Lofi and its subcommands, and their completion.
local helpers = require("helpers")

describe(":Lofi", function()
  local child = helpers.child_per_test()

  local function playback_state()
    return child():lua("return require('lofi.state').current.playback.state")
  end

  it("toggles: generates and plays with an empty cache, then pauses and resumes", function()
    child():cmd("Lofi")
    child():event("playback_start", nil, 15000)
    child():cmd("Lofi")
    child():wait("require('lofi.state').current.playback.state == 'paused'")
    child():cmd("Lofi")
    child():wait("require('lofi.state').current.playback.state == 'playing'")
  end)

  it("runs every transport subcommand", function()
    child():cmd("Lofi generate rainy night piano")
    local a = child():event("generation_complete", { prompt = "rainy night piano" })
    child():event("playback_start", { track_id = a.track_id })
    child():cmd("Lofi pause")
    child():wait("require('lofi.state').current.playback.state == 'paused'")
    child():cmd("Lofi resume")
    child():event("playback_resume")
    child():cmd("Lofi volume 50")
    child():wait("require('lofi').volume() == 0.5")
    child():cmd("Lofi volume +10")
    child():wait("math.abs(require('lofi').volume() - 0.6) < 1e-6")
    child():cmd("Lofi volume")
    child():wait("_G.said('^lofi: volume 60%%$')")
    child():cmd("Lofi volume loud")
    child():wait("_G.said('volume takes 0%-100')") -- not the last message: the track's may follow
    child():cmd("Lofi generate second")
    local b = child():event("generation_complete", { prompt = "second" })
    child():cmd("Lofi skip")
    child():event("playback_end", { reason = "skipped" })
    child():cmd("Lofi stop")
    child():event("playback_end", { reason = "stopped" })
    assert.are.equal("stopped", playback_state())
    -- :Lofi play takes the id, or a completion item (id:prompt).
    child():cmd("Lofi play " .. b.track_id .. ":second")
    child():wait(("require('lofi.state').current.playback.track_id == %q"):format(b.track_id))
    child():cmd("Lofi play ffffffff")
    child():wait("_G.said('INVALID_TRACK_ID')")
  end)

  it("shows queue, status, devices, cache and log; cancels; controls the daemon", function()
    child():cmd("Lofi generate long one")
    child():lua("require('lofi').generate({ duration_sec = 600, prompt = 'long', play = false })")
    child():lua("require('lofi').generate({ prompt = 'queued', play = false })")
    child():event("generation_start")
    child():cmd("Lofi queue")
    child():wait("_G.said('queued')")
    child():wait("#require('lofi.state').current.queue.pending > 0")
    child():cmd("Lofi cancel")
    child():wait("_G.said('lofi: cancelled')")

    child():cmd("Lofi status")
    child():wait("vim.api.nvim_win_get_config(0).relative ~= ''", 5000, "status float")
    local lines = child():lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    assert.matches("^Playback:", lines[1])
    assert.is_truthy(vim.tbl_contains(lines, "Device:     none"))
    child():lua("vim.api.nvim_feedkeys('q', 'x', false)")

    child():cmd("Lofi device")
    child():wait("_G.said('playing on none')")
    child():cmd("Lofi device none")
    child():wait("_G.said('^lofi: audio device none$')")

    child():cmd("Lofi cache")
    child():wait("_G.said('tracks, .* MB in')")
    child():cmd("Lofi cache bogus")
    child():wait("_G.said('usage: :Lofi cache')") -- not the last message: a generation's may follow

    child():cmd("Lofi log")
    assert.matches("lofi://daemon%-log$", child():lua("return vim.api.nvim_buf_get_name(0)"))
    child():cmd("close")

    child():cmd("Lofi daemon restart")
    child():wait("_G.said('^lofi: daemon restarted$')")
    child():cmd("Lofi daemon bogus")
    child():wait("_G.said('usage: :Lofi daemon')")
    child():cmd("Lofi nonsense")
    child():wait([[_G.said('unknown subcommand "nonsense"')]])
    child():cmd("Lofi cache clear")
    child():wait("_G.said('deleted %d+ cached tracks')")
  end)

  it("generates from :Lofi prompt and lists tracks with vim.ui.select", function()
    child():lua([[vim.ui.input = function(_, done) done("late night coding") end]])
    child():cmd("Lofi prompt")
    local done = child():event("generation_complete", { prompt = "late night coding" })
    child():lua([[
      _G.picked = {}
      vim.ui.select = function(items, opts, choose)
        table.insert(_G.picked, vim.tbl_map(opts.format_item, items))
        choose(items[#items == 3 and 2 or 1]) -- the track, then "Add to playlist"
      end
    ]])
    child():cmd("Lofi list")
    child():wait("#_G.picked == 2")
    local picked = child():lua("return _G.picked")
    assert.matches("^" .. done.track_id .. "  0:04  .*late night coding$", picked[1][1])
    assert.are.same({ "Play", "Add to playlist", "Delete" }, picked[2])
    child():wait(("vim.tbl_contains(require('lofi.state').current.playlist, %q)"):format(done.track_id))
  end)

  it("completes subcommands, track ids with prompts, devices and cache actions", function()
    local function complete(line)
      return child():lua("return vim.fn.getcompletion(..., 'cmdline')", line)
    end
    assert.are.same({
      "cache",
      "cancel",
      "daemon",
      "device",
      "generate",
      "list",
      "log",
      "model",
      "pause",
      "play",
      "prompt",
      "queue",
      "radio",
      "resume",
      "skip",
      "status",
      "stop",
      "visualizer",
      "volume",
    }, complete("Lofi "))
    assert.are.same({ "pause", "play", "prompt" }, complete("Lofi p"))
    local _, ack = child():api("generate", { prompt = "lofi, rain", seed = 4, play = false })
    child():event("generation_complete", { track_id = ack.track_id })
    child():wait("#require('lofi.state').current.tracks == 1")
    assert.are.same({ ack.track_id .. ":lofi,_rain" }, complete("Lofi play "))
    assert.are.same({ ack.track_id .. ":lofi,_rain" }, complete("Lofi cache delete "))
    assert.are.same({ "clear", "delete", "stats" }, complete("Lofi cache "))
    assert.are.same({ "start", "stop", "restart" }, complete("Lofi daemon "))
    complete("Lofi device ") -- first <Tab> asks the daemon
    child():wait("require('lofi.state').current.devices")
    assert.is_truthy(vim.tbl_contains(complete("Lofi device "), "none"))
  end)
end)
