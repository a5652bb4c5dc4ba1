-- Headless end-to-end test of the plugin, run by tests/editors/test_editor_nvim.py on Neovim 0.7.2 and
-- 0.11 against a real `routerls serve` and the scripted model server:
--   nvim --headless -u NONE -i NONE --cmd 'set rtp^=editors/nvim' -c 'luafile editors/nvim/test/headless.lua'
-- Env: ROUTERLS_TEST_CMD (the server command as JSON), ROUTERLS_TEST_FILE (a python file to
-- edit), ROUTERLS_TEST_OUT (where the results go as JSON). Exits non-zero on any failure.
local out = { steps = {} }
local function finish(code)
  local f = io.open(os.getenv('ROUTERLS_TEST_OUT'), 'w')
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd((code == 0) and 'qall!' or ('cquit ' .. code))
end

local function main()
  vim.cmd('filetype on')
  local routerls = require('routerls')
  local statuslines = {}
  vim.api.nvim_create_autocmd('User', {
    pattern = 'RouterlsStatus',
    callback = function() table.insert(statuslines, routerls.statusline()) end,
  })
  -- ROUTERLS_TEST_START=vim.lsp.config: 0.11's own config/enable starts it instead of setup's autocmd
  local own = os.getenv('ROUTERLS_TEST_START') == 'vim.lsp.config'
  routerls.setup({
    cmd = vim.fn.json_decode(os.getenv('ROUTERLS_TEST_CMD')),
    filetypes = { 'python' },
    hover = true,
    autostart = not own,
    report_html = os.getenv('ROUTERLS_TEST_HTML'),
    open = function(path) out.html_opened = path end, -- the browser, as a test sees it
  })
  if own then
    vim.lsp.config('routerls', routerls.client_config())
    vim.lsp.enable('routerls')
  end
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('ROUTERLS_TEST_FILE')))
  assert(vim.bo.filetype == 'python', 'filetype ' .. vim.bo.filetype)
  assert(vim.wait(30000, function() return routerls.state.spend_loaded end, 50), 'no routerls/spend answer')
  out.version = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor)
  out.statusline_start = routerls.statusline()
  table.insert(out.steps, 'attached')

  -- the AI actions on lines 4-5 (a linewise selection), chosen through vim.ui.select
  local offered
  vim.ui.select = function(items, opts, on_choice)
    offered = {}
    for _, item in ipairs(items) do table.insert(offered, opts.format_item(item)) end
    for _, item in ipairs(items) do
      if opts.format_item(item):find('^AI: Refactor') then return on_choice(item, 1) end
    end
    on_choice(nil, nil)
  end
  vim.cmd('normal! 4GV5G\27')
  routerls.code_action({ range = true })
  local expected = os.getenv('ROUTERLS_TEST_EXPECTED')
  local function text() return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n' end
  local ok = vim.wait(40000, function() return text() == expected and routerls.state.last ~= nil end, 50)
  out.titles = offered
  out.text = text()
  out.statuslines = statuslines
  out.statusline_done = routerls.statusline()
  assert(ok, 'the edit did not arrive: ' .. out.text .. ' last=' .. vim.inspect(routerls.state.last))
  table.insert(out.steps, 'edited')
  vim.cmd('write')

  -- hover explain: K on `area` opens a float with the explanation
  vim.api.nvim_win_set_cursor(0, { 4, 5 })
  vim.lsp.buf.hover()
  local float
  vim.wait(30000, function()
    for _, win in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(win).relative ~= '' then float = win return true end
    end
    return false
  end, 50)
  assert(float, 'no hover window')
  out.hover = table.concat(vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(float), 0, -1, false), '\n')
  vim.wait(5000, function() return routerls.state.last and routerls.state.last.action == 'explain' end, 50)
  out.statusline_hover = routerls.statusline()
  table.insert(out.steps, 'hovered')
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then vim.api.nvim_win_close(win, true) end
  end

  -- Neovim's own code-action menu lists the same actions (items differ per version; format_item
  -- gives the title on all of them)
  local pick = 'AI: Add docstring'
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      if opts.format_item(item):find(pick, 1, true) then return on_choice(item, i) end
    end
    on_choice(nil, nil)
  end
  vim.api.nvim_win_set_cursor(0, { 5, 4 })
  local before = routerls.state.last
  vim.lsp.buf.code_action()
  local stock = os.getenv('ROUTERLS_TEST_STOCK_EXPECTED')
  local done = vim.wait(40000, function() return text() == stock and routerls.state.last ~= before end, 50)
  out.stock_text = text()
  out.statusline_stock = routerls.statusline()
  assert(done, 'stock code action: ' .. out.stock_text)
  table.insert(out.steps, 'stock code action')

  -- :RouterlsReport html writes the dashboard and opens it
  vim.cmd('RouterlsReport html')
  assert(vim.wait(20000, function() return out.html_opened ~= nil end, 50), 'the dashboard was not opened')
  table.insert(out.steps, 'dashboard')
  finish(0)
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  out.error = tostring(err)
  finish(1)
end
