-- Nothing starts until require('routerls').setup{...}: the plugin only makes the module loadable.
if vim.g.loaded_routerls then return end
vim.g.loaded_routerls = true
