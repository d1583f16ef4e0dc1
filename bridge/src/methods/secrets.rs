//! `secrets.*`, `servers.secrets.*` and `oauth.*`: setting, replacing and deleting secrets
//! (never reading them back), and signing in to remote servers.
//!
//! Values travel only inward: a secret's value arrives in `secrets.set` and leaves the bridge
//! only into a server's environment. Sign-in streams one `{"type": "authorize", "url"}` event,
//! which the background opens in a tab; the answer comes once the user approved and the tokens
//! are in the keychain.

use std::sync::Arc;

use harbor_protocol::api::secrets::{self as api, AuthEvent};
use harbor_protocol::ErrorObject;

use super::{error, secret_error, wire, Area};
use crate::mcp::registry::Servers;
use crate::oauth::Auth;
use crate::rpc::Router;
use crate::secrets::{server_secret_id, Secrets};

#[derive(Clone)]
struct State {
    servers: Arc<Servers>,
    secrets: Arc<Secrets>,
    auth: Arc<Auth>,
}

pub fn routes(router: Router, servers: Arc<Servers>, secrets: Arc<Secrets>, auth: Arc<Auth>) -> Router {
    Area::new(router, State { servers, secrets, auth })
        .on::<api::SecretsStatus, _>(|s, _, _| async move {
            let store = s.secrets.status().await;
            let secrets = s.secrets.list().map_err(secret_error)?;
            Ok(api::SecretsOverview { store, secrets })
        })
        .on::<api::SecretsSet, _>(|s, p, _| async move {
            s.secrets.set(&p.id, &p.value).await.map_err(secret_error)?;
            Ok(api::SecretId { id: p.id })
        })
        .on::<api::SecretsDelete, _>(|s, p, _| async move {
            Ok(api::SecretDeleted { deleted: s.secrets.delete(&p.id).await.map_err(secret_error)? })
        })
        .on::<api::ServersSecretsSet, _>(|s, p, _| async move {
            let value = p.value.ok_or_else(|| ErrorObject::invalid("servers.secrets.set needs a value"))?;
            let mut spec = s.servers.entry(&p.id).map_err(error)?.spec;
            let id = spec.secret_env.get(&p.name).cloned().unwrap_or_else(|| server_secret_id(&p.id, &p.name));
            s.secrets.set(&id, &value).await.map_err(secret_error)?;
            spec.secret_env.insert(p.name, id);
            Ok(wire::entry(s.servers.update(spec).map_err(error)?))
        })
        .on::<api::ServersSecretsDelete, _>(|s, p, _| async move {
            let mut spec = s.servers.entry(&p.id).map_err(error)?.spec;
            let id = spec
                .secret_env
                .remove(&p.name)
                .ok_or_else(|| ErrorObject::invalid(format!("{} has no secret named {:?}", p.id, p.name)))?;
            // A secret shared with another server stays in the keychain.
            let shared =
                s.servers.list().iter().any(|e| e.spec.id != p.id && e.spec.secret_env.values().any(|v| *v == id));
            if !shared {
                s.secrets.delete(&id).await.map_err(secret_error)?;
            }
            Ok(wire::entry(s.servers.update(spec).map_err(error)?))
        })
        .on::<api::OauthStatus, _>(|s, p, _| async move {
            let spec = s.servers.entry(&p.id).map_err(error)?.spec;
            Ok(s.auth.sign_in_of(&spec))
        })
        .on::<api::OauthSignIn, _>(|s, p, call| async move {
            let spec = s.servers.entry(&p.id).map_err(error)?.spec;
            let (tell, mut told) = tokio::sync::mpsc::unbounded_channel::<AuthEvent>();
            let signing_in = s.auth.sign_in(&spec, p, move |event| {
                let _ = tell.send(event);
            });
            tokio::pin!(signing_in);
            let sign_in = loop {
                tokio::select! {
                    Some(event) = told.recv() => {
                        call.events.emit(&event).await;
                    }
                    done = &mut signing_in => break done?,
                }
            };
            s.servers.get(&spec.id).map_err(error)?.restart();
            Ok(sign_in)
        })
        .on::<api::OauthSignOut, _>(|s, p, _| async move {
            let spec = s.servers.entry(&p.id).map_err(error)?.spec;
            let signed_out = s.auth.sign_out(&spec).await?;
            let server = s.servers.get(&p.id).map_err(error)?;
            if server.status().state == crate::mcp::server::ServerState::Running {
                server.restart();
            }
            Ok(api::SignedOut { signed_out })
        })
        .done()
}
