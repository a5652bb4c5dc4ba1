-- routerls for Neovim 0.7–0.11: starts `routerls serve` for chosen filetypes with plain vim.lsp
-- (or hands its config to nvim-lspconfig / vim.lsp.config), offers the AI actions through
-- vim.ui.select, and keeps spend and the running model for a statusline component.
local M = {}

M.defaults = {
  cmd = { 'routerls', 'serve' },
  filetypes = { 'python', 'lua', 'javascript', 'typescript', 'go', 'rust', 'c', 'cpp', 'java', 'sh' },
  root_markers = { '.routerls.yaml', '.git' },
  settings = {}, -- the routerls config section, as in .routerls.yaml (strategy, budgets, …)
  hover = false, -- hover.explain: K explains the symbol (cached by the server, repeats are free)
  keymaps = { actions = '<leader>aa', tier = '<leader>at', report = '<leader>ar' }, -- false: none
  autostart = true, -- false: only commands and handlers (nvim-lspconfig or vim.lsp.enable starts it)
  on_attach = nil,
  report_html = nil, -- where `:RouterlsReport html` writes the dashboard (default: stdpath('cache'))
  open = nil, -- function(path) that opens it (default: vim.ui.open on 0.10+, else xdg-open / open)
}

local config = vim.deepcopy(M.defaults)

--- What the statusline shows; updated from routerls/spend and every $/routerls/status.
M.state = {
  today = 0, session = 0, month = nil, saved = 0,
  budget = { daily = nil, monthly = nil },
  running = nil, -- { action, tier, model }
  last = nil, -- the last finished $/routerls/status
  spend_loaded = false,
}

local NEAR_BUDGET = 0.8
local HAS_011 = vim.fn.has('nvim-0.11') == 1

-- 0.11 made client methods take `self` (`client:request`) and warns on the old dot call
local function request(client, method, params, handler, bufnr)
  if HAS_011 then return client:request(method, params, handler, bufnr) end
  return client.request(method, params, handler, bufnr)
end
local TIERS = { 'local', 'cheap', 'mid', 'frontier' }

--- routerls' one money format (routerls/money.py): `$0.0042` below a dollar, `$1.23` from a
--- dollar up, chosen on the rounded value; `-$0.0030` when negative.
function M.usd(x)
  x = tonumber(x) or 0
  local places = math.floor(math.abs(x) * 1e4 + 0.5) / 1e4 >= 1 and 2 or 4
  local text = string.format('%.' .. places .. 'f', math.abs(x))
  return ((x < 0 and text:find('[1-9]')) and '-$' or '$') .. text
end

local function num(x)
  if type(x) == 'number' then return x end
  return nil -- vim.NIL and friends
end

function M.near_budget()
  local s = M.state
  if s.budget.daily and s.budget.daily > 0 and s.today >= NEAR_BUDGET * s.budget.daily then return 'daily' end
  if s.budget.monthly and s.budget.monthly > 0 and s.month and s.month >= NEAR_BUDGET * s.budget.monthly then
    return 'monthly'
  end
  return nil
end

--- The statusline component: `AI $0.0045 today · $0.0045 session`; while a model runs
--- `AI … gpt-4o · $0.0000 today`; `AI!` when a budget is nearly spent.
function M.statusline()
  local s = M.state
  local mark = M.near_budget() and 'AI!' or 'AI'
  if s.running then
    local who = (s.running.model ~= '' and s.running.model) or s.running.tier
    return string.format('%s … %s · %s today', mark, who, M.usd(s.today))
  end
  local failed = s.last and s.last.state == 'error' and ' (last run failed)' or ''
  return string.format('%s %s today · %s session%s', mark, M.usd(s.today), M.usd(s.session), failed)
end

local function redraw()
  pcall(vim.cmd, 'redrawstatus!')
  pcall(vim.cmd, 'doautocmd <nomodeline> User RouterlsStatus')
end

function M.on_spend(result)
  if type(result) ~= 'table' then return end
  local s = M.state
  s.session = num(result.sessionCostUsd) or 0
  s.today = num(result.todayCostUsd) or 0
  s.month = num(result.monthCostUsd)
  s.saved = num(result.savedUsd) or 0
  local b = type(result.budget) == 'table' and result.budget or {}
  s.budget = { daily = num(b.dailyUsd), monthly = num(b.monthlyUsd) }
  s.spend_loaded = true
  redraw()
end

