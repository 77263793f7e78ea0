---@mod lofi.daemon The lofi-daemon process: spawn, requests, notifications, crash recovery.
---
--- Everything that touches the editor runs on the main loop: pipe callbacks only
--- schedule work. Requests carry an id, a callback and a timeout.

local config = require("lofi.config")
local errors = require("lofi.errors")
local rpc = require("lofi.rpc")

local uv = vim.uv or vim.loop

local M = {}

-- Crash recovery: back-off 0.5 s, 1 s, 2 s, … 8 s; give up after this many crashes in a minute.
M.max_restarts = 5
local restart_window_ms = 60000

local STDERR_LINES = 1000

---@class lofi.PendingRequest
---@field method string
---@field callback fun(err: lofi.Error?, result: any)
---@field timer uv.uv_timer_t

local client = {
  proc = nil, ---@type vim.SystemObj?
  pid = nil, ---@type integer?
  spawn_count = 0,
  next_id = 0,
  pending = {}, ---@type table<integer, lofi.PendingRequest>
  stopping = false,
  crashes = {}, ---@type integer[] times (uv.now) of recent crashes
  restart_timer = nil, ---@type uv.uv_timer_t?
  stderr = {}, ---@type string[]
  stderr_partial = "",
  bin = nil, ---@type string?
}

--- Notification handler; set by lofi.session. Called on the main loop.
---@type fun(method: string, params: table)
M.on_notification = function() end
--- Successful replies, before the request's callback runs; set by lofi.session.
---@type fun(method: string, result: any)
M.on_reply = function() end
--- Called on the main loop after every (re)start with `restarted = true` after a crash.
---@type fun(restarted: boolean)
M.on_start = function() end

--- The plugin's directory (install.sh and bin/ are there).
---@return string
function M.plugin_root()
  local source = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(source, ":p:h:h:h")
end

