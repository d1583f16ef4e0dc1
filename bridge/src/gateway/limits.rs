//! Each gateway client's rate limit and concurrency limit.
//!
//! The rate limit is a fixed one-minute window: the first call opens a window, at most
//! `rate_per_min` calls are admitted in it, and the window's end is when the count starts again.
//! Fixed windows are exact (a burst of `limit + n` calls admits exactly `limit`) and say plainly
//! when to come back, which is what `X-RateLimit-Reset` and `Retry-After` report. Calls in flight
//! are held to `concurrency` by a semaphore; a call waits for a slot (or its cancellation).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const WINDOW: Duration = Duration::from_secs(60);

/// An admitted call's view of the window (for the `X-RateLimit-*` headers).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ticket {
    pub limit: u32,
    pub remaining: u32,
    /// Until the window ends.
    pub reset: Duration,
}

/// A refused call: the window is used up.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limited {
    pub limit: u32,
    pub retry_after: Duration,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    used: u32,
}

/// One client's limits, as set when they were built (rebuilt when the user changes them).
#[derive(Debug)]
pub struct ClientLimits {
    pub rate_per_min: u32,
    pub concurrency: u32,
    window: Mutex<Window>,
    slots: Arc<Semaphore>,
}

impl ClientLimits {
    pub fn new(rate_per_min: u32, concurrency: u32) -> ClientLimits {
        ClientLimits {
            rate_per_min,
            concurrency,
            window: Mutex::new(Window { started: None, used: 0 }),
            slots: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
        }
    }

    /// Counts one call against the window, or refuses it.
    pub fn admit(&self) -> Result<Ticket, Limited> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Result<Ticket, Limited> {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let started = match window.started {
            Some(started) if now.duration_since(started) < WINDOW => started,
            _ => {
                window.used = 0;
                *window.started.insert(now)
            }
        };
        let reset = WINDOW.saturating_sub(now.duration_since(started));
        if window.used >= self.rate_per_min {
            return Err(Limited { limit: self.rate_per_min, retry_after: reset });
        }
        window.used += 1;
        Ok(Ticket { limit: self.rate_per_min, remaining: self.rate_per_min - window.used, reset })
    }

    /// Waits for a slot among the client's calls in flight.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots.clone().acquire_owned().await.expect("the semaphore is never closed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_admits_exactly_its_limit_and_then_opens_again() {
        let limits = ClientLimits::new(3, 1);
        let start = Instant::now();
        let remaining: Vec<u32> = (0..3).map(|_| limits.admit_at(start).unwrap().remaining).collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limits.admit_at(start + Duration::from_secs(20)).unwrap_err();
        assert_eq!(refused, Limited { limit: 3, retry_after: Duration::from_secs(40) });
        let again = limits.admit_at(start + WINDOW).unwrap();
        assert_eq!((again.remaining, again.reset), (2, WINDOW));
    }

    #[test]
    fn a_limit_of_zero_admits_nothing() {
        assert!(ClientLimits::new(0, 1).admit().is_err());
    }
}