function M.on_status(n)
  if type(n) ~= 'table' then return end
  local s = M.state
  if s.month then s.month = s.month + math.max(0, (num(n.todayCostUsd) or 0) - s.today) end
  s.session = num(n.sessionCostUsd) or s.session
  s.today = num(n.todayCostUsd) or s.today
  if n.state == 'running' then
    s.running = { action = n.action, tier = n.tier or '', model = n.model or '' }
  else
    s.running = nil
    s.last = n
    s.saved = s.saved + (num(n.savedUsd) or 0)
    if n.state == 'error' and n.message then
      vim.notify('routerls: ' .. n.action .. ': ' .. n.message, vim.log.levels.WARN)
    end
  end
  redraw()
end

-- handler signature (err, result, ctx, config) on every version from 0.7 on
local function status_handler(_, result) M.on_status(result) end

-- --- the client ------------------------------------------------------------------------------

local function find_root(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  local uv = vim.loop
  local probe = dir
  while probe and probe ~= '' do
    for _, marker in ipairs(config.root_markers) do
      if uv.fs_stat(probe .. '/' .. marker) then return probe end
    end
    local parent = vim.fn.fnamemodify(probe, ':h')
    if parent == probe then break end
    probe = parent
  end
  return dir
end

local function init_options()
  local settings = vim.deepcopy(config.settings or {})
  if config.hover ~= nil then
    settings.hover = vim.tbl_extend('force', settings.hover or {}, { explain = config.hover and true or false })
  end
  return { routerls = settings }
end

local function on_attach(client, bufnr)
  if not M.state.spend_loaded then
    request(client, 'routerls/spend', {}, function(err, result)
      if not err then M.on_spend(result) end
    end, bufnr)
  end
  local km = config.keymaps
  if km then
    local function map(mode, lhs, rhs, desc)
      if lhs then vim.keymap.set(mode, lhs, rhs, { buffer = bufnr, desc = desc, silent = true }) end
    end
    map('n', km.actions, function() M.code_action() end, 'routerls: AI actions')
    map('x', km.actions, ':<C-u>lua require("routerls").code_action({ range = true })<CR>', 'routerls: AI actions on the selection')
    map('n', km.tier, function() M.code_action({ ask_tier = true }) end, 'routerls: AI action with tier')
    map('x', km.tier, ':<C-u>lua require("routerls").code_action({ range = true, ask_tier = true })<CR>', 'routerls: AI action with tier')
    map('n', km.report, M.report, 'routerls: spend report')
  end
  if config.on_attach then config.on_attach(client, bufnr) end
end

--- The client config: for vim.lsp.config (0.11) as it is; with a buffer, the root dir for it.
function M.client_config(bufnr)
  local cfg = {
    name = 'routerls',
    cmd = config.cmd,
    filetypes = config.filetypes,
    root_markers = config.root_markers,
    init_options = init_options(),
    handlers = { ['$/routerls/status'] = status_handler },
    on_attach = on_attach,
  }
  if bufnr then
    local name = vim.api.nvim_buf_get_name(bufnr)
    cfg.root_dir = find_root(name ~= '' and name or vim.fn.getcwd() .. '/x')
  end
  return cfg
end

--- Register routerls with nvim-lspconfig: then `require('lspconfig').routerls.setup({})`.
function M.register_lspconfig()
  local configs = require('lspconfig.configs')
  if not configs.routerls then
    local cfg = M.client_config()
    cfg.root_dir = function(fname) return find_root(fname) end
    cfg.root_markers = nil
    configs.routerls = { default_config = cfg }
  end
end

function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  -- 0.10+: get_clients{bufnr}; before that buf_get_clients (get_active_clients has no filter on 0.7)
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr }) or vim.lsp.buf_get_clients(bufnr)
  for _, c in pairs(clients) do
    if c.name == 'routerls' then return c end
  end
  return nil
end

local function any_client()
  local clients = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  for _, c in pairs(clients) do
    if c.name == 'routerls' then return c end
  end
  return nil
end

local started -- the client id on 0.7, which has no vim.lsp.start to reuse clients by root

