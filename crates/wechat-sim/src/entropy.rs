//! Random codes, session_keys, tokens and ivs, reproducible when a seed is configured.

use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use crate::sim::lock;

/// Where randomness comes from. Unseeded, each thread uses its own generator, so the hot
/// path takes no lock; seeded, one generator behind a mutex gives a reproducible sequence.
pub(crate) enum Entropy {
    Seeded(Box<Mutex<StdRng>>),
    Os,
}

impl Entropy {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        match seed {
            Some(seed) => Self::Seeded(Box::new(Mutex::new(StdRng::seed_from_u64(seed)))),
            None => Self::Os,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut dyn RngCore) -> R) -> R {
        match self {
            Self::Seeded(rng) => f(&mut *lock(rng)),
            Self::Os => f(&mut rand::thread_rng()),
        }
    }

    /// A `wx.login` code: 32 alphanumerics, like WeChat's.
    pub(crate) fn login_code(&self) -> String {
        self.with(|rng| Alphanumeric.sample_string(rng, 32))
    }

    /// A phone-button code: 64 lowercase hex digits, like the doc's example.
    pub(crate) fn phone_code(&self) -> String {
        hex::encode(self.bytes::<32>())
    }

    /// A session_key: base64 of 16 random bytes (24 characters).
    pub(crate) fn session_key(&self) -> String {
        STANDARD.encode(self.bytes::<16>())
    }

    /// An access_token: 136 opaque characters (WeChat says to reserve 512).
    pub(crate) fn access_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes::<102>())
    }

    /// Random bytes, e.g. an AES iv.
    pub(crate) fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        self.with(|rng| rng.fill_bytes(&mut out));
        out
    }

    /// True with probability `p` (clamped to 0..=1).
    pub(crate) fn chance(&self, p: f64) -> bool {
        if p >= 1.0 {
            return true;
        }
        self.with(|rng| rng.gen_bool(p.clamp(0.0, 1.0)))
    }

    /// Uniform in `0..=max`.
    pub(crate) fn up_to(&self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        self.with(|rng| rng.gen_range(0..=max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_wechats_shapes() {
        let e = Entropy::new(None);
        let code = e.login_code();
        assert_eq!(code.len(), 32);
        assert!(code.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(e.phone_code().len(), 64);
        let key = e.session_key();
        assert_eq!(key.len(), 24);
        assert_eq!(STANDARD.decode(&key).unwrap().len(), 16);
        assert_eq!(e.access_token().len(), 136);
    }

    #[test]
    fn the_same_seed_gives_the_same_sequence() {
        let a = Entropy::new(Some(42));
        let b = Entropy::new(Some(42));
        assert_eq!(a.login_code(), b.login_code());
        assert_eq!(a.session_key(), b.session_key());
        assert_ne!(a.login_code(), Entropy::new(Some(43)).login_code());
    }
}
