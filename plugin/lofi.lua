-- lofi.nvim: only the :Lofi command and <Plug> mappings here; everything else loads on use.
if vim.g.loaded_lofi then
  return
end
vim.g.loaded_lofi = true

vim.api.nvim_create_user_command("Lofi", function(cmd)
  require("lofi.commands").run(cmd.fargs)
end, {
  nargs = "*",
  desc = "lofi.nvim: generate and play lofi beats",
  complete = function(arglead, cmdline, cursor)
    return require("lofi.commands").complete(arglead, cmdline, cursor)
  end,
})

for plug, rhs in pairs({
  ["(lofi-toggle)"] = "<Cmd>Lofi<CR>",
  ["(lofi-generate)"] = "<Cmd>Lofi generate<CR>",
  ["(lofi-stop)"] = "<Cmd>Lofi stop<CR>",
  ["(lofi-skip)"] = "<Cmd>Lofi skip<CR>",
  ["(lofi-volume-up)"] = "<Cmd>Lofi volume +10<CR>",
  ["(lofi-volume-down)"] = "<Cmd>Lofi volume -10<CR>",
  ["(lofi-prompt)"] = "<Cmd>Lofi prompt<CR>",
  ["(lofi-status)"] = "<Cmd>Lofi status<CR>",
}) do
  vim.api.nvim_set_keymap("n", "<Plug>" .. plug, rhs, { noremap = true, silent = true })
end
