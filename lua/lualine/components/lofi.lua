-- lualine component: `sections = { lualine_x = { "lofi" } }`. Shows nothing while idle.
local component = require("lualine.component"):extend()

function component:update_status()
  if not package.loaded["lofi"] then
    return "" -- never load the plugin just to draw an empty statusline
  end
  return require("lofi.ui").statusline()
end

return component
