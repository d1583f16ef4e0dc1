//! `asks.*`: the requests of servers that wait for the user (see `crate::asks`).

use std::sync::Arc;

use harbor_protocol::api::asks as api;
use harbor_protocol::api::Empty;

use super::Area;
use crate::asks::UserAsks;

pub fn routes(router: crate::rpc::Router, asks: Arc<UserAsks>) -> crate::rpc::Router {
    Area::new(router, asks)
        .on::<api::AsksList, _>(|asks, _, _| async move { Ok(asks.list()) })
        .on::<api::AsksAnswer, _>(|asks, answer, _| async move { asks.answer(answer).map(|()| Empty {}) })
        .on::<api::AsksWatch, _>(|asks, _, call| async move {
            asks.watch(&call.events, &call.cancel).await;
            Ok(Empty {})
        })
        .done()
}
