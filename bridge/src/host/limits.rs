//! Limits and budgets per origin: tool calls per `agent.run`, calls in flight at once, the tool
//! timeout, tool calls per hour and model tokens per day. Defaults come from the `permissions`
//! setting; each origin can have its own. Calls in flight are held by a semaphore per origin;
//! budgets are counted in the store's usage table, so they hold across restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harbor_protocol::{ErrorCode, ErrorObject};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::Store;

/// One origin's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Limits {
    pub max_tool_calls_per_run: u32,
    pub max_concurrent_calls: u32,
    pub tool_timeout_ms: u64,
    /// Off when `None`.
    pub tool_calls_per_hour: Option<u32>,
    /// Off when `None`.
    pub tokens_per_day: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tool_calls_per_run: 5,
            max_concurrent_calls: 2,
            tool_timeout_ms: 30_000,
            tool_calls_per_hour: None,
            tokens_per_day: None,
        }
    }
}

impl Limits {
    pub fn check(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.max_tool_calls_per_run) {
            return Err("maxToolCallsPerRun must be between 1 and 100".into());
        }
        if !(1..=32).contains(&self.max_concurrent_calls) {
            return Err("maxConcurrentCalls must be between 1 and 32".into());
        }
        if !(100..=600_000).contains(&self.tool_timeout_ms) {
            return Err("toolTimeoutMs must be between 100 and 600000".into());
        }
        Ok(())
    }

    pub fn tool_timeout(&self) -> Duration {
        Duration::from_millis(self.tool_timeout_ms)
    }
}

/// Settings that apply to every site.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Defaults {
    /// How long "allow once" lasts.
    pub once_ttl_seconds: u64,
    pub limits: Limits,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults { once_ttl_seconds: 600, limits: Limits::default() }
    }
}

const SETTING: &str = "permissions";

pub const TOOL_CALL: &str = "tool_call";
pub const TOKENS: &str = "tokens";

pub struct Gate {
    store: Store,
    /// Per origin: the semaphore and the capacity it was made with.
    in_flight: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Gate {
    pub fn new(store: Store) -> Gate {
        Gate { store, in_flight: Mutex::default() }
    }

    pub fn defaults(&self) -> anyhow::Result<Defaults> {
        Ok(self.store.setting(SETTING)?.unwrap_or_default())
    }

    pub fn set_defaults(&self, defaults: &Defaults) -> Result<(), String> {
        defaults.limits.check()?;
        if !(1..=86_400).contains(&defaults.once_ttl_seconds) {
            return Err("onceTtlSeconds must be between 1 and 86400".into());
        }
        self.store.set_setting(SETTING, defaults).map_err(|e| format!("cannot save the defaults: {e:#}"))
    }

    /// `origin`'s limits: its own, else the defaults.
    pub fn limits(&self, origin: &str) -> anyhow::Result<Limits> {
        match self.store.origin_limits(origin)? {
            Some(limits) => Ok(limits),
            None => Ok(self.defaults()?.limits),
        }
    }

    /// Waits (at most `wait`) for one of `origin`'s call slots.
    pub async fn slot(
        &self,
        origin: &str,
        limits: &Limits,
        wait: Duration,
    ) -> Result<OwnedSemaphorePermit, ErrorObject> {
        let semaphore = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            let entry = in_flight.entry(origin.to_owned()).or_insert_with(|| {
                (limits.max_concurrent_calls, Arc::new(Semaphore::new(limits.max_concurrent_calls as usize)))
            });
            if entry.0 != limits.max_concurrent_calls {
                *entry = (limits.max_concurrent_calls, Arc::new(Semaphore::new(limits.max_concurrent_calls as usize)));
            }
            entry.1.clone()
        };
        match tokio::time::timeout(wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ErrorObject::new(
                ErrorCode::RateLimited,
                format!(
                    "this site already has {} tool calls running and the next did not get a turn within {} s",
                    limits.max_concurrent_calls,
                    wait.as_secs()
                ),
            )),
        }
    }

    /// Refuses a tool call over the hourly budget.
    pub fn check_tool_budget(&self, origin: &str, limits: &Limits) -> Result<(), ErrorObject> {
        let Some(per_hour) = limits.tool_calls_per_hour else { return Ok(()) };
        let used = self.store.usage_since(origin, TOOL_CALL, 3600).map_err(internal)?;
        if used >= i64::from(per_hour) {
            return Err(ErrorObject::new(
                ErrorCode::RateLimited,
                format!(
                    "this site used its {per_hour} tool calls for this hour; the user can raise the budget in Harbor"
                ),
            ));
        }
        Ok(())
    }

    /// Refuses model use over the daily token budget.
    pub fn check_token_budget(&self, origin: &str, limits: &Limits) -> Result<(), ErrorObject> {
        let Some(per_day) = limits.tokens_per_day else { return Ok(()) };
        let used = self.store.usage_since(origin, TOKENS, 86_400).map_err(internal)?;
        if used >= per_day as i64 {
            return Err(ErrorObject::new(
                ErrorCode::BudgetExceeded,
                format!("this site used its {per_day} model tokens for today; the user can raise the budget in Harbor"),
            ));
        }
        Ok(())
    }

    pub fn record(&self, origin: &str, kind: &str, amount: i64) {
        if let Err(error) = self.store.record_usage(origin, kind, amount) {
            tracing::warn!("cannot record usage: {error:#}");
        }
    }
}

fn internal(error: anyhow::Error) -> ErrorObject {
    ErrorObject::new(ErrorCode::Internal, format!("{error:#}"))
}
