---@mod lofi.errors Typed errors: every failure has a code and one sentence for the user.

local M = {}

---@class lofi.Error
---@field code string     DAEMON_NOT_FOUND, DAEMON_CRASH, DAEMON_TIMEOUT, DAEMON_NOT_RUNNING, or the daemon's data.reason (INVALID_TRACK_ID, ...)
---@field message string  one sentence meant for the user
---@field data table?     the daemon's error data (field, track_id, ...)

---@param code string
---@param message string
---@param data table?
---@return lofi.Error
function M.new(code, message, data)
  return { code = code, message = message, data = data }
end

--- Converts a JSON-RPC error object from the daemon.
---@param err table
---@return lofi.Error
function M.from_rpc(err)
  local data = type(err.data) == "table" and err.data or {}
  return M.new(data.reason or "RPC_ERROR", err.message or "the daemon reported an error", data)
end

---@param err lofi.Error
---@return string
function M.format(err)
  return ("lofi: %s (%s)"):format(err.message, err.code)
end

return M
