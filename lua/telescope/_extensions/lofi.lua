-- Telescope finds this file on `require("telescope").load_extension("lofi")` or `:Telescope lofi`.
return require("telescope").register_extension({
  exports = {
    tracks = function(opts)
      require("lofi.picker").tracks(opts)
    end,
    prompts = function(opts)
      require("lofi.picker").prompts(opts)
    end,
  },
})
