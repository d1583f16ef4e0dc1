//! The end-to-end tests, one binary with a module per area: real headless Firefox with the
//! extension installed, the real bridge as its native host, real MCP servers behind it.
//! `apps` — MCP Apps' views in the chat; `code_mode` — the chat in code mode; `browser` — pages acting in the browser behind the Settings switches; `builtin` —
//! the built-in model with no model server; `byoc` — sites'
//! own MCP servers; `hosted` — REST APIs and JS servers added in the sidebar, code mode switched on; `firefox` — the product as a user meets it (sidebar panels, pages, chat, installs, the
//! gateway); `permissions` — the page API's permissions and the attacks of the security rounds; `tasks` — tools
//! that run as MCP tasks in the chat; `webmcp` — pages'
//! own tools offered to the sidebar's chat.

mod apps;
mod browser;
mod builtin;
mod byoc;
mod code_mode;
mod firefox;
mod hosted;
mod permissions;
mod tasks;
mod webmcp;
