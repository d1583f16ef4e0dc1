//! Every method of the contract (`harbor_protocol::api`), by area, bound to the state it needs.
//!
//! Each handler is registered against its method's type ([`Area::on`]): the router decodes the
//! params into the contract's type and encodes the handler's typed result, so a shape cannot
//! drift between the bridge, the sidebar and the command line. This is the boundary where
//! internal records become wire values ([`wire`]) and typed errors become the contract's codes
//! (each error type's `From` impl, below this module). Nothing below `methods` imports it.

mod apps;
mod asks;
mod browser;
mod byoc;
mod chat;
mod gateway;
mod import;
mod install;
mod page;
mod permissions;
mod secrets;
mod servers;
mod sessions;
mod webmcp;
mod wire;

use harbor_protocol::{ErrorCode, ErrorObject};

use crate::mcp::error::HostError;

pub use apps::routes as app_routes;
pub use asks::routes as ask_routes;
pub use browser::routes as browser_routes;
pub use byoc::routes as byoc_routes;
pub use chat::routes as chat_routes;
pub use gateway::routes as gateway_routes;
pub use import::routes as import_routes;
pub use install::routes as install_routes;
pub use page::routes as page_routes;
pub use permissions::routes as permission_routes;
pub use secrets::routes as secret_routes;
pub use servers::routes;
pub use sessions::routes as session_routes;
pub use webmcp::routes as webmcp_routes;

/// The contract's code for a host error (see `HostError`'s `From`).
pub(crate) fn error(error: HostError) -> ErrorObject {
    error.into()
}

/// The code for a secret-store error (see `SecretError`'s `From`).
fn secret_error(error: crate::secrets::SecretError) -> ErrorObject {
    error.into()
}

fn internal(error: anyhow::Error) -> ErrorObject {
    ErrorObject::new(ErrorCode::Internal, format!("{error:#}"))
}

/// An area's methods being registered, each handler given the area's shared state `S` (the
/// registry, the chat, …): `Area::new(router, state).on::<M, _>(handler)…done()`.
struct Area<S> {
    router: crate::rpc::Router,
    state: S,
}

impl<S: Clone + Send + Sync + 'static> Area<S> {
    fn new(router: crate::rpc::Router, state: S) -> Area<S> {
        Area { router, state }
    }

    fn on<M, Fut>(self, handler: impl Fn(S, M::Params, crate::rpc::Call) -> Fut + Send + Sync + 'static) -> Self
    where
        M: harbor_protocol::api::Method,
        Fut: std::future::Future<Output = Result<M::Result, ErrorObject>> + Send + 'static,
    {
        let state = self.state.clone();
        let router = self.router.method::<M, _>(move |params, call| handler(state.clone(), params, call));
        Area { router, state: self.state }
    }

    fn done(self) -> crate::rpc::Router {
        self.router
    }
}
