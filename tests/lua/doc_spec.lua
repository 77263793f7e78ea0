-- doc/lofi.txt: valid help tags for every function, subcommand, event and config section.
local helpers = require("helpers")

describe("doc/lofi.txt", function()
  local tags = {}

  setup(function()
    local dir = helpers.tempdir()
    vim.fn.mkdir(dir .. "/doc", "p")
    vim.fn.writefile(vim.fn.readfile(helpers.root .. "/doc/lofi.txt"), dir .. "/doc/lofi.txt")
    vim.cmd("helptags " .. vim.fn.fnameescape(dir .. "/doc")) -- fails on duplicate tags
    for _, line in ipairs(vim.fn.readfile(dir .. "/doc/tags")) do
      tags[line:match("^[^\t]+")] = true
    end
  end)

  it("has a tag for every public function", function()
    for name, value in pairs(require("lofi")) do
      if type(value) == "function" then
        assert.is_true(tags["lofi." .. name .. "()"] or false, "no tag lofi." .. name .. "()")
      end
    end
  end)

  it("has a tag for every subcommand, event and config section", function()
    for name in pairs(require("lofi.commands").subcommands) do
      assert.is_true(tags[":Lofi-" .. name] or false, "no tag :Lofi-" .. name)
    end
    for _, name in ipairs(require("lofi.events").names) do
      assert.is_true(tags["lofi-event-" .. name] or false, "no tag lofi-event-" .. name)
    end
    for section in pairs(require("lofi.config").defaults()) do
      assert.is_true(tags["lofi-config-" .. section] or false, "no tag lofi-config-" .. section)
    end
    for _, action in pairs(require("lofi.keymaps").actions) do
      assert.is_true(tags["<Plug>" .. action[1]] or false, "no tag <Plug>" .. action[1])
    end
  end)
end)

describe("progress", function()
  local progress = require("lofi.progress")
  local config = require("lofi.config")

  it("updates the cmdline at most twice a second and warns once about a missing fidget", function()
    local echoed, notified = {}, {}
    local echo, notify = vim.api.nvim_echo, vim.notify
    vim.api.nvim_echo = function(chunks)
      echoed[#echoed + 1] = chunks[1][1]
    end
    vim.notify = function(msg)
      notified[#notified + 1] = msg
    end
    config.current = config.resolve({ ui = { progress = "fidget" } }).config
    for percent = 1, 50 do
      progress.update({ track_id = "0000000a", percent = percent, eta_sec = 10 })
    end
    progress.update({ track_id = "0000000b", percent = 5 })
    progress.finish("0000000a")
    progress.finish("0000000b")
    vim.api.nvim_echo, vim.notify = echo, notify
    config.current = config.defaults()
    assert.are.same({ "lofi: generating 1%... ~10 s left", "lofi: generating 5%...", "", "" }, echoed)
    assert.are.equal(1, #notified)
    assert.matches('ui.progress = "fidget" needs fidget.nvim', notified[1])
  end)
end)
