//! `apps.*`: MCP App views in Harbor's own pages (see `crate::apps`).

use std::sync::Arc;

use harbor_protocol::api::apps as api;
use harbor_protocol::api::Empty;
use harbor_protocol::ErrorObject;

use super::Area;
use crate::apps::Apps;

pub fn routes(router: crate::rpc::Router, apps: Arc<Apps>) -> crate::rpc::Router {
    Area::new(router, apps)
        .on::<api::AppsOpen, _>(|apps, p, call| async move { Ok(apps.open(&p.tool, &call.cancel).await?) })
        .on::<api::AppsCall, _>(|apps, p, call| async move {
            apps.call(&p.view_id, &p.name, p.arguments.unwrap_or_default(), &call.cancel).await
        })
        .on::<api::AppsRead, _>(|apps, p, call| async move {
            apps.read(&p.view_id, &p.uri, &call.cancel).await.map_err(ErrorObject::from)
        })
        .on::<api::AppsClose, _>(|apps, p, _| async move { Ok(apps.close(&p.view_id).map(|()| Empty {})?) })
        .done()
}