--- Where the daemon binary is looked for, in order.
---@return string[]
function M.candidates()
  local bin = config.current.daemon.bin
  if bin then
    return { vim.fn.expand(bin) }
  end
  local list = {
    M.plugin_root() .. "/bin/lofi-daemon",
    vim.fn.stdpath("data") .. "/lofi/bin/lofi-daemon",
  }
  local on_path = vim.fn.exepath("lofi-daemon")
  list[#list + 1] = on_path ~= "" and on_path or "lofi-daemon on $PATH"
  return list
end

---@return string? path, lofi.Error? err
function M.find_bin()
  local looked = M.candidates()
  for _, path in ipairs(looked) do
    if vim.fn.executable(path) == 1 then
      return path
    end
  end
  return nil,
    errors.new(
      "DAEMON_NOT_FOUND",
      ("lofi-daemon not found (looked in %s); run install.sh or set daemon.bin"):format(table.concat(looked, ", "))
    )
end

--- The command line: only what a running daemon cannot change (the settings it can change are
--- sent by request as soon as it starts; see lofi.session).
---@param bin string
---@return string[]
function M.command(bin)
  local c = config.current
  local cmd = {
    bin,
    "--idle-timeout",
    tostring(c.daemon.idle_timeout_sec),
    "--log-level",
    c.daemon.log_level,
    "--cache-dir",
    vim.fn.expand(c.cache.dir),
    "--format",
    c.audio.format,
  }
  local function add(...)
    vim.list_extend(cmd, { ... })
  end
  if c.daemon.log_file then
    add("--log-file", vim.fn.expand(c.daemon.log_file))
  end
  if c.audio.device then
    add("--audio-device", c.audio.device)
  end
  -- The daemon decides what runs (auto: ggml when the model file exists) and says why.
  add("--backend", c.model.backend)
  if c.model.backend ~= "procedural" then
    add("--model", config.weights_path(), "--device", c.model.device)
    if c.model.threads then
      add("--threads", tostring(c.model.threads))
    end
    add("--keep-model", tostring(c.model.keep_loaded_sec))
  end
  return cmd
end

---@return boolean
function M.is_running()
  return client.proc ~= nil
end

---@return integer?
function M.pid()
  return client.pid
end

---@return string[] the daemon's recent stderr lines (its log when daemon.log_file is unset)
function M.stderr_lines()
  return client.stderr
end

local function settle(id, err, result)
  local request = client.pending[id]
  if not request then
    return
  end
  client.pending[id] = nil
  request.timer:stop()
  request.timer:close()
  local ok, failure = pcall(request.callback, err, result)
  if not ok then
    vim.notify(("lofi: a %s callback failed: %s"):format(request.method, failure), vim.log.levels.ERROR)
  end
end

local function fail_all(err)
  for _, id in ipairs(vim.tbl_keys(client.pending)) do
    settle(id, err)
  end
end

local function handle_line(line)
  local message, bad = rpc.decode(line)
  if not message then
    client.stderr[#client.stderr + 1] = bad
    return
  end
  if message.method then
    M.on_notification(message.method, message.params or {})
  elseif message.id ~= nil then
    if message.error then
      settle(message.id, errors.from_rpc(message.error))
    else
      local request = client.pending[message.id]
      if request and message.result ~= nil then
        M.on_reply(request.method, message.result)
      end
      settle(message.id, nil, message.result)
    end
  end
end

local function keep_stderr(chunk)
  local text = client.stderr_partial .. chunk
  local lines = vim.split(text, "\n", { plain = true })
  client.stderr_partial = table.remove(lines)
  vim.list_extend(client.stderr, lines)
  if #client.stderr > STDERR_LINES then
    client.stderr = vim.list_slice(client.stderr, #client.stderr - STDERR_LINES + 1)
  end
end

local start

local function schedule_restart()
  local now = uv.now()
  client.crashes = vim.tbl_filter(function(t)
    return now - t < restart_window_ms
  end, client.crashes)
  client.crashes[#client.crashes + 1] = now
  local n = #client.crashes
  local events = require("lofi.events")
  if n > M.max_restarts then
    events.emit("daemon_error", {
      code = "DAEMON_CRASH",
      message = ("lofi-daemon crashed %d times within a minute; not restarting it again (:Lofi daemon start to retry, :Lofi log for its output)"):format(
        n
      ),
    })
    return
  end
  local delay = math.min(500 * 2 ^ (n - 1), 8000)
  client.restart_timer = client.restart_timer or uv.new_timer()
  client.restart_timer:start(
    delay,
    0,
    vim.schedule_wrap(function()
      if not M.is_running() then
        start(true)
      end
    end)
  )
end

local function on_exit(spawn, result)
  if spawn ~= client.spawn_count then
    return
  end
  local intentional = client.stopping
  client.proc, client.pid, client.stopping = nil, nil, false
  local crashed = not intentional and (result.code ~= 0 or result.signal ~= 0)
  fail_all(
    errors.new(
      crashed and "DAEMON_CRASH" or "DAEMON_NOT_RUNNING",
      crashed and "lofi-daemon exited before answering" or "lofi-daemon stopped before answering"
    )
  )
  local events = require("lofi.events")
  events.emit("daemon_exit", { code = result.code, signal = result.signal })
  if crashed then
    local how = result.signal ~= 0 and ("signal " .. result.signal) or ("exit code " .. result.code)
    local restart = config.current.daemon.restart_on_crash
    events.emit("daemon_error", {
      code = "DAEMON_CRASH",
      message = ("lofi-daemon exited unexpectedly (%s); its generation queue and playback were lost%s"):format(
        how,
        restart and ", restarting it" or " (:Lofi daemon start to start it again)"
      ),
    })
    if restart then
      schedule_restart()
    end
  end
end

---@param restarted boolean
---@return boolean ok, lofi.Error? err
start = function(restarted)
  if M.is_running() then
    return true
  end
  local bin, err = M.find_bin()
  if not bin then
    return false, err
  end
  client.spawn_count = client.spawn_count + 1
  local spawn = client.spawn_count
  local buffer = rpc.line_buffer()
  local ok, proc = pcall(vim.system, M.command(bin), {
    stdin = true,
    text = false,
    stdout = function(_, chunk)
      if chunk then
        vim.schedule(function()
          for _, line in ipairs(buffer:push(chunk)) do
            handle_line(line)
          end
        end)
      end
    end,
    stderr = function(_, chunk)
      if chunk then
        vim.schedule(function()
          keep_stderr(chunk)
        end)
      end
    end,
  }, function(result)
    vim.schedule(function()
      on_exit(spawn, result)
    end)
  end)
  if not ok then
    return false, errors.new("DAEMON_NOT_FOUND", ("cannot start %s: %s"):format(bin, tostring(proc)))
  end
  client.proc, client.pid, client.bin, client.stopping = proc, proc.pid, bin, false
  M.on_start(restarted)
  return true
end

--- Starts the daemon if it is not running.
---@return boolean ok, lofi.Error? err
function M.start()
  if client.restart_timer then
    client.restart_timer:stop()
  end
  client.crashes = {}
  return start(false)
end

--- Stops the daemon: closes its stdin (it exits within a second) and sends SIGTERM.
function M.stop()
  if client.restart_timer then
    client.restart_timer:stop()
  end
  local proc = client.proc
  if not proc then
    return
  end
  client.stopping = true
  pcall(proc.write, proc, nil)
  pcall(proc.kill, proc, "sigterm")
end

--- Stops the daemon and starts a new one once the old one has exited.
---@param callback fun(err: lofi.Error?)?
function M.restart(callback)
  callback = callback or function() end
  if not M.is_running() then
    local _, err = M.start()
    return callback(err)
  end
  local spawn = client.spawn_count
  M.stop()
  local timer = uv.new_timer()
  local waited = 0
  timer:start(
    20,
    20,
    vim.schedule_wrap(function()
      waited = waited + 20
      if client.spawn_count == spawn and M.is_running() and waited < 3000 then
        return
      end
      timer:stop()
      timer:close()
      local _, err = M.start()
      callback(err)
    end)
  )
end

--- Sends a request. Starts the daemon first when `daemon.auto_start` allows it.
---@param method string
---@param params table?
---@param callback fun(err: lofi.Error?, result: any)?
---@return integer? id
function M.request(method, params, callback)
  callback = callback or function(err)
    if err then
      require("lofi.ui").error(err)
    end
  end
  if not M.is_running() then
    if not config.current.daemon.auto_start then
      callback(errors.new("DAEMON_NOT_RUNNING", "lofi-daemon is not running (:Lofi daemon start)"))
      return nil
    end
    local ok, err = M.start()
    if not ok then
      callback(err)
      return nil
    end
  end
  client.next_id = client.next_id + 1
  local id = client.next_id
  local timer = uv.new_timer()
  client.pending[id] = { method = method, callback = callback, timer = timer }
  local timeout = config.current.daemon.timeout_ms
  timer:start(
    timeout,
    0,
    vim.schedule_wrap(function()
      settle(
        id,
        errors.new(
          "DAEMON_TIMEOUT",
          ("lofi-daemon did not answer %s within %.1f s (:Lofi log shows its output)"):format(method, timeout / 1000)
        )
      )
    end)
  )
  local written, err = pcall(client.proc.write, client.proc, rpc.encode_request(id, method, params))
  if not written then
    settle(id, errors.new("DAEMON_CRASH", "cannot write to lofi-daemon: " .. tostring(err)))
  end
  return id
end

return M
