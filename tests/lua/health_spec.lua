-- :checkhealth lofi, and two Neovim instances sharing one cache.
local helpers = require("helpers")

local function checkhealth(child)
  child:cmd("checkhealth lofi")
  return table.concat(child:lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"), "\n")
end

describe(":checkhealth lofi", function()
  local child

  after_each(function()
    child:stop()
  end)

  it("reports Neovim, the daemon, the backend, audio, CPU, tools and integrations", function()
    child = helpers.child()
    child:setup({ model = { backend = "ggml" } })
    local report = checkhealth(child)
    assert.matches("OK Neovim 0%.1%d", report)
    assert.matches("OK configuration is valid", report)
    assert.matches("OK lofi%-daemon binary found: .*lofi%-daemon %(lofi%-daemon %d+%.%d+%.%d+%)", report)
    assert.matches("OK daemon running %(pid %d+, v%d+%.%d+%.%d+%)", report)
    assert.matches("no model at .*musicgen%-small%-Q4_K_M%.gguf: the procedural backend plays instead", report)
    assert.matches("the daemon generates with: procedural %(procedural%-v1, cpu%)", report)
    assert.matches("audio output: none %(silent clock%)", report)
    assert.matches("CPU", report)
    assert.matches("GGML compiled for: %u", report)
    assert.matches("Audio encoding", report)
    assert.matches("lame", report)
    assert.matches("sox", report)
    assert.matches(
      "telescope.nvim not installed %(:Telescope lofi tracks / prompts; :Lofi list uses vim.ui.select meanwhile%)",
      report
    )
  end)

  it("verifies the model file with the daemon's own checks", function()
    local fixture = vim.fn.fnamemodify("tests/fixtures/musicgen-tiny/model-f16.gguf", ":p")
    child = helpers.child()
    child:setup({ model = { backend = "ggml", weights_path = fixture } })
    local report = checkhealth(child)
    assert.matches("OK model verified: .*model%-f16%.gguf %(F16 %(tensors: f32 61, f16 42%)%)", report)
    assert.matches("OK model.device = auto: no GPU backend found, generation runs on the CPU", report)
    child:stop()

    child = helpers.child()
    child:setup({ model = { backend = "ggml", weights_path = fixture, device = "vulkan" } })
    report = checkhealth(child)
    assert.matches('ERROR model.device = "vulkan" but the daemon finds no vulkan device %(it has: none%)', report)
    assert.matches("cargo build %-%-release %-%-features vulkan", report)
    child:stop()

    local damaged = helpers.tempdir() .. "/damaged.gguf"
    local source = assert(io.open(fixture, "rb"))
    local out = assert(io.open(damaged, "wb"))
    out:write(source:read(100000))
    source:close()
    out:close()
    child = helpers.child()
    child:setup({ model = { backend = "ggml", weights_path = damaged } })
    report = checkhealth(child)
    assert.matches("ERROR lofi%-daemon: .*damaged%.gguf is not a usable MusicGen model: not a valid GGUF file", report)
    assert.matches("reinstall it with ./install.sh %-%-model PATH", report)
  end)

  it("lists configuration problems and a missing binary", function()
    child = helpers.child()
    child:setup({ daemon = { bin = "/nonexistent/lofi-daemon" }, ui = { progres = 1 } })
    local report = checkhealth(child)
    assert.matches("WARNING config: unknown option `ui.progres`", report)
    assert.matches("ERROR lofi%-daemon not found %(looked in /nonexistent/lofi%-daemon%)", report)
  end)
end)

describe("two Neovim instances", function()
  it("share one cache, each with its own daemon", function()
    local cache = helpers.tempdir()
    local a, b = helpers.child(), helpers.child()
    a:setup({ cache = { dir = cache } })
    b:setup({ cache = { dir = cache } })
    -- The same track asked of both at once: both succeed, one file.
    a:lua("require('lofi').generate({ prompt = 'shared', seed = 1, play = false })")
    b:lua("require('lofi').generate({ prompt = 'shared', seed = 1, play = false })")
    local done_a = a:event("generation_complete", { prompt = "shared" })
    local done_b = b:event("generation_complete", { prompt = "shared" })
    assert.are.equal(done_a.track_id, done_b.track_id)
    assert.are_not.equal(a:daemon_pid(), b:daemon_pid())

    local _, ack = a:api("generate", { prompt = "only in a", seed = 2, play = false })
    a:event("generation_complete", { track_id = ack.track_id })
    local _, tracks = b:api("cache")
    assert.are.equal(2, #tracks)
    local err, status = b:api("play", ack.track_id)
    assert.is_nil(err)
    assert.are.equal(ack.track_id, status.track_id)
    -- Each daemon's pid file is named after its own Neovim.
    for _, child in ipairs({ a, b }) do
      local nvim_pid = child:lua("return vim.fn.getpid()")
      assert.are.equal(1, vim.fn.filereadable(child.home .. "/lofi-daemon-" .. nvim_pid .. ".pid"))
    end
    a:stop()
    b:stop()
  end)
end)
