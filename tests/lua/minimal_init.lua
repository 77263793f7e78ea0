-- The child Neovim's init: this checkout on the runtimepath, nothing of the user's.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.swapfile = false
