//! A server's health: the circuit breaker every tool call passes, fed by calls and heartbeats.
//!
//! A server that times out or goes away on `failures` calls in a row is *open*: calls to it
//! fail at once for `cooldown` instead of piling up behind a dead server. After the cooldown the
//! breaker is *half-open*: the next heartbeat ping (or one call) is the trial, and its success
//! closes the breaker again, so a server that recovers is used again without anyone acting. A
//! tool's own error (`isError`) or a refused argument is an answer, not a failure.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The `health` setting: heartbeat and breaker tuning (read when the bridge opens).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthSettings {
    /// How often a running server is pinged; 0 turns heartbeats off.
    pub heartbeat_ms: u64,
    /// Failures in a row that open the breaker.
    pub failures: u32,
    /// How long an open breaker refuses calls before it lets a trial through.
    pub cooldown_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings { heartbeat_ms: 30_000, failures: 5, cooldown_ms: 30_000 }
    }
}

/// The breaker's state as metrics and the server list show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    failures_in_row: u32,
    open_since: Option<Instant>,
    /// A half-open trial is in flight; other calls still fail fast.
    trial: bool,
}

/// One server's breaker.
#[derive(Debug)]
pub struct Breaker {
    settings: HealthSettings,
    inner: Mutex<Inner>,
}

/// Why a call was refused without reaching the server.
#[derive(Debug, PartialEq)]
pub struct Refused {
    pub failures: u32,
    pub retry_after: Duration,
}

impl Breaker {
    pub fn new(settings: HealthSettings) -> Breaker {
        Breaker { settings, inner: Mutex::new(Inner { failures_in_row: 0, open_since: None, trial: false }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.open_since {
            None => BreakerState::Closed,
            Some(since) if since.elapsed() < self.cooldown() => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    fn cooldown(&self) -> Duration {
        Duration::from_millis(self.settings.cooldown_ms)
    }

    /// Lets a call through, or refuses it while the breaker is open. After the cooldown one call
    /// at a time goes through as the trial.
    pub fn admit(&self) -> Result<(), Refused> {
        let cooldown = self.cooldown();
        let mut inner = self.lock();
        let Some(since) = inner.open_since else { return Ok(()) };
        let waited = since.elapsed();
        if waited >= cooldown && !inner.trial {
            inner.trial = true;
            return Ok(());
        }
        Err(Refused { failures: inner.failures_in_row, retry_after: cooldown.saturating_sub(waited) })
    }

    /// A call or heartbeat that the server answered.
    pub fn succeeded(&self) {
        let mut inner = self.lock();
        inner.failures_in_row = 0;
        inner.open_since = None;
        inner.trial = false;
    }

    /// A heartbeat the server answered: the trial that closes a half-open breaker. It neither
    /// closes an open one nor resets the count of a closed one: a server can answer pings while
    /// its calls hang.
    pub fn heartbeat_answered(&self) {
        if self.state() == BreakerState::HalfOpen {
            self.succeeded();
        }
    }

    /// A call that timed out or lost its server. Returns true when this failure opened the breaker.
    pub fn failed(&self) -> bool {
        let mut inner = self.lock();
        inner.failures_in_row = inner.failures_in_row.saturating_add(1);
        let was_open = inner.open_since.is_some();
        if inner.trial || inner.failures_in_row >= self.settings.failures.max(1) {
            inner.open_since = Some(Instant::now());
        }
        inner.trial = false;
        !was_open && inner.open_since.is_some()
    }

    /// A call that was not admitted as the trial and did not run (cancelled by its caller): the
    /// next call may be the trial.
    pub fn abandoned(&self) {
        self.lock().trial = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(cooldown_ms: u64) -> Breaker {
        Breaker::new(HealthSettings { heartbeat_ms: 0, failures: 3, cooldown_ms })
    }

    #[test]
    fn failures_in_a_row_open_it_and_a_success_between_resets_the_count() {
        let b = breaker(60_000);
        b.failed();
        b.failed();
        b.succeeded();
        assert!(!b.failed());
        assert!(!b.failed());
        assert_eq!(b.admit(), Ok(()));
        assert!(b.failed(), "the third failure in a row opens it");
        assert_eq!(b.state(), BreakerState::Open);
        let refused = b.admit().unwrap_err();
        assert_eq!(refused.failures, 3);
        assert!(refused.retry_after > Duration::from_secs(59));
    }

    #[test]
    fn after_the_cooldown_one_trial_goes_through_and_decides() {
        let b = breaker(0);
        for _ in 0..3 {
            b.failed();
        }
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.admit(), Ok(()), "the trial");
        assert!(b.admit().is_err(), "only one trial at a time");
        b.failed();
        assert_eq!(b.admit(), Ok(()), "a failed trial reopens it for another cooldown (0 here)");
        b.succeeded();
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(b.admit(), Ok(()));
        assert_eq!(b.admit(), Ok(()));
    }

    #[test]
    fn a_heartbeat_closes_a_half_open_breaker_but_not_an_open_one() {
        let open = breaker(60_000);
        for _ in 0..3 {
            open.failed();
        }
        open.heartbeat_answered();
        assert_eq!(open.state(), BreakerState::Open);
        let closed = breaker(60_000);
        closed.failed();
        closed.failed();
        closed.heartbeat_answered();
        assert!(closed.failed(), "pings between failing calls do not reset their count");
        let half = breaker(0);
        for _ in 0..3 {
            half.failed();
        }
        half.heartbeat_answered();
        assert_eq!(half.state(), BreakerState::Closed);
    }
}
