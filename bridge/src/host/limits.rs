//! Limits and budgets per origin: tool calls per `agent.run`, calls in flight at once, the tool
//! timeout, tool calls per hour and model tokens per day. Defaults come from the `permissions`
//! setting; each origin can have its own. Calls in flight are held by a semaphore per origin;
//! budgets are counted by the store's usage ledger (in memory, written to the usage table), so
//! they hold across restarts.
//!
//! A budget is never check-then-act: [`Gate::reserve`] checks what is left and records the
//! reservation in one step under a lock, before the call waits for a slot
//! or a model, so concurrent calls cannot all see the same room. A [`Reservation`] is settled
//! with what was really used, or refunded when it is dropped unsettled (the call never ran).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::policy::PolicyError;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::Store;

pub use harbor_protocol::api::permissions::{Defaults, Limits};

const SETTING: &str = "permissions";

pub const TOOL_CALL: &str = "tool_call";
pub const TOKENS: &str = "tokens";

pub struct Gate {
    store: Store,
    /// Per origin: the semaphore and the capacity it was made with.
    in_flight: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
    /// Held while a budget is checked and its reservation written, so the two are one step.
    budgets: Mutex<()>,
}

/// The tokens a model call reserves before it runs: a quarter of the input's characters (a
/// generous count of its tokens) and room for an answer, never more than what is left.
pub fn token_estimate(input_chars: usize) -> i64 {
    (input_chars / 4 + 512) as i64
}

/// Part of a budget held for a call in progress. Settle it with what was used; dropped unsettled
/// (the call never ran), it is given back.
#[must_use = "a reservation dropped at once is refunded at once"]
pub struct Reservation<'a> {
    gate: &'a Gate,
    origin: String,
    kind: &'static str,
    /// What is still written in the usage table for this call and not yet settled.
    held: i64,
    /// Whether dropping it unsettled gives `held` back.
    refund: bool,
}

impl Reservation<'_> {
    /// Records that `used` was really used, in place of the reservation.
    pub fn settle(mut self, used: i64) {
        let delta = used - self.held;
        self.held = 0;
        if delta != 0 {
            self.gate.record(&self.origin, self.kind, delta);
        }
    }

    /// From here, dropping the reservation keeps it as used instead of refunding it: the work it
    /// pays for has started (a stop or a failure still cost tokens). Settling still corrects it.
    pub fn keep(&mut self) {
        self.refund = false;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.refund && self.held != 0 {
            self.gate.record(&self.origin, self.kind, -self.held);
        }
    }
}

impl Gate {
    pub fn new(store: Store) -> Gate {
        Gate { store, in_flight: Mutex::default(), budgets: Mutex::default() }
    }

    pub fn defaults(&self) -> anyhow::Result<Defaults> {
        Ok(self.store.setting(SETTING)?.unwrap_or_default())
    }

    pub fn set_defaults(&self, defaults: &Defaults) -> Result<(), String> {
        defaults.limits.check()?;
        if !(1..=3600).contains(&defaults.prompt_timeout_seconds) {
            return Err("promptTimeoutSeconds must be between 1 and 3600".into());
        }
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
    ) -> Result<OwnedSemaphorePermit, PolicyError> {
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
            _ => Err(PolicyError::RateLimited {
                message: format!(
                    "this site already has {} tool calls running and the next did not get a turn within {} s",
                    limits.max_concurrent_calls,
                    wait.as_secs()
                ),
                retry_after: None,
                limit: None,
            }),
        }
    }

    /// Reserves one tool call of `origin`'s hourly budget, or refuses it.
    pub fn reserve_tool_call(&self, origin: &str, limits: &Limits) -> Result<Reservation<'_>, PolicyError> {
        let budget = limits.tool_calls_per_hour.map(i64::from);
        self.reserve(origin, TOOL_CALL, budget, 3600, 1).map_err(|refusal| match refusal {
            Refusal::Spent(per_hour) => PolicyError::RateLimited {
                message: format!(
                    "this site used its {per_hour} tool calls for this hour; the user can raise the budget in Harbor"
                ),
                retry_after: None,
                limit: None,
            },
            Refusal::Store(error) => PolicyError::Store(error),
        })
    }

    /// Reserves the tokens a model call on `input_chars` of input may use from `origin`'s daily
    /// budget, or refuses it.
    pub fn reserve_tokens(
        &self,
        origin: &str,
        limits: &Limits,
        input_chars: usize,
    ) -> Result<Reservation<'_>, PolicyError> {
        let budget = limits.tokens_per_day.map(|t| t.min(i64::MAX as u64) as i64);
        self.reserve(origin, TOKENS, budget, 86_400, token_estimate(input_chars)).map_err(|refusal| match refusal {
            Refusal::Spent(per_day) => PolicyError::BudgetExceeded(format!(
                "this site used its {per_day} model tokens for today; the user can raise the budget in Harbor"
            )),
            Refusal::Store(error) => PolicyError::Store(error),
        })
    }

    /// Checks what is left of `budget` over the last `window` seconds and writes a reservation
    /// of `amount` (at most what is left) in the same step. No budget: nothing is held, and the
    /// reservation records what is used when it is settled.
    fn reserve(
        &self,
        origin: &str,
        kind: &'static str,
        budget: Option<i64>,
        window: i64,
        amount: i64,
    ) -> Result<Reservation<'_>, Refusal> {
        let mut reservation = Reservation { gate: self, origin: origin.to_owned(), kind, held: 0, refund: true };
        let Some(budget) = budget else { return Ok(reservation) };
        let _one_at_a_time = self.budgets.lock().unwrap_or_else(|p| p.into_inner());
        let used = self.store.usage_since(origin, kind, window).map_err(Refusal::Store)?;
        let left = budget - used;
        if left <= 0 {
            return Err(Refusal::Spent(budget));
        }
        let held = amount.min(left);
        self.store.record_usage(origin, kind, held).map_err(Refusal::Store)?;
        reservation.held = held;
        Ok(reservation)
    }

    pub fn record(&self, origin: &str, kind: &str, amount: i64) {
        if let Err(error) = self.store.record_usage(origin, kind, amount) {
            tracing::warn!("cannot record usage: {error:#}");
        }
    }
}

enum Refusal {
    /// The budget (its size) is used up.
    Spent(i64),
    Store(anyhow::Error),
}
