---@mod lofi.snacks snacks.nvim pickers: the tracks and prompts of lofi.picker in Snacks.picker.
---
--- Loaded only when `:Lofi list` / `:Lofi prompts` pick snacks (see lofi.picker).

local picker = require("lofi.picker")
local state = require("lofi.state")

local M = {}

--- Keys for picker actions (label, fn) in the input and list windows; the first is <CR>.
---@param actions table lofi.picker's { label, fn } list
---@param keys string[]
---@param value_of fun(item: table): table
local function bind(actions, keys, value_of)
  local named, input_keys = {}, {}
  for i, key in ipairs(keys) do
    local name = "lofi_" .. i
    named[name] = {
      desc = actions[i][1],
      action = function(p, item)
        p:close()
        if item then
          actions[i][2](value_of(item))
        end
      end,
    }
    if key ~= "<CR>" then
      input_keys[key] = { name, mode = { "n", "i" } }
    end
  end
  return {
    actions = named,
    confirm = "lofi_1",
    win = { input = { keys = input_keys }, list = { keys = input_keys } },
  }
end

--- Cached tracks: <CR> play, <C-a> add to playlist, <C-d> delete; preview with waveform.
---@param opts table? Snacks.picker options merged over these
function M.tracks(opts)
  local waveforms = {} ---@type table<string, string[]>
  local spec = vim.tbl_deep_extend(
    "force",
    {
      source = "lofi_tracks",
      title = "lofi tracks",
      items = vim.tbl_map(function(track)
        return { text = track.prompt .. " " .. track.track_id, track = track }
      end, state.current.tracks),
      format = function(item)
        return { { picker.track_label(item.track) } }
      end,
      preview = function(ctx)
        local track = ctx.item.track
        local function show(lines)
          ctx.preview:reset()
          ctx.preview:set_title(track.track_id)
          ctx.preview:set_lines(picker.preview_lines(track, lines))
        end
        show(waveforms[track.track_id])
        if not waveforms[track.track_id] then
          local width = ctx.win and vim.api.nvim_win_is_valid(ctx.win) and vim.api.nvim_win_get_width(ctx.win) or 60
          picker.waveform(track, width, function(lines)
            waveforms[track.track_id] = lines
            local current = ctx.picker:current()
            if current and current.track == track and not ctx.picker.closed then
              show(lines)
            end
          end)
        end
      end,
    },
    bind(picker.track_actions, { "<CR>", "<c-a>", "<c-d>" }, function(item)
      return item.track
    end),
    opts or {}
  )
  return Snacks.picker.pick(spec)
end

--- Prompt history: <CR> regenerate with a new seed, <C-s> with the same seed.
---@param opts table? Snacks.picker options merged over these
function M.prompts(opts)
  local spec = vim.tbl_deep_extend(
    "force",
    {
      source = "lofi_prompts",
      title = "lofi prompts",
      items = vim.tbl_map(function(entry)
        return { text = entry.prompt, entry = entry }
      end, picker.prompt_history()),
      format = function(item)
        return { { picker.prompt_label(item.entry) } }
      end,
      layout = { hidden = { "preview" } },
    },
    bind(picker.prompt_actions, { "<CR>", "<c-s>" }, function(item)
      return item.entry
    end),
    opts or {}
  )
  return Snacks.picker.pick(spec)
end

return M
