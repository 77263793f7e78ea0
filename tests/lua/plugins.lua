-- The real plugins lofi.nvim integrates with, for integration tests: the copies in
-- ../shared/nvim-plugins (unmodified, their README lists the commits), else clones of the
-- same commits from GitHub into target/test-plugins; nil and one line saying why when neither.
local helpers = require("helpers")

local M = {}

-- name -> upstream repository and commit (as ../shared/nvim-plugins/README.md lists them).
M.pinned = {
  ["plenary.nvim"] = { "nvim-lua/plenary.nvim", "b9fd5226c2f76c951fc8ed5923d85e4de065e509" },
  ["telescope.nvim"] = { "nvim-telescope/telescope.nvim", "7d324792b7943e4aa16ad007212e6acc6f9fe335" },
  ["lualine.nvim"] = { "nvim-lualine/lualine.nvim", "221ce6b2d999187044529f49da6554a92f740a96" },
  ["fidget.nvim"] = { "j-hui/fidget.nvim", "6f793b2bcd2d35e201c09520f698bb763220908a" },
  ["mini.nvim"] = { "echasnovski/mini.nvim", "b5bae7dd5802b47bb03babfb374fdfdab02b9d8b" },
  ["nvim-notify"] = { "rcarriga/nvim-notify", "8701bece920b38ea289b457f902e2ad184131a5d" },
  ["snacks.nvim"] = { "folke/snacks.nvim", "ad9ede6a9cddf16cedbd31b8932d6dcdee9b716e" },
  ["lazy.nvim"] = { "folke/lazy.nvim", "306a05526ada86a7b30af95c5cc81ffba93fef97" },
}

local failures = {} ---@type table<string, string>

--- The plugin's directory, or nil and why it is missing.
---@param name string
---@return string? path, string? why
function M.path(name)
  local shared = vim.fs.normalize(helpers.root .. "/../shared/nvim-plugins/" .. name)
  if vim.uv.fs_stat(shared .. "/lua") then
    return shared
  end
  local clone = helpers.root .. "/target/test-plugins/" .. name
  if vim.uv.fs_stat(clone .. "/lua") then
    return clone
  end
  if failures[name] then
    return nil, failures[name]
  end
  local upstream, commit = unpack(M.pinned[name])
  local git = function(args)
    return vim.system(vim.list_extend({ "git" }, args), { timeout = 120000 }):wait()
  end
  vim.fn.mkdir(clone, "p")
  local steps = {
    { "-C", clone, "init", "--quiet" },
    { "-C", clone, "fetch", "--quiet", "--depth", "1", "https://github.com/" .. upstream, commit },
    { "-C", clone, "checkout", "--quiet", "FETCH_HEAD" },
  }
  for _, step in ipairs(steps) do
    local done = git(step)
    if done.code ~= 0 then
      vim.fn.delete(clone, "rf")
      failures[name] = ("%s is not in ../shared/nvim-plugins and cannot be cloned from github.com/%s: %s"):format(
        name,
        upstream,
        vim.trim(done.stderr or "")
      )
      return nil, failures[name]
    end
  end
  return clone
end

--- Paths of all `names`, or nil and the first reason one is missing.
---@param names string[]
---@return string[]? paths, string? why
function M.paths(names)
  local paths = {}
  for _, name in ipairs(names) do
    local path, why = M.path(name)
    if not path then
      return nil, why
    end
    paths[#paths + 1] = path
  end
  return paths
end

return M
