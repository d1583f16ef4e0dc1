//! The bridge's integration tests, one binary with a module per area (one link step instead of
//! one per file). Each drives a real bridge — in-process over pipes, or the binary itself — with
//! real MCP servers, a real Docker engine, a real keychain and real registries' packages.

#[allow(dead_code)]
mod support;

mod apps;
mod asks;
mod browser;
mod builtin;
mod byoc;
mod chat;
mod cli;
mod code_mode;
mod conformance;
mod contract;
mod docker;
mod faults;
mod gateway;
mod host;
mod import;
mod install;
mod js_servers;
mod oauth;
mod openapi;
mod pages;
mod sdks;
mod secrets;
mod stdio;
mod tasks;
mod team;
mod webmcp;
