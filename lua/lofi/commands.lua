---@mod lofi.commands :Lofi and its subcommands, with completion.

local M = {}

local function lofi()
  return require("lofi")
end

local function ui()
  return require("lofi.ui")
end

local function state()
  return require("lofi.state")
end

local function say(message)
  ui().notify(message)
end

--- Reports an error from an API callback; runs `then_` with the result otherwise.
local function reply(then_)
  return function(err, result)
    if err then
      ui().error(err)
    elseif then_ then
      then_(result)
    end
  end
end

--- The track id at the start of an argument (completion items carry the prompt after it).
local function track_arg(args)
  local first = args[1]
  return first and first:match("^(%x+)") or first
end

local function show_queue(queue)
  local lines = {}
  if queue.current then
    lines[#lines + 1] = ("generating %s %d%%  %s"):format(
      queue.current.track_id,
      queue.current.percent or 0,
      queue.current.prompt or ""
    )
  end
  for _, job in ipairs(queue.pending or {}) do
    lines[#lines + 1] = ("%d. %s  %s"):format(job.position, job.track_id, job.prompt or "")
  end
  if #lines == 0 then
    lines[1] = "the generation queue is empty"
  end
  say("lofi: " .. table.concat(lines, "\n"))
end

---@type table<string, { run: fun(args: string[]), complete: (fun(arglead: string, args: string[]): string[])? }>
M.subcommands = {
  play = {
    run = function(args)
      lofi().play(track_arg(args), reply())
    end,
    complete = function()
      return M.track_items()
    end,
  },
  pause = {
    run = function()
      lofi().pause(reply())
    end,
  },
  resume = {
    run = function()
      lofi().resume(reply())
    end,
  },
  stop = {
    run = function()
      lofi().stop(reply())
    end,
  },
  skip = {
    run = function()
      lofi().skip(reply())
    end,
  },
  generate = {
    run = function(args)
      local prompt = #args > 0 and table.concat(args, " ") or nil
      lofi().generate({ prompt = prompt }, reply())
    end,
  },
  prompt = {
    run = function()
      vim.ui.input(
        { prompt = "lofi prompt: ", default = require("lofi.config").current.defaults.prompt },
        function(text)
          if text and vim.trim(text) ~= "" then
            lofi().generate({ prompt = text }, reply())
          end
        end
      )
    end,
  },
  queue = {
    run = function()
      lofi().queue(reply(show_queue))
    end,
  },
  cancel = {
    run = function(args)
      local id = track_arg(args) or (state().current.queue.pending[1] or {}).track_id
      if not id then
        return say("lofi: nothing is queued")
      end
      lofi().cancel(
        id,
        reply(function()
          say("lofi: cancelled " .. id)
        end)
      )
    end,
    complete = function()
      local items = {}
      for _, job in ipairs(state().current.queue.pending or {}) do
        items[#items + 1] = job.track_id
      end
      return items
    end,
  },
  volume = {
    run = function(args)
      local arg = args[1]
      if not arg then
        return say(("lofi: volume %d%%"):format(math.floor(lofi().volume() * 100 + 0.5)))
      end
      local sign, digits = arg:match("^([+-]?)(%d+%.?%d*)$")
      if not digits then
        return ui().error(require("lofi.errors").new("INVALID_PARAMS", "volume takes 0-100, +N or -N, got " .. arg))
      end
      local level = tonumber(digits) / 100
      if sign == "+" then
        level = lofi().volume() + level
      elseif sign == "-" then
        level = lofi().volume() - level
      end
      lofi().volume(math.max(0, math.min(1, level)), reply())
    end,
    complete = function()
      return { "0", "10", "20", "30", "50", "70", "100", "+10", "-10" }
    end,
  },
  device = {
    run = function(args)
      if #args == 0 then
        return lofi().devices(reply(function(devices)
          local names = vim.tbl_map(function(d)
            return d.name .. (d.is_default and " (default)" or "")
          end, devices.available or {})
          say(("lofi: playing on %s; available: %s"):format(devices.current, table.concat(names, ", ")))
        end))
      end
      local name = table.concat(args, " ")
      lofi().device(
        name,
        reply(function(result)
          say("lofi: audio device " .. result.current)
        end)
      )
    end,
    complete = function()
      local devices = state().current.devices
      if not devices then
        lofi().devices() -- fetched for the next <Tab>
        return { "none" }
      end
      return vim.tbl_map(function(d)
        return d.name
      end, devices.available or {})
    end,
  },
  status = {
    run = function()
      require("lofi.session").refresh({ "status", "playlist", "tracks" }, function()
        ui().float(ui().status_lines(), "lofi")
      end)
    end,
  },
  list = {
    run = function(args)
      if args[1] == "prompts" then
        return require("lofi.picker").prompts()
      end
      require("lofi.picker").tracks()
    end,
    complete = function()
      return { "tracks", "prompts" }
    end,
  },
  radio = {
    run = function(args)
      if args[1] == "stop" and #args == 1 then
        return lofi().radio_stop(reply(function(result)
          say(result.stopped and "lofi: radio stopped" or "lofi: the radio is not playing")
        end))
      end
      local prompt = #args > 0 and table.concat(args, " ") or nil
      if state().current.radio and prompt then
        return lofi().radio_prompt(
          prompt,
          reply(function(result)
            local heard = result.backend == "procedural" and "from the next bar"
              or "a new song follows the segment playing"
            say(("lofi: radio → %s: %s"):format(prompt, heard))
          end)
        )
      end
      lofi().radio(
        { prompt = prompt },
        reply(function(result)
          say(("lofi: radio on %q"):format(result.prompt))
        end)
      )
    end,
    complete = function()
      return { "stop" }
    end,
  },
  visualizer = {
    run = function()
      lofi().visualizer()
    end,
  },
  model = {
    run = function(args)
      local model = require("lofi.model")
      local sub = args[1]
      if sub == "install" then
        local name = args[2]
        say(("lofi: installing %s in the background"):format(name or require("lofi.config").current.model.name))
        return model.install(
          name,
          reply(function(installed)
            local notes = {}
            if require("lofi.config").current.model.backend == "procedural" then
              notes[#notes + 1] = 'model.backend = "procedural" keeps it unused: set it to "auto"'
            end
            if installed.session_only then
              notes[#notes + 1] = ("set model.weights_path = %q in setup() to keep using it"):format(installed.path)
            end
            local suffix = #notes > 0 and (" (" .. table.concat(notes, "; ") .. ")") or ""
            say(("lofi: model installed: %s%s"):format(installed.path, suffix))
          end)
        )
      elseif sub == "remove" then
        return model.remove(reply(function(removed)
          say(
            ("lofi: removed %s (%.0f MB); the procedural backend plays until a model is installed"):format(
              removed.path,
              removed.size_mb
            )
          )
        end))
      elseif sub == nil then
        return model.info(reply(function(lines)
          ui().float(lines, "lofi model")
        end))
      end
      ui().error(require("lofi.errors").new("INVALID_PARAMS", "usage: :Lofi model [install [name]|remove]"))
    end,
    complete = function(_, args)
      if #args == 0 then
        return { "install", "remove" }
      end
      if args[1] == "install" and #args == 1 then
        return require("lofi.config").model_names
      end
      return {}
    end,
  },
  cache = {
    run = function(args)
      local sub = args[1]
      if sub == "clear" then
        lofi().cache_clear(reply(function(result)
          say(("lofi: deleted %d cached tracks"):format(result.deleted or 0))
        end))
      elseif sub == "delete" and args[2] then
        local id = track_arg({ args[2] })
        lofi().cache_delete(
          id,
          reply(function()
            say("lofi: deleted " .. id)
          end)
        )
      elseif sub == "stats" or sub == nil then
        require("lofi.daemon").request(
          "cache_stats",
          nil,
          reply(function(stats)
            say(
              ("lofi: %d tracks, %.1f MB in %s (limit %s MB)"):format(
                stats.count,
                stats.size_mb,
                stats.dir,
                tostring(stats.max_mb)
              )
            )
          end)
        )
      else
        ui().error(require("lofi.errors").new("INVALID_PARAMS", "usage: :Lofi cache [stats|clear|delete {track_id}]"))
      end
    end,
    complete = function(_, args)
      if #args == 0 then
        return { "clear", "delete", "stats" }
      end
      if args[1] == "delete" then
        return M.track_items()
      end
      return {}
    end,
  },
  log = {
    run = function()
      local file = require("lofi.config").current.daemon.log_file
      if file then
        vim.cmd("split " .. vim.fn.fnameescape(vim.fn.expand(file)))
        return
      end
      vim.cmd("new")
      local buf = vim.api.nvim_get_current_buf()
      vim.bo[buf].buftype = "nofile"
      vim.bo[buf].bufhidden = "wipe"
      vim.api.nvim_buf_set_name(buf, "lofi://daemon-log")
      local lines = require("lofi.daemon").stderr_lines()
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, #lines > 0 and lines or { "(the daemon has logged nothing)" })
    end,
  },
  daemon = {
    run = function(args)
      local daemon = require("lofi.daemon")
      local sub = args[1]
      if sub == "start" then
        local ok, err = daemon.start()
        if not ok then
          return ui().error(err)
        end
        say("lofi: daemon started")
      elseif sub == "stop" then
        daemon.stop()
        say("lofi: daemon stopped")
      elseif sub == "restart" then
        daemon.restart(function(err)
          if err then
            return ui().error(err)
          end
          say("lofi: daemon restarted")
        end)
      else
        ui().error(require("lofi.errors").new("INVALID_PARAMS", "usage: :Lofi daemon start|stop|restart"))
      end
    end,
    complete = function()
      return { "start", "stop", "restart" }
    end,
  },
}

--- Track ids from the cache, each followed by its prompt (":Lofi play" reads the id).
---@return string[]
function M.track_items()
  local items = {}
  for _, track in ipairs(state().current.tracks) do
    items[#items + 1] = ("%s:%s"):format(track.track_id, (track.prompt or ""):gsub("%s+", "_"))
  end
  require("lofi.session").refresh({ "tracks" })
  return items
end

---@param args string[]
function M.run(args)
  lofi() -- loads the session that reacts to the daemon, whatever the subcommand
  if #args == 0 then
    return lofi().toggle(reply())
  end
  local name = table.remove(args, 1)
  local sub = M.subcommands[name]
  if not sub then
    return ui().error(
      require("lofi.errors").new("INVALID_PARAMS", ("unknown subcommand %q (try :Lofi <Tab>)"):format(name))
    )
  end
  sub.run(args)
end

---@param arglead string
---@param cmdline string
---@return string[]
function M.complete(arglead, cmdline)
  local words = vim.split(vim.trim(cmdline), "%s+")
  table.remove(words, 1) -- "Lofi"
  if arglead ~= "" then
    table.remove(words) -- the word being completed
  end
  local candidates
  if #words == 0 then
    candidates = vim.tbl_keys(M.subcommands)
    table.sort(candidates)
  else
    local sub = M.subcommands[table.remove(words, 1)]
    candidates = sub and sub.complete and sub.complete(arglead, words) or {}
  end
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, candidates)
end

return M
