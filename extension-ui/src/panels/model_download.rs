//! Downloading a model of the built-in catalog, with its progress and why it failed: the one
//! piece that Settings' catalog and the chat's offer (when no model answers) both use.

use harbor_protocol::api::llm::{Download, LlmBuiltinDownload};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bus::Bus;

/// A download's state: bytes so far of the total while it runs, and its failure.
#[derive(Clone, Copy)]
pub struct ModelDownload {
    progress: RwSignal<Option<(u64, u64)>>,
    failure: RwSignal<Option<String>>,
}

impl ModelDownload {
    pub fn new() -> ModelDownload {
        ModelDownload { progress: RwSignal::new(None), failure: RwSignal::new(None) }
    }

    /// Whether a download runs now (its buttons wait).
    pub fn running(self) -> bool {
        self.progress.get().is_some()
    }

    /// Downloads catalog model `id`; `done` hears whether it succeeded.
    pub fn start(self, bus: Bus, id: String, done: impl FnOnce(bool) + 'static) {
        self.failure.set(None);
        self.progress.set(Some((0, 0)));
        spawn_local(async move {
            let (_, reply) = bus.call_streaming::<LlmBuiltinDownload>(Download { id, from: None }, move |event| {
                self.progress.set(Some((event.loaded, event.total)));
            });
            let outcome = reply.await;
            self.progress.set(None);
            if let Err(error) = &outcome {
                self.failure.set(Some(error.message.clone()));
            }
            done(outcome.is_ok());
        });
    }

    /// The progress bar while it runs, and the failure after.
    pub fn view(self) -> impl IntoView {
        view! {
            {move || self.progress.get().map(|(loaded, total)| view! {
                <p class="help" role="status">
                    <progress value=loaded.to_string() max=total.max(1).to_string() aria-label="Downloading the built-in model"></progress>
                    {format!(" {} of {} MB", loaded / 1_000_000, total / 1_000_000)}
                </p>
            })}
            {move || self.failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        }
    }
}
