//! The sidebar's panels, one file each.

pub mod add_hosted;
pub mod app_view;
pub mod asks;
pub mod changed;
pub mod chat;
pub mod connection;
pub mod directory;
pub mod gateway;
pub mod import;
pub mod model_download;
pub mod resources;
pub mod result;
pub mod server_settings;
pub mod servers;
pub mod settings;
pub mod sites;
pub mod tasks;
