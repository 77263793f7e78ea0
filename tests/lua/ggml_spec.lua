-- The plugin with the ggml backend: the committed tiny random MusicGen stands in for real weights.
local helpers = require("helpers")

describe("ggml backend", function()
  local child

  after_each(function()
    child:stop()
  end)

  it("generates with the model file it is given and reports it", function()
    local model = vim.fn.fnamemodify("tests/fixtures/musicgen-tiny/model-f16.gguf", ":p")
    child = helpers.child()
    child:setup({ model = { backend = "ggml", weights_path = model, threads = 1, keep_loaded_sec = 1 } })
    local err, ack = child:api("generate", { prompt = "lofi, rain", seed = 3, duration_sec = 2, play = false })
    assert.is_nil(err)
    local done = child:event("generation_complete", { track_id = ack.track_id })
    assert.are.equal("ggml", done.backend)
    assert.matches("^musicgen%-tiny%-f16%-", done.model_version)
    local status = child:lua("return require('lofi.state').current.model")
    assert.are.equal("ggml", status.backend)
    assert.are.equal("F16", status.quantization)
    assert.are.equal("cpu", status.device, "model.device = auto on a build without GPU backends")
    -- The id the plugin computes for the next request matches the daemon's for this model.
    local id = child:lua(
      [[return require("lofi").generate({ prompt = "lofi, rain", seed = 3, duration_sec = 2, play = false })]]
    )
    assert.are.equal(ack.track_id, id)
    -- model.keep_loaded_sec reaches the daemon: unused for a second, the model goes back.
    local handed_back = vim.wait(10000, function()
      local _, status = child:api("status")
      return status.model.loaded == false
    end, 100)
    assert.is_true(handed_back, "status.model.loaded turns false")
    local lines = table.concat(child:lua("return require('lofi.ui').status_lines()"), "\n")
    assert.is_truthy(lines:find("handed back while unused", 1, true), lines)
  end)

  it("a track asked to play plays while it generates, named by its prompt", function()
    local model = vim.fn.fnamemodify("tests/fixtures/musicgen-tiny/model-f16.gguf", ":p")
    -- Each decoder step 10 ms slower: ~7 s for 10 s of audio, so it plays long before it is done.
    child = helpers.child({ env = { LOFI_DAEMON_TEST_HOOKS = "1", LOFI_TEST_STEP_DELAY_MS = "10" } })
    child:setup({ model = { backend = "ggml", weights_path = model, threads = 1 } })
    local err, ack = child:api("generate", { prompt = "night drive", seed = 4, duration_sec = 10, play = true })
    assert.is_nil(err)
    child:event("playback_start", { track_id = ack.track_id })
    assert.is_nil(
      child:lua("return require('lofi.state').track(...)", ack.track_id),
      "not complete yet: no generation_complete"
    )
    local line = child:lua("return require('lofi').statusline()")
    assert.is_truthy(line:find("night drive", 1, true), line)
    assert.is_truthy(line:find("%d+%%"), "the generation goes on: " .. line)
    child:event("generation_complete", { track_id = ack.track_id })
  end)

  it("a track made ahead that fails again and again is said once; one asked for, every time", function()
    local model = helpers.tempdir() .. "/model.gguf"
    assert(vim.uv.fs_copyfile(vim.fn.fnamemodify("tests/fixtures/musicgen-tiny/model-f16.gguf", ":p"), model))
    child = helpers.child()
    child:setup({
      model = { backend = "ggml", weights_path = model, threads = 1, keep_loaded_sec = 1 },
      defaults = { duration_sec = 1 },
    })
    local err, ack = child:api("generate", { prompt = "lofi", seed = 1, play = true })
    assert.is_nil(err)
    child:event("generation_complete", { track_id = ack.track_id })
    -- The model file is written over in place: the daemon loads it again at its next use, which
    -- fails, and the looping playlist tries to make its next track at each half way.
    vim.fn.writefile({ "not a model" }, model)
    local failures = function()
      return child:lua("return #vim.tbl_filter(function(e) return e.name == 'generation_error' end, _G.events)")
    end
    assert.is_true(
      vim.wait(30000, function()
        return failures() >= 3
      end, 100),
      "prefetches failed: " .. failures() .. vim.inspect(child:event_names())
    )
    local said = child:lua("return vim.tbl_filter(function(m) return m.msg:find('failed:', 1, true) end, _G.messages)")
    assert.are.equal(1, #said, vim.inspect(said))
    assert.matches("^lofi: making %x+ ahead failed: .+ %(MODEL_INFERENCE_FAILED%)$", said[1].msg)
    assert.are.equal(vim.log.levels.ERROR, said[1].level)
    -- A track asked for says its failure every time.
    local asked_failed = [[#vim.tbl_filter(function(m) return m.msg:find("^lofi: generating") end, _G.messages)]]
    for seed = 2, 3 do
      child:api("generate", { prompt = "asked", seed = seed, play = false })
      child:wait(asked_failed .. " == " .. (seed - 1), 15000, "failure " .. (seed - 1))
    end
  end)

  it("a model.device the daemon lacks is said in one line, and the procedural backend plays", function()
    local model = vim.fn.fnamemodify("tests/fixtures/musicgen-tiny/model-f16.gguf", ":p")
    child = helpers.child()
    child:setup({ model = { backend = "ggml", weights_path = model, device = "cuda" } })
    child:api("status")
    local status = child:wait("require('lofi.state').current.model", 5000, "status")
    assert.are.equal("procedural", status.backend)
    child:wait("#_G.messages > 0", 5000, "the warning")
    local messages = child:lua("return _G.messages")
    assert.matches(
      'device "cuda" is not in this build %(rebuild lofi%-daemon with %-%-features cuda%); using the procedural backend',
      messages[#messages].msg
    )
  end)
end)
