-- The daemon client: framing, timeouts, crash recovery, lookup, shutdown.
local helpers = require("helpers")
local fixtures = helpers.root .. "/tests/lua/fixtures/"

describe("daemon client", function()
  local child

  after_each(function()
    if child then
      child:stop()
    end
  end)

  it("reads replies and notifications however stdout is chunked", function()
    child = helpers.child({ env = { LOFI_REAL_DAEMON = helpers.daemon_bin } })
    child:setup({ daemon = { bin = fixtures .. "rechunked-daemon" } })
    for seed = 1, 3 do
      local err, ack = child:api("generate", { seed = seed, play = seed == 1 })
      assert.is_nil(err)
      child:event("generation_complete", { track_id = ack.track_id })
    end
    local _, tracks = child:api("cache")
    assert.are.equal(3, #tracks)
    child:event("playback_start")
    -- Nothing the daemon wrote was taken for garbage.
    local garbage = child:lua([[
      return vim.tbl_filter(function(l) return l:find("not JSON-RPC") end, require("lofi.daemon").stderr_lines())
    ]])
    assert.are.same({}, garbage)
  end)

  it("fails a request the daemon never answers with DAEMON_TIMEOUT", function()
    child = helpers.child()
    child:setup({ daemon = { bin = fixtures .. "silent-daemon", timeout_ms = 300 } })
    local err = child:api("status")
    assert.are.equal("DAEMON_TIMEOUT", err.code)
    assert.matches("did not answer status within 0.3 s", err.message)
  end)

  it("names where it looked when the binary is missing", function()
    child = helpers.child()
    child:setup({ daemon = { bin = "/nonexistent/lofi-daemon" } })
    local err = child:api("play", nil)
    assert.are.equal("DAEMON_NOT_FOUND", err.code)
    assert.matches("/nonexistent/lofi%-daemon", err.message)
    child:cmd("Lofi play")
    local messages = child:lua("return _G.messages")
    assert.matches("lofi%-daemon not found %(looked in /nonexistent/lofi%-daemon%)", messages[#messages].msg)
  end)

  it("restarts a daemon killed mid-generation and sends the settings again", function()
    child = helpers.child()
    child:setup({ playback = { crossfade_sec = 3.5, loop = false } })
    local _, ack = child:api("generate", { seed = 5, duration_sec = 600, play = false })
    child:event("generation_start", { track_id = ack.track_id })
    child:api("volume", 0.42)
    local old_pid = child:daemon_pid()
    vim.uv.kill(old_pid, "sigkill")

    child:event("daemon_exit", { signal = 9 })
    local crash = child:event("daemon_error", { code = "DAEMON_CRASH" })
    assert.matches("signal 9", crash.message)
    assert.matches("generation queue", crash.message)
    child:event("daemon_restart", {}, 10000)
    local new_pid = child:daemon_pid()
    assert.are_not.equal(old_pid, new_pid)
    assert.is_false(child:lua("return require('lofi').is_generating()"))

    local _, status = child:api("status")
    assert.are.equal(3.5, status.playback.crossfade_sec)
    assert.is_false(status.playback.loop)
    assert.are.equal(0.42, status.playback.volume)
    assert.are.equal(0, status.queue_length)
  end)

  it("restarts a daemon whose thread panicked (the daemon exits 101, never half alive)", function()
    child = helpers.child({ env = { LOFI_DAEMON_TEST_HOOKS = "1" } })
    child:setup({})
    child:api("status")
    local old_pid = child:daemon_pid()
    child:lua("require('lofi.daemon').request('debug_panic', { thread = 'pump' }, function() end)")

    child:event("daemon_exit", { code = 101 })
    local crash = child:event("daemon_error", { code = "DAEMON_CRASH" })
    assert.matches("exit code 101", crash.message)
    child:event("daemon_restart", {}, 10000)
    assert.are_not.equal(old_pid, child:daemon_pid())
    local err, status = child:api("status")
    assert.is_nil(err)
    assert.are.equal("stopped", status.playback.state)
  end)

  it("gives up after repeated crashes instead of looping", function()
    child = helpers.child()
    child:setup({ daemon = { bin = fixtures .. "crashing-daemon" } })
    child:lua("require('lofi.daemon').max_restarts = 2")
    child:api("status")
    child:wait(
      [[(function()
      for _, e in ipairs(_G.events) do
        if e.name == "daemon_error" and e.data.message:find("not restarting it again") then return true end
      end
    end)()]],
      10000,
      "give-up message"
    )
    local exits = child:lua([[
      return #vim.tbl_filter(function(e) return e.name == "daemon_exit" end, _G.events)
    ]])
    assert.are.equal(3, exits) -- the first start and two restarts
    vim.wait(1200)
    assert.are.equal(
      3,
      child:lua([[
      return #vim.tbl_filter(function(e) return e.name == "daemon_exit" end, _G.events)
    ]])
    )
  end)

  it("stops the daemon when Neovim exits, and on :Lofi daemon stop without restarting", function()
    child = helpers.child()
    child:setup()
    child:api("status")
    local pid = child:daemon_pid()
    child:cmd("Lofi daemon stop")
    child:event("daemon_exit")
    assert.is_false(child:lua("return require('lofi.daemon').is_running()"))
    vim.wait(1500)
    assert.is_false(helpers.process_alive(pid))
    assert.is_nil(child:lua([[
      for _, e in ipairs(_G.events) do if e.name == "daemon_error" then return e.data.message end end
    ]]))

    child:api("status")
    pid = child:daemon_pid()
    assert.is_true(helpers.process_alive(pid))
    vim.rpcnotify(child.chan, "nvim_command", "qa!")
    assert.is_true(
      vim.wait(3000, function()
        return not helpers.process_alive(pid)
      end, 50),
      "daemon outlived Neovim"
    )
    child = nil
  end)
end)
