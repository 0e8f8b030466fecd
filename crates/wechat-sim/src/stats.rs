//! Call counters per API and outcome, as served by `GET /_sim/v1/stats`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::api::Api;
use crate::faults::Transport;
use crate::sim::lock;

/// What a call was answered with: an errcode (0 = success) or a transport fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Outcome {
    Errcode(i64),
    Transport(TransportLabel),
}

/// [`Transport`] with an order, so outcomes sort in the stats map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TransportLabel(&'static str);

impl From<Transport> for Outcome {
    fn from(t: Transport) -> Self {
        Outcome::Transport(TransportLabel(t.name()))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Errcode(code) => write!(f, "{code}"),
            Outcome::Transport(TransportLabel(name)) => f.write_str(name),
        }
    }
}

#[derive(Default, Clone)]
struct Counters {
    total: u64,
    by_outcome: BTreeMap<Outcome, u64>,
}

/// Counters for every API; one short lock per call.
pub(crate) struct Stats {
    per_api: Mutex<[Counters; Api::ALL.len()]>,
}

impl Stats {
    pub(crate) fn new() -> Self {
        Self {
            per_api: Mutex::new(Default::default()),
        }
    }

    pub(crate) fn record(&self, api: Api, outcome: Outcome) {
        let mut per_api = lock(&self.per_api);
        if let Some(c) = per_api.get_mut(api.index()) {
            c.total += 1;
            *c.by_outcome.entry(outcome).or_default() += 1;
        }
    }

    pub(crate) fn reset(&self) {
        *lock(&self.per_api) = Default::default();
    }

    /// `{"calls": {"<api>": {"total": N, "by_errcode": {"<errcode or label>": N}}}}`, every
    /// API present.
    pub(crate) fn snapshot(&self) -> Value {
        let per_api = lock(&self.per_api).clone();
        let calls: serde_json::Map<String, Value> = Api::ALL
            .into_iter()
            .zip(per_api)
            .map(|(api, c)| {
                let by: serde_json::Map<String, Value> = c
                    .by_outcome
                    .iter()
                    .map(|(o, n)| (o.to_string(), json!(n)))
                    .collect();
                (
                    api.name().to_owned(),
                    json!({"total": c.total, "by_errcode": by}),
                )
            })
            .collect();
        json!({ "calls": calls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_is_listed_even_when_never_called() {
        let stats = Stats::new();
        let snap = stats.snapshot();
        for api in Api::ALL {
            assert_eq!(snap["calls"][api.name()]["total"], 0);
            assert_eq!(snap["calls"][api.name()]["by_errcode"], json!({}));
        }
    }

    #[test]
    fn outcomes_are_counted_by_errcode_and_transport_label_and_reset() {
        let stats = Stats::new();
        stats.record(Api::Jscode2session, Outcome::Errcode(0));
        stats.record(Api::Jscode2session, Outcome::Errcode(0));
        stats.record(Api::Jscode2session, Outcome::Errcode(40163));
        stats.record(Api::Jscode2session, Transport::Http500.into());
        let snap = stats.snapshot();
        assert_eq!(
            snap["calls"]["jscode2session"],
            json!({"total": 4, "by_errcode": {"0": 2, "40163": 1, "http_500": 1}})
        );
        stats.reset();
        assert_eq!(stats.snapshot()["calls"]["jscode2session"]["total"], 0);
    }
}
