---@mod lofi.model The MusicGen model from the editor: install it (install.sh in the
--- background, progress in ui.progress), show it, remove it.

local config = require("lofi.config")
local errors = require("lofi.errors")

local M = {}

local installing = false

--- Calls `on_line` with each whole line of a stream, as it arrives.
local function lines_of(on_line)
  local pending = ""
  return function(_, chunk)
    if not chunk then
      return
    end
    pending = pending .. chunk
    for line in pending:gmatch("([^\n]*)\n") do
      on_line(line)
    end
    pending = pending:match("[^\n]*$")
  end
end

local function restart_daemon(callback)
  local daemon = require("lofi.daemon")
  if not daemon.is_running() then
    return callback(nil) -- the next start loads the model file
  end
  daemon.restart(callback)
end

--- Installs a model with install.sh (`name`: an official name or a Hugging Face repository id,
--- default model.name; model.quantization), then restarts the daemon so `auto` picks it up.
---@param name string?
---@param callback fun(err: lofi.Error?, installed: { path: string, session_only: boolean }?)?
function M.install(name, callback)
  vim.validate("name", name, "string", true)
  vim.validate("callback", callback, "function", true)
  callback = callback or function() end
  name = name or config.current.model.name
  if installing then
    return callback(errors.new("INSTALL_RUNNING", "a model install is already running"))
  end
  local daemon = require("lofi.daemon")
  local bin, err = daemon.find_bin()
  if not bin then
    return callback(err)
  end
  local quantization = config.current.model.quantization
  local task = require("lofi.progress").task("Installing " .. name, "lofi: model install ended")
  local installed, failure
  installing = true
  local on_stdout = vim.schedule_wrap(function(line)
    local text = line:match("^lofi%.nvim: (.*)")
    if text then
      installed = text:match("^model installed: (.-) %(") or text:match("^model installed: (.*)$") or installed
      task.update(nil, "lofi: " .. text)
    end
  end)
  local ok, spawn_err = pcall(
    vim.system,
    {
      "bash",
      daemon.plugin_root() .. "/install.sh",
      "--model-only",
      "--model",
      name,
      "--quantization",
      quantization,
    },
    {
      text = true,
      env = { LOFI_DAEMON = bin, LOFI_DATA_DIR = vim.fn.stdpath("data") .. "/lofi" },
      stdout = lines_of(on_stdout),
      stderr = lines_of(function(line)
        failure = line:match("^install%.sh: (.*)") or failure
      end),
    },
    vim.schedule_wrap(function(result)
      installing = false
      task.finish()
      if result.code ~= 0 or not installed then
        local message = failure or ("install.sh exited with %d"):format(result.code)
        return callback(errors.new("INSTALL_FAILED", message))
      end
      local session_only = installed ~= config.weights_path()
      if session_only then
        -- Another file than the configured one (another name or quantization): use it for
        -- this session; setup() decides after a restart of Neovim.
        config.current.model.weights_path = installed
      end
      restart_daemon(function(restart_err)
        callback(restart_err, { path = installed, session_only = session_only })
      end)
    end)
  )
  if not ok then
    installing = false
    task.finish()
    callback(errors.new("INSTALL_FAILED", "cannot run install.sh: " .. tostring(spawn_err)))
  end
end

--- What is installed: `--verify-model`'s report of the configured model file, and where the
--- daemon runs it.
---@param callback fun(err: lofi.Error?, lines: string[]?)
function M.info(callback)
  vim.validate("callback", callback, "function")
  local path = config.weights_path()
  if vim.fn.filereadable(path) == 0 then
    return callback(
      errors.new(
        "MODEL_NOT_FOUND",
        ("no model at %s; :Lofi model install installs musicgen-small (the procedural backend plays meanwhile)"):format(
          path
        )
      )
    )
  end
  local bin, err = require("lofi.daemon").find_bin()
  if not bin then
    return callback(err)
  end
  vim.system(
    { bin, "--verify-model", path },
    { text = true },
    vim.schedule_wrap(function(result)
      local lines = vim.split(vim.trim((result.stdout or "") .. (result.stderr or "")), "\n")
      local model = require("lofi.state").current.model
      if model then
        lines[#lines + 1] = ("  in use        %s backend on %s"):format(model.backend, model.device or "cpu")
      end
      callback(nil, lines)
    end)
  )
end

--- Deletes the configured model file and restarts the daemon (on `auto` it then plays the
--- procedural backend).
---@param callback fun(err: lofi.Error?, removed: { path: string, size_mb: number }?)?
function M.remove(callback)
  vim.validate("callback", callback, "function", true)
  callback = callback or function() end
  local path = config.weights_path()
  local stat = vim.uv.fs_stat(path)
  if not stat then
    return callback(errors.new("MODEL_NOT_FOUND", ("no model at %s to remove"):format(path)))
  end
  local ok, remove_err = os.remove(path)
  if not ok then
    return callback(errors.new("MODEL_REMOVE_FAILED", ("cannot remove %s: %s"):format(path, remove_err)))
  end
  restart_daemon(function(err)
    callback(err, { path = path, size_mb = stat.size / 1e6 })
  end)
end

return M
