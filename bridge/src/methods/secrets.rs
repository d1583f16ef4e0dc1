//! `secrets.*`, `servers.secrets.*` and `oauth.*`: setting, replacing and deleting secrets
//! (never reading them back), and signing in to remote servers.
//!
//! Values travel only inward: a secret's value arrives in `secrets.set` and leaves the bridge
//! only into a server's environment. Sign-in streams one `{"type": "authorize", "url"}` event,
//! which the background opens in a tab; the answer comes once the user approved and the tokens
//! are in the keychain.

use std::sync::Arc;

use harbor_protocol::{ErrorCode, ErrorObject};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error, invalid, params, secret_error, to_value, with};
use crate::mcp::registry::Servers;
use crate::oauth::Auth;
use crate::rpc::{Access, Router};
use crate::secrets::{server_secret_id, Secrets};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetParams {
    id: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSecretParams {
    /// The server.
    id: String,
    /// The environment variable (or, for a remote server, the header).
    name: String,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignInParams {
    id: String,
    /// A client id the provider issued to the user, when it does not allow registration.
    client_id: Option<String>,
}

#[derive(Clone)]
struct State {
    servers: Arc<Servers>,
    secrets: Arc<Secrets>,
    auth: Arc<Auth>,
}

fn auth_failed(message: String) -> ErrorObject {
    ErrorObject::new(ErrorCode::AuthFailed, message)
}

pub fn routes(router: Router, servers: Arc<Servers>, secrets: Arc<Secrets>, auth: Arc<Auth>) -> Router {
    let s = State { servers, secrets, auth };
    router
        .route(
            "secrets.status",
            Access::Extension,
            with(&s, |s, _call| async move {
                let status = s.secrets.status().await;
                let set = s.secrets.list().map_err(secret_error)?;
                Ok(json!({ "store": status, "secrets": set }))
            }),
        )
        .route(
            "secrets.set",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: SetParams = params("secrets.set", call.params)?;
                s.secrets.set(&p.id, &p.value).await.map_err(secret_error)?;
                Ok(json!({ "id": p.id }))
            }),
        )
        .route(
            "secrets.delete",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: IdParams = params("secrets.delete", call.params)?;
                Ok(json!({ "deleted": s.secrets.delete(&p.id).await.map_err(secret_error)? }))
            }),
        )
        .route(
            "servers.secrets.set",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: ServerSecretParams = params("servers.secrets.set", call.params)?;
                let value = p.value.ok_or_else(|| invalid("servers.secrets.set needs a value"))?;
                let mut spec = s.servers.entry(&p.id).map_err(error)?.spec;
                let id = spec.secret_env.get(&p.name).cloned().unwrap_or_else(|| server_secret_id(&p.id, &p.name));
                s.secrets.set(&id, &value).await.map_err(secret_error)?;
                spec.secret_env.insert(p.name, id);
                to_value(s.servers.update(spec).map_err(error)?)
            }),
        )
        .route(
            "servers.secrets.delete",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: ServerSecretParams = params("servers.secrets.delete", call.params)?;
                let mut spec = s.servers.entry(&p.id).map_err(error)?.spec;
                let id = spec
                    .secret_env
                    .remove(&p.name)
                    .ok_or_else(|| invalid(format!("{} has no secret named {:?}", p.id, p.name)))?;
                // A secret shared with another server stays in the keychain.
                let shared =
                    s.servers.list().iter().any(|e| e.spec.id != p.id && e.spec.secret_env.values().any(|v| *v == id));
                if !shared {
                    s.secrets.delete(&id).await.map_err(secret_error)?;
                }
                to_value(s.servers.update(spec).map_err(error)?)
            }),
        )
        .route(
            "oauth.status",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: IdParams = params("oauth.status", call.params)?;
                let spec = s.servers.entry(&p.id).map_err(error)?.spec;
                Ok(s.auth.sign_in_of(&spec).map_or(Value::Null, |sign_in| json!(sign_in)))
            }),
        )
        .route(
            "oauth.signIn",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: SignInParams = params("oauth.signIn", call.params.clone())?;
                let spec = s.servers.entry(&p.id).map_err(error)?.spec;
                let (tell, mut told) = tokio::sync::mpsc::unbounded_channel::<String>();
                let signing_in = s.auth.sign_in(&spec, p.client_id, move |url| {
                    let _ = tell.send(url.to_owned());
                });
                tokio::pin!(signing_in);
                let sign_in = loop {
                    tokio::select! {
                        Some(url) = told.recv() => {
                            call.events.send(json!({ "type": "authorize", "url": url })).await;
                        }
                        done = &mut signing_in => break done.map_err(auth_failed)?,
                    }
                };
                s.servers.get(&p.id).map_err(error)?.restart();
                Ok(json!(sign_in))
            }),
        )
        .route(
            "oauth.signOut",
            Access::Extension,
            with(&s, |s, call| async move {
                let p: IdParams = params("oauth.signOut", call.params)?;
                let spec = s.servers.entry(&p.id).map_err(error)?.spec;
                let signed_out = s.auth.sign_out(&spec).await.map_err(auth_failed)?;
                let server = s.servers.get(&p.id).map_err(error)?;
                if server.status().state == crate::mcp::server::ServerState::Running {
                    server.restart();
                }
                Ok(json!({ "signedOut": signed_out }))
            }),
        )
}
