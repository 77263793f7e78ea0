-- Configuration: merging, validation with key paths, hot reload.
local helpers = require("helpers")
local config = require("lofi.config")

describe("config.resolve", function()
  it("returns the defaults for no options", function()
    local r = config.resolve(nil)
    assert.are.same({}, r.problems)
    assert.are.same(config.defaults(), r.config)
  end)

  it("deep-merges over the defaults", function()
    local r = config.resolve({ ui = { icons = { music = "M" } }, playback = { volume = 0.8 } })
    assert.are.same({}, r.problems)
    assert.are.equal("M", r.config.ui.icons.music)
    assert.are.equal("▶", r.config.ui.icons.playing)
    assert.are.equal(0.8, r.config.playback.volume)
    assert.is_true(r.config.playback.loop)
  end)

  it("names unknown keys and wrong values by path, keeping defaults for them", function()
    local r = config.resolve({
      ui = { progres = "fidget", progress = "popup" },
      playback = { volume = 3 },
      daemon = { auto_start = "yes" },
      cache = "big",
      colour = true,
    })
    table.sort(r.problems)
    assert.are.equal(6, #r.problems)
    local text = table.concat(r.problems, "\n")
    assert.matches("unknown option `ui.progres`", text)
    assert.matches("unknown option `colour`", text)
    assert.matches('ui.progress: expected one of cmdline, fidget, mini, notify, none, got "popup"', text)
    assert.matches("playback.volume: expected a number from 0 to 1", text)
    assert.matches("daemon.auto_start: expected boolean, got string", text)
    assert.matches("cache: expected table, got string", text)
    assert.are.equal("cmdline", r.config.ui.progress)
    assert.are.equal(0.3, r.config.playback.volume)
    assert.is_true(r.config.daemon.auto_start)
  end)

  it("accepts keys whose default is nil, keymaps = false and a replacement preset list", function()
    local r = config.resolve({
      daemon = { bin = "/opt/lofi-daemon", log_file = "/tmp/lofi.log" },
      model = { threads = 4, weights_path = "/m.gguf" },
      cache = { max_tracks = 20 },
      audio = { device = "none" },
      keymaps = false,
      prefetch = { presets = { "one" } },
    })
    assert.are.same({}, r.problems)
    assert.is_false(r.config.keymaps)
    assert.are.same({ "one" }, r.config.prefetch.presets)
    assert.are.equal("/m.gguf", config.weights_path(r.config))
  end)

  it("checks individual keymaps", function()
    local r = config.resolve({ keymaps = { toggle = false, skip = 3 } })
    assert.are.equal(1, #r.problems)
    assert.are.equal("keymaps.skip: expected a key sequence or false, got 3", r.problems[1])
    assert.is_false(r.config.keymaps.toggle)
    assert.are.equal("<leader>ln", r.config.keymaps.skip)
  end)
end)

describe("setup in Neovim", function()
  local child

  after_each(function()
    child:stop()
  end)

  it("works without setup(): defaults, no keymaps, command works", function()
    child = helpers.child()
    -- No setup(): only the command exists and nothing of lofi is loaded yet.
    assert.is_nil(child:lua("return package.loaded['lofi']"))
    assert.are.equal(2, child:lua("return vim.fn.exists(':Lofi')"))
    child:lua("require('lofi.config').current.daemon.bin = ...", helpers.daemon_bin)
    child:lua("require('lofi.config').current.audio.device = 'none'")
    child:lua("require('lofi.config').current.model.backend = 'procedural'")
    child:lua("require('lofi.config').current.cache.dir = ...", child.home .. "/c")
    child:cmd("Lofi daemon start")
    child:wait("require('lofi.state').current.model", 5000, "status")
    assert.are.equal("", child:lua("return vim.fn.maparg('<leader>ll', 'n')"))
  end)

  it("reports problems once, applies keymaps and hot-reloads them", function()
    child = helpers.child()
    child:setup({ ui = { progres = "x" } })
    local messages = child:lua("return _G.messages")
    assert.are.equal(1, #messages)
    assert.matches("unknown option `ui.progres`", messages[1].msg)
    assert.are.same({ "unknown option `ui.progres`" }, child:lua("return require('lofi.config').problems"))
    child:lua("vim.g.mapleader = ' '")
    child:setup({ keymaps = { toggle = "<leader>xt", skip = false } })
    assert.are.equal(0, #child:lua("return _G.messages"))
    assert.are.equal("<Plug>(lofi-toggle)", child:lua("return vim.fn.maparg(' xt', 'n')"))
    assert.are.equal("", child:lua("return vim.fn.maparg(' ln', 'n')"))
    assert.are.equal("<Plug>(lofi-stop)", child:lua("return vim.fn.maparg(' ls', 'n')"))
    child:lua("require('lofi').setup(...)", { keymaps = false, daemon = { bin = helpers.daemon_bin } })
    assert.are.equal("", child:lua("return vim.fn.maparg(' xt', 'n')"))
    assert.are.equal("", child:lua("return vim.fn.maparg(' ls', 'n')"))
  end)

  it("hot reload: playback settings reach the daemon with the next command, daemon.* asks for a restart", function()
    child = helpers.child()
    child:setup()
    child:api("status")
    child:lua("require('lofi').setup(...)", {
      daemon = { bin = helpers.daemon_bin, log_level = "debug" },
      model = { backend = "procedural" },
      audio = { device = "none" },
      cache = { dir = child.home .. "/cache/lofi" },
      playback = { crossfade_sec = 5, loop = false, volume = 0.7 },
    })
    local messages = child:lua("return _G.messages")
    assert.matches("daemon changed; :Lofi daemon restart applies it", messages[#messages].msg)
    local _, status = child:api("status")
    assert.are.equal(5, status.playback.crossfade_sec)
    assert.is_false(status.playback.loop)
    assert.are.equal(0.7, status.playback.volume)
  end)
end)

describe("lofi.described (generated from the daemon)", function()
  local described = require("lofi.described")

  it("gives the plugin the daemon's defaults and ranges", function()
    local d = config.defaults()
    assert.are.equal(described.defaults.volume, d.playback.volume)
    assert.are.equal(described.defaults.prompt, d.defaults.prompt)
    assert.are.same(described.defaults.prefetch_presets, d.prefetch.presets)
    local r = config.resolve({ defaults = { duration_sec = described.ranges.duration_sec[2] + 1 } })
    assert.matches("defaults.duration_sec: expected a number from 1 to 600", r.problems[1])
    r = config.resolve({ defaults = { seed = described.ranges.seed[2] + 2 } })
    assert.matches("expected a whole number from 0 to 9007199254740991", r.problems[1])
  end)

  it("has an event for every notification the daemon sends", function()
    local events = require("lofi.events")
    for _, name in ipairs(described.notifications) do
      assert.is_string(events.from_daemon[name], name)
      assert.is_true(vim.tbl_contains(events.names, events.from_daemon[name]), name)
    end
  end)
end)
