---@mod lofi.keymaps The default mappings (config.keymaps), each on its <Plug> mapping.

local M = {}

-- config.keymaps key → <Plug> name defined in plugin/lofi.lua, and its description.
M.actions = {
  toggle = { "(lofi-toggle)", "Toggle lofi playback" },
  generate = { "(lofi-generate)", "Generate a lofi track" },
  stop = { "(lofi-stop)", "Stop lofi playback" },
  skip = { "(lofi-skip)", "Skip to the next lofi track" },
  volume_up = { "(lofi-volume-up)", "Lofi volume +10%" },
  volume_down = { "(lofi-volume-down)", "Lofi volume -10%" },
  prompt = { "(lofi-prompt)", "Generate lofi from a prompt" },
  status = { "(lofi-status)", "Show lofi status" },
}

local applied = {} ---@type string[] the lhs this module mapped

--- Replaces the mappings made by an earlier call with those of `keymaps`.
---@param keymaps lofi.KeymapsConfig|false
function M.apply(keymaps)
  for _, lhs in ipairs(applied) do
    pcall(vim.keymap.del, "n", lhs)
  end
  applied = {}
  if not keymaps then
    return
  end
  for name, lhs in pairs(keymaps) do
    local action = M.actions[name]
    if action and lhs then
      vim.keymap.set("n", lhs, "<Plug>" .. action[1], { desc = action[2], remap = true })
      applied[#applied + 1] = lhs
    end
  end
end

return M
