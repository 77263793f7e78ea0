---@mod lofi.progress Progress (generations, the model installer) in the place the user chose
--- (ui.progress).

local config = require("lofi.config")

local uv = vim.uv or vim.loop

local M = {}

local THROTTLE_MS = 500 -- at most two updates a second

-- The reporter for the current generation, per track id.
local active = {} ---@type table<string, { last: integer, handle: any }>

local reporters = {}

function reporters.cmdline()
  return {
    update = function(_, message)
      vim.api.nvim_echo({ { message } }, false, {})
    end,
    finish = function()
      vim.api.nvim_echo({ { "" } }, false, {})
    end,
  }
end

function reporters.fidget(title)
  local ok, progress = pcall(require, "fidget.progress")
  if not ok then
    return nil
  end
  local handle = progress.handle.create({
    title = title,
    message = "starting",
    percentage = 0,
    lsp_client = { name = "lofi" },
  })
  return {
    update = function(percent, message)
      handle:report({ message = message, percentage = percent })
    end,
    finish = function()
      handle:report({ message = "done", percentage = 100 }) -- not left at its last percentage
      handle:finish()
    end,
  }
end

function reporters.mini(title)
  local ok, notify = pcall(require, "mini.notify")
  if not ok then
    return nil
  end
  local id = notify.add("lofi: " .. title:lower() .. "…")
  return {
    update = function(_, message)
      notify.update(id, { msg = message })
    end,
    finish = function()
      notify.remove(id)
    end,
  }
end

function reporters.notify(_, ended)
  local record
  return {
    update = function(_, message)
      -- nvim-notify replaces by record, snacks by id; other backends just show it.
      record = vim.notify(message, vim.log.levels.INFO, { title = "lofi", id = "lofi_progress", replace = record })
    end,
    finish = function()
      if record then
        -- The progress entry ends rather than lingering at its last percentage.
        vim.notify(ended, vim.log.levels.INFO, {
          title = "lofi",
          id = "lofi_progress",
          replace = record,
          timeout = 500,
        })
      end
    end,
  }
end

function reporters.none()
  return { update = function() end, finish = function() end }
end

local warned = {}

---@param title string what is in progress ("Generating 1a2b3c4d")
---@param ended string the message that replaces it in notification UIs
local function reporter(title, ended)
  local mode = config.current.ui.progress
  local made = reporters[mode](title, ended)
  if made then
    return made
  end
  if not warned[mode] then
    warned[mode] = true
    vim.notify(
      ("lofi: ui.progress = %q needs %s, which is not installed; showing progress in the cmdline"):format(
        mode,
        mode == "fidget" and "fidget.nvim" or "mini.notify"
      ),
      vim.log.levels.WARN
    )
  end
  return reporters.cmdline()
end

---@param percent number
---@param eta_sec number?
---@return string
function M.message(percent, eta_sec)
  local text = ("lofi: generating %d%%..."):format(percent)
  if eta_sec and eta_sec > 0 then
    text = text .. (" ~%d s left"):format(math.ceil(eta_sec))
  end
  return text
end

--- Reports a generation_progress event (throttled to 2/s per track).
---@param data table
function M.update(data)
  local entry = active[data.track_id]
  local now = uv.now()
  if not entry then
    entry = { last = -math.huge, handle = reporter("Generating " .. data.track_id, "lofi: generation ended") }
    active[data.track_id] = entry
  end
  if now - entry.last < THROTTLE_MS then
    return
  end
  entry.last = now
  entry.handle.update(data.percent or 0, M.message(data.percent or 0, data.eta_sec))
end

--- A task's progress report other than a generation's (the model installer).
---@param title string
---@param ended string
---@return { update: fun(percent: number?, message: string), finish: fun() }
function M.task(title, ended)
  return reporter(title, ended)
end

--- Ends the report for a track (completed or failed).
---@param track_id string
function M.finish(track_id)
  local entry = active[track_id]
  if entry then
    active[track_id] = nil
    entry.handle.finish()
  end
end

return M
