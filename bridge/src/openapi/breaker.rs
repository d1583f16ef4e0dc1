//! A circuit breaker per endpoint of a REST service: after [`THRESHOLD`] failures in a row (the
//! service unreachable, too slow, or a 5xx answer) an operation is not called for
//! [`COOLDOWN`]; each call meanwhile fails at once, saying why and when it will be tried again,
//! instead of waiting out a timeout against a service that is down. After the cooldown one call
//! goes through as a trial: its success closes the breaker, its failure opens it again.
//!
//! A 4xx answer is the caller's mistake (or a refused credential), not the service failing, so it
//! neither counts nor resets the count. Each operation has its own breaker: one broken endpoint
//! never stops the service's others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row that open an endpoint's breaker.
pub const THRESHOLD: u32 = 5;
/// How long an open breaker refuses calls before it lets a trial through.
pub const COOLDOWN: Duration = Duration::from_secs(30);

/// One endpoint's record.
#[derive(Default)]
struct State {
    failures: u32,
    /// The last failure, as the refusal tells it.
    last: String,
    /// Refusing calls until then.
    open_until: Option<Instant>,
    /// A trial call is under way (the others still wait).
    trying: bool,
}

/// A call refused because its endpoint's breaker is open.
#[derive(Debug, PartialEq)]
pub struct Open {
    pub failures: u32,
    pub last: String,
    pub retry_in: Duration,
}

impl Open {
    pub fn message(&self, operation: &str) -> String {
        format!(
            "Harbor stopped calling {operation} for now: it failed {} times in a row (last: {}); it is tried again in {} s",
            self.failures,
            self.last,
            self.retry_in.as_secs().max(1)
        )
    }
}

/// The breakers of one service's endpoints.
pub struct Breakers {
    states: Mutex<HashMap<String, State>>,
    threshold: u32,
    cooldown: Duration,
}

impl Default for Breakers {
    fn default() -> Breakers {
        Breakers::new(THRESHOLD, COOLDOWN)
    }
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Breakers {
        Breakers { states: Mutex::default(), threshold: threshold.max(1), cooldown }
    }

    /// Whether a call of `endpoint` may go now; an open breaker refuses it.
    pub fn admit(&self, endpoint: &str, now: Instant) -> Result<(), Open> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = states.get_mut(endpoint) else { return Ok(()) };
        let Some(until) = state.open_until else { return Ok(()) };
        if now < until || state.trying {
            let retry_in = until.saturating_duration_since(now).max(Duration::from_secs(1));
            return Err(Open { failures: state.failures, last: state.last.clone(), retry_in });
        }
        state.trying = true;
        Ok(())
    }

    /// Records how an admitted call of `endpoint` went: `None` a success, `Some(why)` a failure
    /// of the service's (a 4xx is neither: do not record it).
    pub fn record(&self, endpoint: &str, failure: Option<String>, now: Instant) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            None => {
                states.remove(endpoint);
            }
            Some(why) => {
                let state = states.entry(endpoint.to_owned()).or_default();
                state.failures += 1;
                state.last = why;
                state.trying = false;
                if state.failures >= self.threshold {
                    state.open_until = Some(now + self.cooldown);
                }
            }
        }
    }

    /// Lets an admitted trial go without an outcome (the call never reached the service).
    pub fn release(&self, endpoint: &str) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = states.get_mut(endpoint) {
            state.trying = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_in_a_row_open_it_and_a_trial_after_the_cooldown_closes_it() {
        let breakers = Breakers::new(3, Duration::from_secs(30));
        let start = Instant::now();
        for _ in 0..2 {
            assert!(breakers.admit("getPet", start).is_ok());
            breakers.record("getPet", Some("503 Service Unavailable".into()), start);
        }
        // A success in between starts the count again.
        breakers.record("getPet", None, start);
        for _ in 0..3 {
            assert!(breakers.admit("getPet", start).is_ok());
            breakers.record("getPet", Some("503 Service Unavailable".into()), start);
        }
        let refused = breakers.admit("getPet", start + Duration::from_secs(10)).unwrap_err();
        assert_eq!((refused.failures, refused.retry_in), (3, Duration::from_secs(20)));
        assert!(refused.message("getPet").contains("503 Service Unavailable"), "{}", refused.message("getPet"));
        // Another endpoint of the service is not held up.
        assert!(breakers.admit("listPets", start).is_ok());

        // After the cooldown one trial goes; the others still wait for it.
        let later = start + Duration::from_secs(31);
        assert!(breakers.admit("getPet", later).is_ok());
        assert!(breakers.admit("getPet", later).is_err(), "only one trial at a time");
        // A failed trial opens it again for a whole cooldown.
        breakers.record("getPet", Some("timed out".into()), later);
        assert!(breakers.admit("getPet", later + Duration::from_secs(29)).is_err());
        let again = later + Duration::from_secs(31);
        assert!(breakers.admit("getPet", again).is_ok());
        breakers.record("getPet", None, again);
        assert!(breakers.admit("getPet", again).is_ok() && breakers.admit("getPet", again).is_ok(), "closed");
    }

    #[test]
    fn a_trial_that_never_reached_the_service_lets_the_next_one_try() {
        let breakers = Breakers::new(1, Duration::ZERO);
        let now = Instant::now();
        breakers.record("op", Some("unreachable".into()), now);
        assert!(breakers.admit("op", now).is_ok());
        breakers.release("op");
        assert!(breakers.admit("op", now).is_ok());
    }
}
