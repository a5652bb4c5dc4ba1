-- Headless check, run by tests/editors/test_editor_trust.py: Neovim's own window/showMessageRequest
-- handler (inputlist on 0.7, vim.ui.select on 0.10+) carries the server's trust action.
-- Env: ROUTERLS_TEST_CMD, ROUTERLS_TEST_FILE, ROUTERLS_TEST_OUT, ROUTERLS_TEST_STORE (trust.json).
local out = {}
local function finish(code)
  local f = io.open(os.getenv('ROUTERLS_TEST_OUT'), 'w')
  f:write(vim.fn.json_encode(out))
  f:close()
  vim.cmd((code == 0) and 'qall!' or ('cquit ' .. code))
end

local function main()
  vim.cmd('filetype on')
  -- the user picks "Trust this workspace's routerls config", whichever way Neovim asks
  vim.fn.inputlist = function(items)
    out.asked = items
    for i, item in ipairs(items) do
      if item:find('Trust this workspace') then return tonumber(item:match('^(%d+)%.')) or (i - 2) end
    end
    return 0
  end
  vim.ui.select = function(items, opts, on_choice)
    out.asked = { opts.prompt }
    for i, item in ipairs(items) do
      table.insert(out.asked, item.title)
      if item.title:find('Trust this workspace') then return on_choice(item, i) end
    end
    on_choice(nil, nil)
  end
  require('routerls').setup({ cmd = vim.fn.json_decode(os.getenv('ROUTERLS_TEST_CMD')), filetypes = { 'python' } })
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('ROUTERLS_TEST_FILE')))
  local store = os.getenv('ROUTERLS_TEST_STORE')
  local ok = vim.wait(40000, function()
    local f = io.open(store, 'r')
    if f == nil then return false end
    f:close()
    return true
  end, 100)
  assert(ok, 'trust was never recorded; asked: ' .. vim.inspect(out.asked))
  out.version = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor)
end

local ok, err = pcall(main)
if not ok then out.error = tostring(err) end
finish(ok and 0 or 1)
