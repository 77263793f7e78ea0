-- The radio from the editor, in a child Neovim against the real daemon (procedural backend):
-- :Lofi radio starts it, a prompt steers it, the statusline shows its buffer, stop ends it.
local helpers = require("helpers")

describe("radio", function()
  local child = helpers.child_per_test()

  it("starts, is steered, shows its buffer health and stops", function()
    child():cmd("Lofi radio rainy night")
    child():wait("_G.said('radio on')", 10000, "the radio to start")
    assert.are.equal('lofi: radio on "rainy night"', child():lua("return _G.last()"))
    local segment = child():event("radio_segment")
    assert.are.equal("rainy night", segment.track.prompt)
    child():event("playback_start")
    -- The buffer fills ahead of the listener; the statusline says how far, and how fast.
    local health = child():wait(
      "(function() local s = require('lofi').statusline(); return s:find('📻 %d+s') and s end)()",
      10000,
      "the radio in the statusline"
    )
    assert.is_truthy(health:find("×"), health)
    assert.are.equal("rainy night", child():lua("return require('lofi').status().radio.prompt"))

    -- With the radio on, a prompt steers it instead of starting another.
    child():cmd("Lofi radio sunny jazz")
    child():wait("_G.said('radio → sunny jazz')")
    assert.are.equal("lofi: radio → sunny jazz: from the next bar", child():lua("return _G.last()"))
    -- Heard within about two segments: the radio stays ~12 s ahead.
    child():wait(
      [[#vim.tbl_filter(function(e)
      return e.name == "radio_segment" and e.data.track.prompt == "sunny jazz"
    end, _G.events) > 0]],
      30000,
      "a segment on the new prompt"
    )
    assert.are.equal("sunny jazz", child():lua("return require('lofi.state').current.radio.prompt"))
    assert.is_truthy(
      child()
        :lua("return table.concat(require('lofi.ui').status_lines(), '\\n')")
        :find('Radio:      "sunny jazz"', 1, true)
    )

    child():cmd("Lofi radio stop")
    child():wait("_G.said('radio stopped')")
    assert.is_nil(child():lua("return require('lofi.state').current.radio"))
    assert.is_nil(child():lua("return require('lofi').statusline():find('📻')"))
    child():cmd("Lofi radio stop")
    child():wait("_G.said('the radio is not playing')")
    assert.are.same({ "stop" }, child():lua("return vim.fn.getcompletion('Lofi radio ', 'cmdline')"))
  end)

  it("checks its arguments and reports the daemon's refusals in one line", function()
    local ok, message = pcall(require("lofi").radio, { seed = "x" })
    assert.is_false(ok)
    assert.is_truthy(message:find("opts.seed"), message)
    local err = child():api("radio_prompt", "jazz")
    assert.are.equal("the radio is not playing", err.message)
  end)

  it("is left quietly by :Lofi stop", function()
    assert.is_nil(child():api("radio", { prompt = "rain" }))
    child():event("playback_start")
    local shown = child():lua("return #_G.messages")
    child():cmd("Lofi stop")
    child():event("radio_stopped")
    child():wait("require('lofi.state').current.radio == nil")
    assert.are.equal(shown, child():lua("return #_G.messages"), "leaving the radio is not an error")
    vim.wait(1000)
    assert.are.equal("stopped", child():lua("return require('lofi.state').current.playback.state"))
  end)
end)
