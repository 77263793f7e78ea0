-- Child Neovim processes driven over RPC (mini.test style), each against the real daemon.
local M = {}

M.root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h:h")
M.daemon_bin = vim.env.LOFI_DAEMON_BIN or (M.root .. "/target/debug/lofi-daemon")

--- A fresh temporary directory.
function M.tempdir()
  local dir = vim.fn.tempname()
  vim.fn.mkdir(dir, "p")
  return dir
end

--- A child set up afresh for each test of the calling `describe` block (stopped after it).
---@return fun(): Child child the test's child
function M.child_per_test()
  -- busted gives its hooks to the spec file's environment, not to the modules it requires.
  local spec = getfenv(2)
  local child
  spec.before_each(function()
    child = M.child()
    child:setup()
  end)
  spec.after_each(function()
    child:stop()
  end)
  return function()
    return child
  end
end

---@class Child
---@field chan integer
---@field home string
local Child = {}
Child.__index = Child

--- Starts `nvim --embed --headless` with the plugin on its runtimepath and its own XDG dirs
--- (or with `init` as its init file instead), plus the plugin directories in `rtp`.
---@param opts { home: string?, env: table?, init: string?, rtp: string[]? }?
function M.child(opts)
  opts = opts or {}
  local home = opts.home or M.tempdir()
  local env = {
    XDG_CONFIG_HOME = home .. "/config",
    XDG_DATA_HOME = home .. "/data",
    XDG_STATE_HOME = home .. "/state",
    XDG_CACHE_HOME = home .. "/cache",
    XDG_RUNTIME_DIR = home,
  }
  for k, v in pairs(opts.env or {}) do
    env[k] = v
  end
  local chan = vim.fn.jobstart({
    vim.v.progpath,
    "--embed",
    "--headless",
    "-i",
    "NONE",
    "-n",
    "-u",
    opts.init or (M.root .. "/tests/lua/minimal_init.lua"),
  }, { rpc = true, env = env })
  assert(chan > 0, "cannot start a child Neovim")
  local child = setmetatable({ chan = chan, home = home }, Child)
  child:lua("return 1") -- wait until it is up
  for _, dir in ipairs(opts.rtp or {}) do
    child:lua("vim.opt.rtp:append(...)", dir)
  end
  return child
end

--- Types keys into the child as a user would (nvim_input: mappings apply).
function Child:input(keys)
  vim.rpcrequest(self.chan, "nvim_input", keys)
end

--- Runs Lua in the child; `...` arrive as `...` there.
function Child:lua(code, ...)
  local value = vim.rpcrequest(self.chan, "nvim_exec_lua", code, { ... })
  if value == vim.NIL then
    return nil
  end
  return value
end

function Child:cmd(command)
  return vim.rpcrequest(self.chan, "nvim_command", command)
end

--- Polls `code` (a Lua expression in the child) until it is truthy; fails after `timeout` ms.
function Child:wait(code, timeout, what)
  local value
  local ok = vim.wait(timeout or 10000, function()
    value = self:lua("return " .. code)
    return value ~= nil and value ~= false
  end, 20)
  assert(ok, "timed out waiting for " .. (what or code))
  return value
end

--- setup() with headless defaults: the debug daemon, no audio device, a private cache.
function Child:setup(extra)
  local opts = vim.tbl_deep_extend("force", {
    daemon = { bin = M.daemon_bin, restart_on_crash = true },
    model = { backend = "procedural" },
    audio = { device = "none" },
    cache = { dir = self.home .. "/cache/lofi" },
    defaults = { duration_sec = 4 },
    ui = { progress = "none" },
  }, extra or {})
  self:lua(
    [[
    _G.messages = {}
    vim.notify = function(msg, level) table.insert(_G.messages, { msg = msg, level = level }) end
    _G.last = function() local m = _G.messages[#_G.messages]; return m and m.msg or "" end
    _G.said = function(pattern) -- the latest message matching a Lua pattern
      for i = #_G.messages, 1, -1 do
        if _G.messages[i].msg:find(pattern) then return _G.messages[i].msg end
      end
    end
    require('lofi').setup(...)
    -- Record every event in order.
    _G.events = {}
    for _, name in ipairs(require("lofi.events").names) do
      require("lofi").on(name, function(data)
        table.insert(_G.events, { name = name, data = data })
      end)
    end
  ]],
    opts
  )
end

--- Calls a lofi API function with a callback and waits for it: returns err, result.
function Child:api(name, ...)
  self:lua(
    [[
    local name, args, n = ...
    _G.reply = nil
    args[n + 1] = function(err, result) _G.reply = { err = err or false, result = result } end
    require("lofi")[name](unpack(args, 1, n + 1))
  ]],
    name,
    { ... },
    select("#", ...)
  )
  local reply = self:wait("_G.reply", 15000, name)
  return reply.err or nil, reply.result
end

--- Names of the events seen so far, in order.
function Child:event_names()
  return self:lua("return vim.tbl_map(function(e) return e.name end, _G.events)")
end

--- Waits for an event (optionally with field values) and returns its data.
function Child:event(name, match, timeout)
  return self:wait(
    ([[(function()
      for _, e in ipairs(_G.events) do
        if e.name == %q then
          local ok = true
          for k, v in pairs(%s) do ok = ok and e.data[k] == v end
          if ok then return e.data end
        end
      end
    end)()]]):format(name, vim.inspect(match or {})),
    timeout or 15000,
    name
  )
end

function Child:stop()
  pcall(vim.fn.jobstop, self.chan)
  vim.fn.jobwait({ self.chan }, 3000)
end

--- The daemon pid the child's plugin runs, if any.
function Child:daemon_pid()
  return self:lua("return require('lofi.daemon').pid()")
end

function M.process_alive(pid)
  return pid ~= nil and vim.uv.kill(pid, 0) == 0
end

return M