function M.start(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local cfg = M.client_config(bufnr)
  cfg.filetypes, cfg.root_markers = nil, nil
  if vim.lsp.start then
    return vim.lsp.start(cfg, { bufnr = bufnr })
  end
  if not (started and vim.lsp.get_client_by_id(started)) then
    started = vim.lsp.start_client(cfg)
  end
  if started then vim.lsp.buf_attach_client(bufnr, started) end
  return started
end

-- --- actions -----------------------------------------------------------------------------------

local function utf16_col(line, byte_col)
  if byte_col <= 0 then return 0 end
  local ok, _, u16 = pcall(vim.str_utfindex, line, math.min(byte_col, #line))
  return ok and u16 or byte_col
end

--- The LSP range to act on. Neovim's own range code actions send an inclusive end (0.7 even
--- fails on a linewise selection, whose end column is v:maxcol); this sends an exclusive one:
--- a linewise selection runs to the start of the next line.
function M.selection_range(bufnr)
  local s = vim.api.nvim_buf_get_mark(bufnr, '<')
  local e = vim.api.nvim_buf_get_mark(bufnr, '>')
  local mode = vim.fn.visualmode()
  local lines = vim.api.nvim_buf_get_lines(bufnr, s[1] - 1, e[1], false)
  if mode == 'V' or mode == '' then
    local count = vim.api.nvim_buf_line_count(bufnr)
    if e[1] < count then
      return { start = { line = s[1] - 1, character = 0 }, ['end'] = { line = e[1], character = 0 } }
    end
    local last = lines[#lines] or ''
    return { start = { line = s[1] - 1, character = 0 }, ['end'] = { line = e[1] - 1, character = utf16_col(last, #last) } }
  end
  local first, last = lines[1] or '', lines[#lines] or ''
  local char = vim.fn.strpart(last, e[2], 1, true)
  local end_byte = e[2] + math.max(#char, 1)
  return {
    start = { line = s[1] - 1, character = utf16_col(first, s[2]) },
    ['end'] = { line = e[1] - 1, character = utf16_col(last, end_byte) },
  }
end

local function cursor_range(bufnr)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  local line = vim.api.nvim_buf_get_lines(bufnr, row - 1, row, false)[1] or ''
  local c = utf16_col(line, col)
  return { start = { line = row - 1, character = c }, ['end'] = { line = row - 1, character = c } }
end

local function lsp_diagnostics(bufnr, range)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local lsp = d.user_data and d.user_data.lsp
    local last = d.end_lnum or d.lnum
    if d.lnum <= range['end'].line and last >= range.start.line then
      table.insert(out, lsp or {
        range = { start = { line = d.lnum, character = d.col }, ['end'] = { line = last, character = d.end_col or d.col } },
        message = d.message, severity = d.severity, source = d.source, code = d.code,
      })
    end
  end
  return out
end

local function run(client, bufnr, args)
  request(client, 'workspace/executeCommand', { command = 'routerls.run', arguments = { args } }, function(err, result)
    if err then
      vim.notify('routerls: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif type(result) == 'table' and result.markdown and not M.shows_documents() then
      M.show_markdown(result.markdown, args.action)
    end
  end, bufnr)
end

--- Pick one of the AI actions offered here with vim.ui.select (and, with `ask_tier`, a tier and
--- an instruction), then run it; the server applies the edit with workspace/applyEdit.
--- opts: { range = true (the last visual selection), ask_tier = true, only = {kinds}, tier = 'mid' }
function M.code_action(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    vim.notify('routerls: not attached to this buffer', vim.log.levels.WARN)
    return
  end
  local range = opts.range and M.selection_range(bufnr) or cursor_range(bufnr)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    context = { diagnostics = lsp_diagnostics(bufnr, range), only = opts.only },
  }
  request(client, 'textDocument/codeAction', params, function(err, actions)
    if err then
      vim.notify('routerls: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    local ours = {}
    for _, a in ipairs(actions or {}) do
      if type(a.command) == 'table' and a.command.command == 'routerls.run' then table.insert(ours, a) end
    end
    if #ours == 0 then
      vim.notify('routerls: no AI action applies here', vim.log.levels.INFO)
      return
    end
    vim.ui.select(ours, { prompt = 'routerls', kind = 'codeaction', format_item = function(a) return a.title end },
      function(choice)
        if not choice then return end
        local args = vim.deepcopy(choice.command.arguments[1])
        if not (opts.ask_tier or opts.tier) then return run(client, bufnr, args) end
        local function with_tier(tier)
          if not tier then return end
          args.tier = tier
          vim.ui.input({ prompt = 'routerls instruction (optional): ' }, function(text)
            if text == nil then return end
            if text ~= '' then args.instruction = text end
            run(client, bufnr, args)
          end)
        end
        if opts.tier then return with_tier(opts.tier) end
        vim.ui.select(TIERS, { prompt = 'routerls tier' }, with_tier)
      end)
  end, bufnr)
end

function M.shows_documents()
  local caps = vim.lsp.protocol.make_client_capabilities()
  return caps.window and caps.window.showDocument and caps.window.showDocument.support or false
end

function M.show_markdown(text, title)
  vim.cmd('botright new')
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, vim.split(text, '\n', { plain = true }))
  vim.bo[buf].buftype, vim.bo[buf].bufhidden, vim.bo[buf].filetype = 'nofile', 'wipe', 'markdown'
  pcall(vim.api.nvim_buf_set_name, buf, 'routerls://' .. (title or 'report'))
end

--- :RouterlsReport — the spend report; the server opens it with window/showDocument when the
--- client can, else it opens here in a markdown split.
function M.report(by)
  local client = M.client() or any_client()
  if not client then return vim.notify('routerls: not running', vim.log.levels.WARN) end
  request(client, 'workspace/executeCommand', { command = 'routerls.report', arguments = { { by = by or 'model' } } },
    function(err, markdown)
      if err then return vim.notify('routerls: ' .. (err.message or ''), vim.log.levels.ERROR) end
      if type(markdown) == 'string' and not M.shows_documents() then M.show_markdown(markdown, 'report') end
    end)
end

--- Open `path` in the browser: `open` from setup, else vim.ui.open (0.10+), else the system's opener.
function M.open_in_browser(path)
  if type(config.open) == 'function' then return config.open(path) end
  if vim.ui.open then return vim.ui.open(path) end
  local opener = vim.fn.has('mac') == 1 and 'open' or 'xdg-open'
  if vim.fn.executable(opener) == 0 then
    return vim.notify('routerls: dashboard written to ' .. path .. ' (no ' .. opener .. ' to open it)')
  end
  vim.fn.jobstart({ opener, path }, { detach = true })
end

--- :RouterlsReport html — the spend dashboard (charts; one HTML file, no network) written to
--- `report_html` and opened in the browser.
function M.report_html(by)
  local client = M.client() or any_client()
  if not client then return vim.notify('routerls: not running', vim.log.levels.WARN) end
  request(client, 'workspace/executeCommand', { command = 'routerls.dashboard', arguments = { { by = by or 'day' } } },
    function(err, html)
      if err or type(html) ~= 'string' then
        return vim.notify('routerls: ' .. (err and err.message or 'no dashboard'), vim.log.levels.ERROR)
      end
      local path = config.report_html or (vim.fn.stdpath('cache') .. '/routerls-dashboard.html')
      vim.fn.mkdir(vim.fn.fnamemodify(path, ':h'), 'p')
      local f, why = io.open(path, 'wb')
      if not f then return vim.notify('routerls: cannot write ' .. path .. ': ' .. tostring(why), vim.log.levels.ERROR) end
      f:write(html)
      f:close()
      M.open_in_browser(path)
    end)
end

function M.set_strategy(strategy)
  local client = M.client() or any_client()
  if not client then return end
  request(client, 'workspace/executeCommand', { command = 'routerls.setStrategy', arguments = { { strategy = strategy } } },
    function(_, result)
      if type(result) == 'table' and result.ok then vim.notify('routerls: strategy ' .. result.strategy) end
    end)
end

function M.setup(opts)
  config = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts or {})
  if opts and opts.keymaps == false then config.keymaps = false end
  -- also for clients started elsewhere (nvim-lspconfig, vim.lsp.enable)
  vim.lsp.handlers['$/routerls/status'] = status_handler
  local group = vim.api.nvim_create_augroup('routerls', { clear = true })
  if config.autostart then
    vim.api.nvim_create_autocmd('FileType', {
      group = group,
      pattern = config.filetypes,
      callback = function(ev) M.start(ev.buf) end,
    })
  end
  vim.api.nvim_create_user_command('RouterlsReport', function(c)
    if c.args == 'html' then return M.report_html() end
    M.report(c.args ~= '' and c.args or nil)
  end, { nargs = '?', complete = function() return { 'model', 'day', 'week', 'action', 'html' } end })
  vim.api.nvim_create_user_command('RouterlsActions', function(c) M.code_action({ range = c.range > 0 }) end, { range = true })
  vim.api.nvim_create_user_command('RouterlsStrategy', function(c) M.set_strategy(c.args) end,
    { nargs = 1, complete = function() return { 'cost', 'balanced', 'quality' } end })
  -- buffers already open when setup runs late
  for _, buf in ipairs(config.autostart and vim.api.nvim_list_bufs() or {}) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(config.filetypes, vim.bo[buf].filetype) then M.start(buf) end
  end
end

return M
