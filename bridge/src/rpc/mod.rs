//! The envelope and its dispatch: what a frame means, and who answers it.
//!
//! [`envelope`] turns a frame's bytes into an [`Inbound`] request or cancel — or into an error
//! that still carries the request id when one can be read. [`router`] is the method → handler
//! table with each method's [`Access`] (who may call it). [`session`] is the loop that reads
//! frames, runs every request in its own task, honours cancels, and guarantees exactly one final
//! reply per request. [`notifier`] carries bridge-initiated notifications to every session.
//!
//! This module holds no product logic: handlers live with their areas (e.g. `system`).

pub mod envelope;
pub mod notifier;
pub mod router;
pub mod session;

pub use envelope::Inbound;
pub use notifier::{Notification, Notifier};
pub use router::{Access, Call, EventSink, Router};
pub use session::serve;
