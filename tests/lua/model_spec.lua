-- The model from the editor, in a child Neovim against the real daemon and the real
-- install.sh: :Lofi model install (a prebuilt GGUF at LOFI_MODEL_URL, here the committed tiny
-- fixture, as a mirror would serve musicgen-small), then a ggml track plays from the installed
-- file; :Lofi model shows it; :Lofi model remove deletes it and the procedural backend plays.
local helpers = require("helpers")

local fixture = vim.fn.fnamemodify(helpers.root .. "/tests/fixtures/musicgen-tiny/model-f16.gguf", ":p")

local function float_text(child)
  child:wait("vim.api.nvim_win_get_config(0).relative ~= ''", 10000, "the float")
  return child:lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
end

describe(":Lofi model", function()
  local child

  after_each(function()
    child:stop()
  end)

  it("installs a model, plays a ggml track from it, shows it and removes it", function()
    child = helpers.child({ env = { LOFI_MODEL_URL = "file://" .. fixture } })
    child:setup({ model = { backend = "auto", quantization = "F16", threads = 1 } })
    local installed = child:lua("return require('lofi.config').weights_path()")
    assert.are.equal(child.home .. "/data/nvim/lofi/models/musicgen-small-F16.gguf", installed)
    assert.are.same({ "install", "remove" }, child:lua("return vim.fn.getcompletion('Lofi model ', 'cmdline')"))
    assert.are.same(
      require("lofi.config").model_names,
      child:lua("return vim.fn.getcompletion('Lofi model install ', 'cmdline')")
    )

    -- Nothing installed yet: one line that says how to get one.
    child:cmd("Lofi model")
    child:wait("_G.said('no model at')", 10000, "the missing model")
    assert.matches(":Lofi model install installs musicgen%-small", child:lua("return _G.last()"))

    child:cmd("Lofi model install")
    assert.are.equal("lofi: installing musicgen-small in the background", child:lua("return _G.last()"))
    local said = child:wait("_G.said('^lofi: model installed')", 60000, "the install")
    assert.are.equal("lofi: model installed: " .. installed, said)
    assert.are.equal(1, vim.fn.filereadable(installed))
    assert.are.equal(vim.fn.getfsize(fixture), vim.fn.getfsize(installed))
    assert.is_nil(child:lua("return _G.said('%.part')"), "no partial file named")

    -- The daemon restarted on the installed file: a ggml track is generated and plays.
    local err, ack = child:api("generate", { prompt = "lofi, rain", seed = 3, duration_sec = 2, play = true })
    assert.is_nil(err)
    local done = child:event("generation_complete", { track_id = ack.track_id }, 60000)
    assert.are.equal("ggml", done.backend)
    child:event("playback_start", { track_id = ack.track_id }, 20000)

    child:cmd("Lofi model")
    local text = float_text(child)
    assert.matches("model OK: " .. vim.pesc(installed), text)
    assert.matches("quantization  F16", text)
    assert.matches("in use        ggml backend on cpu", text)
    child:cmd("close")

    child:cmd("Lofi model remove")
    local removed = child:wait("_G.said('^lofi: removed')", 20000, "the removal")
    assert.matches(vim.pesc(installed) .. " %(4 MB%); the procedural backend plays", removed)
    assert.are.equal(0, vim.fn.filereadable(installed))
    child:api("status")
    child:wait("require('lofi.state').current.model.backend == 'procedural'", 10000, "the procedural backend")
  end)

  it("converts a checkpoint from the Hugging Face cache and plays a ggml track from it", function()
    -- The layout huggingface_hub reads (HF_HUB_OFFLINE=1): the fixture checkpoint as a repository.
    local hf = helpers.tempdir()
    local repo = hf .. "/hub/models--lofi-test--musicgen-tiny"
    local commit = "0123456789abcdef0123456789abcdef01234567"
    vim.fn.mkdir(repo .. "/refs", "p")
    vim.fn.mkdir(repo .. "/snapshots/" .. commit, "p")
    vim.fn.writefile({ commit }, repo .. "/refs/main", "b")
    for _, file in ipairs(vim.fn.glob(helpers.root .. "/tests/fixtures/musicgen-tiny/hf/*", true, true)) do
      assert(vim.uv.fs_copyfile(file, repo .. "/snapshots/" .. commit .. "/" .. vim.fs.basename(file)))
    end
    child = helpers.child({ env = { HF_HOME = hf, HF_HUB_OFFLINE = "1" } })
    child:setup({ model = { backend = "auto", quantization = "Q8_0", threads = 1 } })
    child:cmd("Lofi model install lofi-test/musicgen-tiny")
    -- A first install prepares the converter's venv (pinned packages from PyPI).
    local said = child:wait("_G.said('^lofi: model installed')", 300000, "the conversion")
    local installed = child.home .. "/data/nvim/lofi/models/musicgen-tiny-Q8_0.gguf"
    assert.are.equal(
      ("lofi: model installed: %s (set model.weights_path = %q in setup() to keep using it)"):format(
        installed,
        installed
      ),
      said
    )
    assert.are.equal(installed, child:lua("return require('lofi.config').weights_path()"))
    assert.are.same({}, vim.fn.glob(child.home .. "/data/nvim/lofi/convert-*", true, true))
    local err, ack = child:api("generate", { prompt = "lofi, rain", seed = 4, duration_sec = 2, play = true })
    assert.is_nil(err)
    local done = child:event("generation_complete", { track_id = ack.track_id }, 60000)
    assert.are.equal("ggml", done.backend)
    assert.matches("^musicgen%-tiny%-q8_0%-", done.model_version)
    child:event("playback_start", { track_id = ack.track_id }, 20000)
  end)

  it("says why an install failed in one line and installs nothing", function()
    child = helpers.child({ env = { LOFI_MODEL_URL = "file:///nonexistent/model.gguf" } })
    child:setup({ model = { backend = "auto", quantization = "F16" } })
    child:cmd("Lofi model install musicgen-melody")
    local melody = child:wait("_G.said('melody conditioning')", 30000, "the melody refusal")
    assert.are.equal(
      "lofi: musicgen-melody needs melody conditioning, which lofi.nvim does not support (INSTALL_FAILED)",
      melody
    )
    child:cmd("Lofi model install")
    local failed = child:wait("_G.said('failed %(run again')", 30000, "the download failure")
    assert.matches("downloading file:///nonexistent/model.gguf failed %(run again to resume%)", failed)
    assert.are.same({}, vim.fn.glob(child.home .. "/data/nvim/lofi/models/*", true, true))
    child:cmd("Lofi model wat")
    child:wait("_G.said('usage: :Lofi model')")
  end)
end)
