-- The public API against the real daemon (procedural backend, no audio device).
local helpers = require("helpers")

describe("lofi API", function()
  local child = helpers.child_per_test()

  it("generate returns the daemon's track id and events come in order", function()
    -- The first call starts the daemon; the id is known once it has answered.
    local err, first = child():api("generate", { prompt = "lofi, rain", seed = 7 })
    assert.is_nil(err)
    assert.are.equal(7, first.seed)
    child():event("playback_start", { track_id = first.track_id })
    child():event("generation_complete", { track_id = first.track_id })
    -- Each kind once, in order of first appearance (progress may repeat). A track asked to play
    -- plays as it generates: it may start before or after its generation completes.
    local order, seen = {}, {}
    for _, name in ipairs(child():event_names()) do
      if not seen[name] then
        seen[name] = true
        order[#order + 1] = name
      end
    end
    assert.are.same({ "generation_start", "generation_progress" }, { order[1], order[2] })
    local rest = { unpack(order, 3) }
    table.sort(rest)
    assert.are.same({ "generation_complete", "playback_start", "playlist_changed" }, rest)
    -- The track and the playlist came with the events: no cache_list or playlist_get needed.
    local track = child():lua("return require('lofi.state').track(...)", first.track_id)
    assert.are.equal("lofi, rain", track.prompt)
    assert.are.same({ first.track_id }, child():lua("return require('lofi.state').current.playlist"))
    -- Now the id comes back at once, computed exactly as the daemon does.
    local id =
      child():lua([[return require("lofi").generate({ prompt = 'jazz / "night" ünï  ', seed = 9007199254740991 })]])
    local done = child():event("generation_complete", { track_id = id })
    assert.are.equal('jazz / "night" ünï', done.prompt)
    assert.are.equal(9007199254740991, done.seed)
  end)

  it("controls playback: play, pause, resume, toggle, skip, stop, volume", function()
    local _, a = child():api("generate", { seed = 1, play = false })
    child():event("generation_complete", { track_id = a.track_id })
    local _, b = child():api("generate", { seed = 2, play = false })
    child():event("generation_complete", { track_id = b.track_id })

    local err, status = child():api("play", a.track_id)
    assert.is_nil(err)
    assert.are.equal("playing", status.state)
    assert.is_true(child():lua("return require('lofi').is_playing()"))
    child():api("playlist_add", b.track_id)
    local _, list = child():api("playlist")
    assert.are.same({ a.track_id, b.track_id }, list)

    assert.are.equal("paused", select(2, child():api("pause")).state)
    child():event("playback_pause")
    assert.are.equal("playing", select(2, child():api("resume")).state)
    child():event("playback_resume")
    child():api("toggle")
    assert.are.equal("paused", child():lua("return require('lofi').status().playback.state"))
    child():api("toggle")
    assert.are.equal("playing", child():lua("return require('lofi').status().playback.state"))

    child():api("skip")
    child():event("playback_end", { track_id = a.track_id, reason = "skipped" })
    child():event("playback_start", { track_id = b.track_id })

    assert.is_nil((child():api("volume", 0.55)))
    assert.are.equal(0.55, child():lua("return require('lofi').volume()"))
    local _, fresh = child():api("status")
    assert.are.equal(0.55, fresh.playback.volume)
    local bad = child():api("volume", 2)
    assert.are.equal("INVALID_PARAMS", bad.code)

    child():api("stop")
    child():event("playback_end", { reason = "stopped" })
    assert.is_false(child():lua("return require('lofi').is_playing()"))
    child():api("playlist_clear")
    assert.are.same({}, child():lua("return require('lofi').playlist()"))
  end)

  it("manages the queue and the cache", function()
    -- A long track keeps the worker busy, so the second one waits in the queue.
    local _, long = child():api("generate", { seed = 1, duration_sec = 600, play = false })
    child():event("generation_start", { track_id = long.track_id })
    local _, queued = child():api("generate", { seed = 2, play = false })
    assert.are.equal(1, queued.position)
    local _, queue = child():api("queue")
    assert.are.equal(long.track_id, queue.current.track_id)
    assert.are.equal(queued.track_id, queue.pending[1].track_id)
    assert.is_true(child():lua("return require('lofi').is_generating()"))

    local busy = child():api("cancel", long.track_id)
    assert.are.equal("GENERATION_IN_PROGRESS", busy.code)
    local err, cancelled = child():api("cancel", queued.track_id)
    assert.is_nil(err)
    assert.is_true(cancelled.cancelled)

    child():event("generation_complete", { track_id = long.track_id }, 60000)
    local _, tracks = child():api("cache")
    assert.are.equal(1, #tracks)
    assert.are.equal(long.track_id, tracks[1].track_id)
    local _, drawn = child():api("waveform", long.track_id, { width = 30, rows = 4 })
    assert.are.equal(4, #drawn.lines)

    local unknown = child():api("cache_delete", "00000000")
    assert.are.equal("INVALID_TRACK_ID", unknown.code)
    assert.is_nil((child():api("cache_delete", long.track_id)))
    child():api("generate", { seed = 3, play = false })
    child():event("generation_complete", { seed = 3 })
    local _, cleared = child():api("cache_clear")
    assert.are.equal(1, cleared.deleted)
    assert.are.same({}, select(2, child():api("cache")))
  end)

  it("answers bad arguments with an INVALID_PARAMS error naming the field", function()
    child():api("status")
    local err = child():api("generate", { seed = 1.5 })
    assert.are.equal("INVALID_PARAMS", err.code)
    assert.are.equal("seed", err.data.field)
    err = child():api("generate", { duration_sec = -3 })
    assert.are.equal("duration_sec", err.data.field)
    err = child():api("generate", { prompt = 42 })
    assert.are.equal("INVALID_PARAMS", err.code)
    err = child():api("cancel", nil)
    assert.are.equal("track_id", err.data.field)
  end)

  it("lists and switches audio devices", function()
    local err, devices = child():api("devices")
    assert.is_nil(err)
    assert.are.equal("none", devices.current)
    assert.is_truthy(vim.tbl_contains(
      vim.tbl_map(function(d)
        return d.name
      end, devices.available),
      "none"
    ))
    local _, switched = child():api("device", "none")
    assert.are.equal("none", switched.current)
  end)

  it("on() returns an unsubscribe function and rejects unknown events", function()
    local count = child():lua([[
      local n = 0
      local off = require("lofi").on("daemon_restart", function() n = n + 1 end)
      require("lofi.events").emit("daemon_restart", {})
      off()
      require("lofi.events").emit("daemon_restart", {})
      return n
    ]])
    assert.are.equal(1, count)
    local ok = child():lua([[return pcall(require("lofi").on, "no_such_event", function() end)]])
    assert.is_false(ok)
  end)

  it("fires User autocmds for events", function()
    child():lua([[
      _G.autocmd_seen = nil
      vim.api.nvim_create_autocmd("User", { pattern = "LofiGenerationComplete", callback = function(ev) _G.autocmd_seen = ev.data.track_id end })
    ]])
    local _, ack = child():api("generate", { seed = 11, play = false })
    assert.are.equal(ack.track_id, child():wait("_G.autocmd_seen"))
  end)
end)
