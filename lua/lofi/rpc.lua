---@mod lofi.rpc JSON-RPC framing: one message per line, whatever the pipe's chunking.

local M = {}

---@class lofi.LineBuffer
---@field private pending string
local LineBuffer = {}
LineBuffer.__index = LineBuffer

---@return lofi.LineBuffer
function M.line_buffer()
  return setmetatable({ pending = "" }, LineBuffer)
end

--- Adds a chunk of stdout and returns the complete lines it finished (a chunk may hold
--- part of a line, several lines, or both).
---@param chunk string
---@return string[]
function LineBuffer:push(chunk)
  local data = self.pending .. chunk
  local lines = {}
  local start = 1
  while true do
    local nl = data:find("\n", start, true)
    if not nl then
      break
    end
    local line = data:sub(start, nl - 1)
    if line ~= "" then
      lines[#lines + 1] = line
    end
    start = nl + 1
  end
  self.pending = data:sub(start)
  return lines
end

local decode_opts = { luanil = { object = true, array = true } }

---@param line string
---@return table? message, string? error
function M.decode(line)
  local ok, message = pcall(vim.json.decode, line, decode_opts)
  if not ok or type(message) ~= "table" then
    return nil, ("lofi: the daemon wrote a line that is not JSON-RPC: %s"):format(line:sub(1, 200))
  end
  return message
end

---@param id integer
---@param method string
---@param params table?
---@return string line, ending in a newline
function M.encode_request(id, method, params)
  if params == nil or next(params) == nil then
    params = vim.empty_dict()
  end
  return vim.json.encode({ jsonrpc = "2.0", id = id, method = method, params = params }) .. "\n"
end

return M
