---@mod lofi.telescope Telescope pickers: `:Telescope lofi tracks` and `:Telescope lofi prompts`.
---
--- Loaded only when Telescope asks for the extension (lua/telescope/_extensions/lofi.lua).

local picker = require("lofi.picker")
local state = require("lofi.state")

local M = {}

local function telescope()
  return {
    pickers = require("telescope.pickers"),
    finders = require("telescope.finders"),
    previewers = require("telescope.previewers"),
    actions = require("telescope.actions"),
    action_state = require("telescope.actions.state"),
    conf = require("telescope.config").values,
  }
end

--- Maps picker actions (label, fn) onto keys; the first is <CR>.
local function attach(t, actions, keys)
  return function(prompt_bufnr, map)
    for i, key in ipairs(keys) do
      local run = function()
        local entry = t.action_state.get_selected_entry()
        t.actions.close(prompt_bufnr)
        if entry then
          actions[i][2](entry.value)
        end
      end
      if key == "<CR>" then
        t.actions.select_default:replace(run)
      else
        map({ "i", "n" }, key, run, { desc = actions[i][1] })
      end
    end
    return true
  end
end

--- Cached tracks: <CR> play, <C-a> add to playlist, <C-d> delete; preview with waveform.
---@param opts table?
function M.tracks(opts)
  local t = telescope()
  opts = opts or {}
  local waveforms = {} ---@type table<string, string[]>
  t.pickers
    .new(opts, {
      prompt_title = "lofi tracks",
      finder = t.finders.new_table({
        results = state.current.tracks,
        entry_maker = function(track)
          return { value = track, display = picker.track_label(track), ordinal = track.prompt .. " " .. track.track_id }
        end,
      }),
      sorter = t.conf.generic_sorter(opts),
      previewer = t.previewers.new_buffer_previewer({
        title = "lofi track",
        define_preview = function(self, entry)
          local track, buf = entry.value, self.state.bufnr
          local function show(lines)
            if vim.api.nvim_buf_is_valid(buf) then
              vim.api.nvim_buf_set_lines(buf, 0, -1, false, picker.preview_lines(track, lines))
            end
          end
          show(waveforms[track.track_id])
          if not waveforms[track.track_id] then
            picker.waveform(track, vim.api.nvim_win_get_width(self.state.winid), function(lines)
              waveforms[track.track_id] = lines
              show(lines)
            end)
          end
        end,
      }),
      attach_mappings = attach(t, picker.track_actions, { "<CR>", "<C-a>", "<C-d>" }),
    })
    :find()
end

--- Prompt history: <CR> regenerate with a new seed, <C-s> with the same seed.
---@param opts table?
function M.prompts(opts)
  local t = telescope()
  opts = opts or {}
  t.pickers
    .new(opts, {
      prompt_title = "lofi prompts",
      finder = t.finders.new_table({
        results = picker.prompt_history(),
        entry_maker = function(entry)
          return { value = entry, display = picker.prompt_label(entry), ordinal = entry.prompt }
        end,
      }),
      sorter = t.conf.generic_sorter(opts),
      attach_mappings = attach(t, picker.prompt_actions, { "<CR>", "<C-s>" }),
    })
    :find()
end

return M
