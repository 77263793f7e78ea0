---@mod lofi.track_id The daemon's track id formula, so `generate()` can return the id at once.

local M = {}

--- sha256 over the compact JSON array [prompt, seed, "<duration with 3 decimals>", model_version],
--- first 8 hex digits — the same bytes the daemon hashes (see the README's "Track ids").
---@param prompt string  already trimmed, as the daemon trims it
---@param seed integer
---@param duration_sec number
---@param model_version string
---@return string
function M.compute(prompt, seed, duration_sec, model_version)
  local json = ("[%s,%d,%s,%s]"):format(
    vim.json.encode(prompt),
    seed,
    vim.json.encode(("%.3f"):format(duration_sec)),
    vim.json.encode(model_version)
  )
  return vim.fn.sha256(json):sub(1, 8)
end

local seeded = false

--- A random seed in the daemon's range (0 … 2^53 − 1), drawn here so the id is known at once.
---@return integer
function M.random_seed()
  if not seeded then
    math.randomseed((vim.uv or vim.loop).hrtime() % 2147483647)
    seeded = true
  end
  return math.random(0, 2 ^ 31 - 1) * 2 ^ 22 + math.random(0, 2 ^ 22 - 1)
end

return M
