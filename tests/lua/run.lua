-- Runs busted inside Neovim (`nvim -l tests/lua/run.lua [busted args]`), the way nlua does:
-- busted and its modules come from Debian's lua-busted (scripts/install-deps.sh test).
package.path = "/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;" .. package.path
package.cpath = "/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;" .. package.cpath
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h:h")
package.path = root .. "/tests/lua/?.lua;" .. package.path
vim.opt.runtimepath:prepend(root) -- unit specs require lofi.* in this process
require("busted.runner")({ standalone = false })
