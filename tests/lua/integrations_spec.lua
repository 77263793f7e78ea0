-- Every editor integration against the real plugin (../shared/nvim-plugins, or the same
-- commits cloned; see plugins.lua) and the real daemon, in child Neovims.
local helpers = require("helpers")
local plugins = require("plugins")

--- Runs `body` with the plugins' paths, or registers one pending test saying why not.
local function with_plugins(names, body)
  local paths, why = plugins.paths(names)
  if not paths then
    it("skipped", function()
      pending(why)
    end)
    return
  end
  body(paths)
end

--- Cached tracks of different prompts (two, or `count`); returns their ids.
local function cached_tracks(child, count)
  local ids = {}
  local prompts = { "rain on glass", "tape hiss, warm keys", "night drive" }
  for seed = 1, count or 2 do
    local prompt = prompts[seed]
    local err, ack = child:api("generate", { prompt = prompt, seed = seed, duration_sec = 20, play = false })
    assert.is_nil(err)
    child:event("generation_complete", { track_id = ack.track_id })
    ids[#ids + 1] = ack.track_id
  end
  child:wait(("#require('lofi.state').current.tracks == %d"):format(#ids))
  return ids
end

--- One user story in any picker. `ui.open(kind, count)` opens the tracks or prompts picker
--- and waits for `count` entries; `ui.selected()` is the selected track or prompt entry;
--- `ui.preview()` the preview's lines (nil until drawn).
local function picker_story(child, ui)
  local ids = cached_tracks(child, 3)
  local function choose(id)
    local key = "<C-n>"
    for _ = 1, 6 do
      local before = ui.selected().track_id
      if before == id then
        return
      end
      child:input(key)
      if not vim.wait(1000, function()
        return ui.selected().track_id ~= before
      end, 20) then
        key = "<C-p>" -- at the end of the list: go the other way
      end
    end
    error("track " .. id .. " is not in the picker")
  end
  local function done(what)
    child:wait(what, 10000, what .. "; messages: " .. vim.inspect(child:lua("return _G.messages")))
  end

  ui.open("tracks", 3)
  local preview = assert(vim.wait(10000, function()
    local lines = ui.preview()
    local text = table.concat(lines or {}, "\n")
    return text:find("Prompt:", 1, true) and not text:find("drawing waveform", 1, true)
  end, 50) and ui.preview())
  assert.is_true(#preview > 6, "metadata, then the waveform")
  choose(ids[1])
  child:input("<CR>")
  child:event("playback_start", { track_id = ids[1] })

  ui.open("tracks", 3)
  choose(ids[2])
  child:input("<C-a>")
  done(("vim.tbl_contains(require('lofi.state').current.playlist, %q)"):format(ids[2]))

  -- The third: neither playing nor next in the playlist (those two cannot be deleted).
  ui.open("tracks", 3)
  choose(ids[3])
  child:input("<C-d>")
  done("#require('lofi.state').current.tracks == 2")

  ui.open("prompts", 2)
  local prompt = ui.selected().prompt
  assert.is_truthy(prompt == "rain on glass" or prompt == "tape hiss, warm keys", prompt)
  child:input("<CR>")
  done(([[(function()
    local known = { [%q] = true, [%q] = true }
    for _, e in ipairs(_G.events) do
      if e.name == "generation_complete" and e.data.prompt == %q and not known[e.data.track_id] then
        return true
      end
    end
  end)()]]):format(ids[1], ids[2], prompt))
end

describe("Telescope", function()
  with_plugins({ "plenary.nvim", "telescope.nvim" }, function(paths)
    it("lists tracks with a waveform preview; <CR> plays, <C-a> adds, <C-d> deletes; lists prompts", function()
      local child = helpers.child({ rtp = paths })
      child:lua("vim.cmd.runtime({ 'plugin/telescope.lua', bang = true }); vim.o.columns, vim.o.lines = 160, 48")
      child:setup()
      local picker = "require('telescope.actions.state').get_current_picker(vim.api.nvim_get_current_buf())"
      picker_story(child, {
        open = function(kind, count)
          child:cmd("Telescope lofi " .. kind)
          child:wait(
            ("(function() local p = %s; return p and p.manager and p.manager:num_results() == %d end)()"):format(
              picker,
              count
            )
          )
        end,
        selected = function()
          return child:lua("return (require('telescope.actions.state').get_selected_entry() or {}).value") or {}
        end,
        preview = function()
          return child:lua(([[
            local p = %s
            local buf = p and p.previewer and p.previewer.state and p.previewer.state.bufnr
            return buf and vim.api.nvim_buf_is_valid(buf) and vim.api.nvim_buf_get_lines(buf, 0, -1, false) or nil
          ]]):format(picker))
        end,
      })
      child:stop()
    end)
  end)
end)

describe("snacks.nvim picker", function()
  with_plugins({ "snacks.nvim" }, function(paths)
    it("lists tracks with a waveform preview; <CR> plays, <C-a> adds, <C-d> deletes; lists prompts", function()
      local child = helpers.child({ rtp = paths })
      child:lua("vim.o.columns, vim.o.lines = 160, 48; require('snacks').setup({ picker = { enabled = true } })")
      child:setup({ ui = { picker = "snacks" } })
      local source = { tracks = "lofi_tracks", prompts = "lofi_prompts" }
      local open_source = "lofi_tracks"
      local picker = function()
        return ("Snacks.picker.get({ source = %q })[1]"):format(open_source)
      end
      picker_story(child, {
        open = function(kind, count)
          open_source = source[kind]
          child:cmd("Lofi list " .. kind)
          child:wait(("(function() local p = %s; return p and p:count() == %d end)()"):format(picker(), count))
        end,
        selected = function()
          return child:lua(
            ("local p = %s; local item = p and p:current(); return item and (item.track or item.entry)"):format(
              picker()
            )
          ) or {}
        end,
        preview = function()
          return child:lua(([[
            local p = %s
            local buf = p and p.preview and p.preview.win and p.preview.win.buf
            return buf and vim.api.nvim_buf_is_valid(buf) and vim.api.nvim_buf_get_lines(buf, 0, -1, false) or nil
          ]]):format(picker()))
        end,
      })
      child:stop()
    end)
  end)
end)

describe("lualine component", function()
  with_plugins({ "lualine.nvim" }, function(paths)
    it("shows state, track and position while playing, nothing idle, and never loads lofi", function()
      local child = helpers.child({ rtp = paths })
      child:lua([[
        require("lualine").setup({
          options = { icons_enabled = false, refresh = { statusline = 50 } },
          sections = { lualine_a = {}, lualine_b = {}, lualine_c = {}, lualine_x = { "lofi" }, lualine_y = {}, lualine_z = {} },
        })
      ]])
      local drawn = "vim.api.nvim_eval_statusline(vim.o.statusline, {}).str"
      vim.wait(200)
      assert.is_false(child:lua("return vim.trim(" .. drawn .. "):find('♪') ~= nil"))
      assert.is_nil(child:lua("return package.loaded['lofi']"), "drawing does not load the plugin")
      child:setup()
      local ids = cached_tracks(child)
      assert.are.equal("", child:lua("return vim.trim(" .. drawn .. ")"), "idle: nothing")
      child:cmd("Lofi play " .. ids[1])
      child:event("playback_start")
      local line = child:wait(
        ("(function() local s = %s; return s:find('▶', 1, true) and s:find('0:0[1-9]') and s end)()"):format(drawn)
      )
      assert.matches("♪ ▶ rain on glass 0:0%d/0:20", line)
      child:cmd("Lofi stop")
      child:wait(("vim.trim(%s) == ''"):format(drawn))
      child:stop()
    end)
  end)
end)

describe("progress through", function()
  -- A long procedural track: a few seconds of generation, several progress reports.
  local function generate_with_progress(child, active, done)
    local err = child:api("generate", { prompt = "progress", duration_sec = 600, seed = 11, play = false })
    assert.is_nil(err)
    child:wait(active, 15000, "progress shown")
    child:event("generation_complete", {}, 30000)
    child:wait(done, 15000, "progress cleaned up")
  end

  with_plugins({ "fidget.nvim" }, function(paths)
    it("fidget.nvim", function()
      local child = helpers.child({ rtp = paths })
      child:lua("require('fidget').setup({ progress = { display = { skip_history = false } } })")
      child:setup({ ui = { progress = "fidget" } })
      local items = "require('fidget.notification').get_history({ include_removed = false })"
      generate_with_progress(
        child,
        ("#vim.tbl_filter(function(i) return i.message:find('generating %%d+%%%%') end, %s) > 0"):format(items),
        ("#vim.tbl_filter(function(i) return i.message:find('generating') end, %s) == 0"):format(items)
      )
      child:stop()
    end)
  end)

  with_plugins({ "mini.nvim" }, function(paths)
    it("mini.notify", function()
      local child = helpers.child({ rtp = paths })
      child:lua("require('mini.notify').setup()")
      child:setup({ ui = { progress = "mini" } })
      local generating =
        "vim.tbl_filter(function(n) return n.msg:find('generating') and n.ts_remove == nil end, MiniNotify.get_all())"
      generate_with_progress(child, ("#%s > 0"):format(generating), ("#%s == 0"):format(generating))
      child:stop()
    end)
  end)

  with_plugins({ "nvim-notify" }, function(paths)
    it("nvim-notify", function()
      local child = helpers.child({ rtp = paths })
      child:setup({ ui = { progress = "notify" } })
      child:lua(
        "vim.o.columns, vim.o.lines = 160, 48; vim.notify = require('notify'); require('notify').setup({ stages = 'static', timeout = 3000 })"
      )
      local shown = [[(function()
        for _, win in ipairs(vim.api.nvim_list_wins()) do
          local buf = vim.api.nvim_win_get_buf(win)
          if vim.bo[buf].filetype == "notify" and table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false)):find("generating") then
            return true
          end
        end
        return false
      end)()]]
      generate_with_progress(child, shown, "not " .. shown)
      child:stop()
    end)
  end)
end)

describe("lazy.nvim", function()
  with_plugins({ "lazy.nvim" }, function(paths)
    it(
      "installs the README's spec from a clone, builds it from a release tarball, and everything works at once",
      function()
        local dir = helpers.tempdir()
        -- The working tree as a git repository lazy.nvim can clone: lofi-nvim/lofi.nvim.
        local src = dir .. "/repos/lofi-nvim/lofi.nvim"
        vim.fn.mkdir(src, "p")
        local files = vim
          .system({ "git", "ls-files", "-co", "--exclude-standard", "-z" }, { cwd = helpers.root })
          :wait()
        for _, file in ipairs(vim.split(files.stdout, "\0", { trimempty = true })) do
          if vim.uv.fs_stat(helpers.root .. "/" .. file) then
            vim.fn.mkdir(vim.fs.dirname(src .. "/" .. file), "p")
            assert(vim.uv.fs_copyfile(helpers.root .. "/" .. file, src .. "/" .. file))
          end
        end
        vim.fn.setfperm(src .. "/install.sh", "rwxr-xr-x")
        local git = { "git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", src }
        for _, args in ipairs({ { "init", "-q" }, { "add", "-A" }, { "commit", "-qm", "lofi" } }) do
          assert.are.equal(0, vim.system(vim.list_extend(vim.deepcopy(git), args)):wait().code)
        end
        -- The release tarball install.sh downloads: the daemon these tests run, stripped.
        vim.fn.mkdir(dir .. "/release", "p")
        assert.are.equal(
          0,
          vim.system({ "strip", "-o", dir .. "/release/lofi-daemon", helpers.daemon_bin }):wait().code
        )
        local tarball = dir .. "/lofi-daemon.tar.gz"
        assert.are.equal(0, vim.system({ "tar", "-czf", tarball, "-C", dir .. "/release", "lofi-daemon" }):wait().code)
        -- lazy.nvim runs :helptags on its own doc/, which ../shared's copy (code and licence
        -- only) lacks: a copy of it gets a one-line help file there.
        local lazy = dir .. "/lazy.nvim"
        assert.are.equal(0, vim.system({ "cp", "-r", paths[1], lazy }):wait().code)
        if not vim.uv.fs_stat(lazy .. "/doc") then
          vim.fn.mkdir(lazy .. "/doc", "p")
          vim.fn.writefile({ "*lazy.nvim.txt* (the help is not in this copy)" }, lazy .. "/doc/lazy.nvim.txt")
        end
        -- An init.lua with exactly the README's spec.
        local init = dir .. "/init.lua"
        vim.fn.writefile({
          ("vim.opt.rtp:prepend(%q)"):format(lazy),
          "vim.g.mapleader = ' '",
          "require('lazy').setup({",
          "  spec = {",
          '    { "lofi-nvim/lofi.nvim", build = "./install.sh", opts = {} },',
          "  },",
          ("  root = %q,"):format(dir .. "/lazy"),
          ("  lockfile = %q,"):format(dir .. "/lazy-lock.json"),
          ("  git = { url_format = %q },"):format("file://" .. dir .. "/repos/%s"),
          "  rocks = { enabled = false },",
          "  install = { missing = true },",
          "  checker = { enabled = false },",
          "  change_detection = { enabled = false },",
          "})",
        }, init)
        -- ALSA's file plugin as the default device: the daemon really plays.
        local home = helpers.tempdir()
        vim.fn.writefile({
          "pcm.!default {",
          " type file",
          ' slave.pcm "null"',
          (' file "%s"'):format(dir .. "/played.raw"),
          ' format "raw"',
          "}",
        }, home .. "/.asoundrc")
        local child = helpers.child({
          home = home,
          init = init,
          env = {
            HOME = home,
            LOFI_RELEASE_URL = "file://" .. tarball,
            LOFI_MODEL_URL = "file://" .. dir .. "/no-model.gguf",
          },
        })
        local plugin = dir .. "/lazy/lofi.nvim"
        child:wait(
          ("vim.v.vim_did_enter == 1 and vim.uv.fs_stat(%q) ~= nil"):format(plugin .. "/bin/lofi-daemon"),
          60000,
          "the install, the build and the start-up to finish"
        )
        -- From the first keystroke: health, help, completion, <Plug> maps, the leader keymaps.
        child:cmd("checkhealth lofi")
        local health = child:lua("return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')")
        assert.is_nil(health:find("No healthcheck found", 1, true), health .. vim.inspect(child:lua([[
        local p = require("lazy.core.config").plugins["lofi.nvim"]
        return { rtp = vim.o.rtp, loaded = p and p._.loaded, installed = p and p._.installed, lofi = package.loaded.lofi ~= nil }
      ]])))
        assert.matches("lofi%-daemon", health)
        child:cmd("bwipeout!")
        child:cmd("help lofi")
        assert.matches("lofi.txt$", child:lua("return vim.api.nvim_buf_get_name(0)"))
        child:cmd("helpclose")
        assert.is_true(vim.tbl_contains(child:lua("return vim.fn.getcompletion('Lofi ', 'cmdline')"), "generate"))
        assert.are_not.equal("", child:lua("return vim.fn.maparg('<Plug>(lofi-toggle)', 'n')"))
        assert.are_not.equal("", child:lua("return vim.fn.maparg('<leader>ll', 'n')"))
        -- :Lofi plays (an empty cache: it generates one first).
        child:cmd("Lofi")
        child:wait("require('lofi.state').current.playback.state == 'playing'", 20000, "playing")
        child:wait(
          ("(vim.uv.fs_stat(%q) or { size = 0 }).size > 0"):format(dir .. "/played.raw"),
          10000,
          "audio on ALSA"
        )
        child:stop()
      end
    )
  end)
end)
