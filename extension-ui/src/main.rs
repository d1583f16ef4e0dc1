//! Harbor's sidebar: a Leptos app, rendered in the browser, that shows and drives the bridge
//! through the background script.
//!
//! `main` only mounts [`app::App`]. [`bus`] is the one module that talks to the outside (the
//! background's runtime port); [`panels`] holds one file per panel; [`markdown`] renders answers.

mod app;
mod bus;
mod markdown;
mod panels;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
