//! Injected faults: forced errcodes, latency and transport failures for the next calls of an
//! API.
//!
//! Faults queue per API in the order they were injected; a call takes the first pending fault
//! of its API that fires (its `probability`), and a fault is gone after `times` firings. The
//! hot path checks one atomic counter, so with no faults pending it takes no lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::api::Api;
use crate::entropy::Entropy;
use crate::sim::lock;

/// A transport-level failure instead of a WeChat answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// HTTP 500 with an HTML body, like a failing gateway.
    Http500,
    /// HTTP 200, JSON content type, but the body is cut off mid-object.
    TruncatedJson,
    /// No answer at all: the request is held for the fault's delay (forever if the delay is
    /// zero, until the client gives up or the simulator shuts down), then the connection is
    /// closed without a complete response.
    Hang,
    /// The connection is closed mid-response (headers sent, body aborted).
    Reset,
}

impl Transport {
    /// Every transport fault.
    pub const ALL: [Transport; 4] = [
        Transport::Http500,
        Transport::TruncatedJson,
        Transport::Hang,
        Transport::Reset,
    ];

    /// The control-API name and stats label, e.g. `"http_500"`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Http500 => "http_500",
            Transport::TruncatedJson => "truncated_json",
            Transport::Hang => "hang",
            Transport::Reset => "reset",
        }
    }

    /// The transport fault with this name.
    pub fn from_name(name: &str) -> Option<Transport> {
        Transport::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// What a faulted call answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAnswer {
    /// A WeChat error body with this errcode. `0` answers for real, only after the delay.
    Errcode(i64),
    /// A transport failure.
    Transport(Transport),
}

/// A fault for the next `times` calls of one API.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fault {
    /// Which API's calls are faulted.
    pub api: Api,
    /// What they answer.
    pub answer: FaultAnswer,
    /// How many calls get the fault (at least 1).
    pub times: u64,
    /// Held before answering.
    pub delay: Duration,
    /// A uniform random extra delay in `0..=jitter`.
    pub jitter: Duration,
    /// The chance that a call is faulted (calls that escape don't use up `times`).
    pub probability: f64,
    /// Process the request for real first (a code in it is used up, a token issued), then
    /// answer with the fault. By default a faulted call is answered before processing, as
    /// WeChat would when busy, so its code stays usable.
    pub after_processing: bool,
}

impl Fault {
    /// The next call of `api` answers this errcode.
    pub fn errcode(api: Api, errcode: i64) -> Self {
        Self::new(api, FaultAnswer::Errcode(errcode))
    }

    /// The next call of `api` fails at the transport level.
    pub fn transport(api: Api, transport: Transport) -> Self {
        Self::new(api, FaultAnswer::Transport(transport))
    }

    /// The next call of `api` is answered for real, `delay` late.
    pub fn delay_only(api: Api, delay: Duration) -> Self {
        Self::new(api, FaultAnswer::Errcode(0)).with_delay(delay)
    }

    fn new(api: Api, answer: FaultAnswer) -> Self {
        Self {
            api,
            answer,
            times: 1,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            probability: 1.0,
            after_processing: false,
        }
    }

    /// Applies to the next `times` calls instead of one.
    #[must_use]
    pub fn times(mut self, times: u64) -> Self {
        self.times = times.max(1);
        self
    }

    /// Holds each faulted call this long.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

struct Pending {
    fault: Fault,
    remaining: u64,
}

/// The queued faults of every API.
#[derive(Default)]
pub(crate) struct FaultBook {
    /// Number of queued faults, read without the lock on every call.
    count: AtomicUsize,
    queue: Mutex<Vec<Pending>>,
}

impl FaultBook {
    pub(crate) fn push(&self, fault: Fault) {
        let mut queue = lock(&self.queue);
        queue.push(Pending {
            fault,
            remaining: fault.times.max(1),
        });
        self.count.store(queue.len(), Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut queue = lock(&self.queue);
        queue.clear();
        self.count.store(0, Ordering::Release);
    }

    /// The fault this call of `api` gets, if any, using up one of its `times`.
    pub(crate) fn take(&self, api: Api, entropy: &Entropy) -> Option<Fault> {
        if self.count.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queue = lock(&self.queue);
        let index = queue
            .iter()
            .position(|p| p.fault.api == api && entropy.chance(p.fault.probability))?;
        let pending = queue.get_mut(index)?;
        let fault = pending.fault;
        pending.remaining -= 1;
        if pending.remaining == 0 {
            queue.remove(index);
            self.count.store(queue.len(), Ordering::Release);
        }
        Some(fault)
    }

    /// How many faulted answers are still queued for `api`.
    pub(crate) fn pending(&self, api: Api) -> u64 {
        let queue = lock(&self.queue);
        queue
            .iter()
            .filter(|p| p.fault.api == api)
            .map(|p| p.remaining)
            .fold(0, u64::saturating_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_fires_times_then_is_gone() {
        let book = FaultBook::default();
        let e = Entropy::new(Some(1));
        book.push(Fault::errcode(Api::Token, -1).times(2));
        assert!(book.take(Api::Jscode2session, &e).is_none());
        assert_eq!(book.pending(Api::Token), 2);
        assert_eq!(
            book.take(Api::Token, &e).map(|f| f.answer),
            Some(FaultAnswer::Errcode(-1))
        );
        assert!(book.take(Api::Token, &e).is_some());
        assert!(book.take(Api::Token, &e).is_none());
        assert_eq!(book.pending(Api::Token), 0);
    }

    #[test]
    fn faults_of_one_api_queue_in_order() {
        let book = FaultBook::default();
        let e = Entropy::new(Some(1));
        book.push(Fault::errcode(Api::Token, 45009));
        book.push(Fault::transport(Api::Token, Transport::Http500));
        assert_eq!(
            book.take(Api::Token, &e).map(|f| f.answer),
            Some(FaultAnswer::Errcode(45009))
        );
        assert_eq!(
            book.take(Api::Token, &e).map(|f| f.answer),
            Some(FaultAnswer::Transport(Transport::Http500))
        );
    }

    #[test]
    fn a_fault_with_probability_zero_never_fires_and_clear_drops_everything() {
        let book = FaultBook::default();
        let e = Entropy::new(Some(1));
        let mut never = Fault::errcode(Api::Token, -1);
        never.probability = 0.0;
        book.push(never);
        assert!(book.take(Api::Token, &e).is_none());
        book.clear();
        assert_eq!(book.pending(Api::Token), 0);
    }

    #[test]
    fn transport_names_round_trip() {
        for t in Transport::ALL {
            assert_eq!(Transport::from_name(t.name()), Some(t));
        }
    }
}
