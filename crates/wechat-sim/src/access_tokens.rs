//! Access tokens of `/cgi-bin/token` and `/cgi-bin/stable_token`, and their checks.
//!
//! The two endpoints keep separate "current" tokens, so neither invalidates the other's
//! (`docs/wechat.md` §3.2), but every token sits in one map so token-taking calls look it up once.
//! A token has its natural expiry (issue + 7200 s) and, once superseded or killed, a death
//! time. Past its expiry it answers 42001 (or 40014); dead before that, 40001.

use std::collections::HashMap;

/// `expires_in` of a new token.
const LIFETIME_MS: i64 = 7_200_000;
/// How long a superseded token keeps working, and how early stable_token renews.
const OVERLAP_MS: i64 = 300_000;
/// Force refreshes closer together than this return the current token unchanged.
const FORCE_SPACING_MS: i64 = 30_000;
/// Dead tokens are remembered this long after expiry, so they answer 42001 rather than 40001.
const RETAIN_MS: i64 = 86_400_000;
const MIN_PURGE_AT: usize = 256;

/// WeChat's errcodes for token trouble.
const ERR_INVALID: i64 = 40001;
const ERR_QUOTA: i64 = 45009;

/// A token handed out, with the `expires_in` to report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub(crate) access_token: String,
    pub(crate) expires_in: i64,
}

/// Per-app daily limits (a day is a Beijing calendar day, as WeChat resets at 00:00 UTC+8).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quotas {
    pub(crate) token_daily: u32,
    pub(crate) stable_daily: u32,
    pub(crate) force_daily: u32,
}

struct TokenSlot {
    app: usize,
    expires_at_ms: i64,
    dies_at_ms: Option<i64>,
}

impl TokenSlot {
    fn alive(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms && self.dies_at_ms.is_none_or(|d| now_ms < d)
    }

    /// Lets the token live out the overlap after a newer one was issued.
    fn supersede(&mut self, now_ms: i64) {
        let until = self.expires_at_ms.min(now_ms.saturating_add(OVERLAP_MS));
        self.dies_at_ms = Some(self.dies_at_ms.map_or(until, |d| d.min(until)));
    }

    fn kill(&mut self, now_ms: i64) {
        self.dies_at_ms = Some(self.dies_at_ms.map_or(now_ms, |d| d.min(now_ms)));
    }
}

#[derive(Default)]
struct DayCount {
    day: i64,
    count: u32,
}

impl DayCount {
    /// Counts one more use today; false (and not counted) if the limit is reached.
    fn try_bump(&mut self, now_ms: i64, limit: u32) -> bool {
        let day = beijing_day(now_ms);
        if day != self.day {
            *self = Self { day, count: 0 };
        }
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }
}

/// Seconds left, rounded up, so a token issued a few milliseconds ago still reports the
/// full second count a client expects.
fn whole_secs_left(expires_at_ms: i64, now_ms: i64) -> i64 {
    (expires_at_ms - now_ms + 999).div_euclid(1000)
}

fn beijing_day(now_ms: i64) -> i64 {
    (now_ms.div_euclid(1000) + 8 * 3600).div_euclid(86_400)
}

#[derive(Default)]
struct AppTokens {
    token_current: Option<String>,
    stable_current: Option<String>,
    token_calls: DayCount,
    stable_calls: DayCount,
    forces: DayCount,
    last_force_ms: Option<i64>,
}

/// Every access token of every app.
pub(crate) struct TokenBook {
    slots: HashMap<String, TokenSlot>,
    apps: Vec<AppTokens>,
    purge_at: usize,
}

impl TokenBook {
    pub(crate) fn new(app_count: usize) -> Self {
        Self {
            slots: HashMap::new(),
            apps: (0..app_count).map(|_| AppTokens::default()).collect(),
            purge_at: MIN_PURGE_AT,
        }
    }

    /// `/cgi-bin/token`: a new token on every call; the previous one lives on for at most
    /// 300 s (never past its own expiry).
    pub(crate) fn token(
        &mut self,
        app: usize,
        now_ms: i64,
        quotas: Quotas,
        fresh: impl FnOnce() -> String,
    ) -> Result<Issued, i64> {
        let state = self.apps.get_mut(app).ok_or(ERR_INVALID)?;
        if !state.token_calls.try_bump(now_ms, quotas.token_daily) {
            return Err(ERR_QUOTA);
        }
        let previous = state.token_current.take();
        if let Some(slot) = previous.and_then(|t| self.slots.get_mut(&t)) {
            slot.supersede(now_ms);
        }
        let token = self.issue(app, now_ms, fresh);
        if let Some(state) = self.apps.get_mut(app) {
            state.token_current = Some(token.clone());
        }
        Ok(Issued {
            access_token: token,
            expires_in: LIFETIME_MS / 1000,
        })
    }

    /// `/cgi-bin/stable_token`. Normal mode returns the current token until at most 300 s
    /// remain, then issues a new one while the old lives out its remainder. A force refresh
    /// kills the current token and issues a new one, except within 30 s of the previous
    /// force refresh, which returns the current token unchanged.
    pub(crate) fn stable_token(
        &mut self,
        app: usize,
        now_ms: i64,
        force: bool,
        quotas: Quotas,
        fresh: impl FnOnce() -> String,
    ) -> Result<Issued, i64> {
        let state = self.apps.get_mut(app).ok_or(ERR_INVALID)?;
        if !state.stable_calls.try_bump(now_ms, quotas.stable_daily) {
            return Err(ERR_QUOTA);
        }
        let current = state
            .stable_current
            .as_ref()
            .and_then(|t| self.slots.get(t).map(|s| (t, s)))
            .filter(|(_, s)| s.alive(now_ms))
            .map(|(t, s)| (t.clone(), s.expires_at_ms));

        if force {
            let recent = state
                .last_force_ms
                .is_some_and(|at| now_ms.saturating_sub(at) < FORCE_SPACING_MS);
            if let (true, Some((token, expires_at_ms))) = (recent, &current) {
                return Ok(Issued {
                    access_token: token.clone(),
                    expires_in: whole_secs_left(*expires_at_ms, now_ms),
                });
            }
            if !state.forces.try_bump(now_ms, quotas.force_daily) {
                return Err(ERR_QUOTA);
            }
            state.last_force_ms = Some(now_ms);
            if let Some(slot) = current.and_then(|(t, _)| self.slots.get_mut(&t)) {
                slot.kill(now_ms);
            }
        } else if let Some((token, expires_at_ms)) = current {
            let remaining_ms = expires_at_ms - now_ms;
            if remaining_ms > OVERLAP_MS {
                return Ok(Issued {
                    access_token: token,
                    expires_in: whole_secs_left(expires_at_ms, now_ms),
                });
            }
            if let Some(slot) = self.slots.get_mut(&token) {
                slot.supersede(now_ms);
            }
        }
        let token = self.issue(app, now_ms, fresh);
        if let Some(state) = self.apps.get_mut(app) {
            state.stable_current = Some(token.clone());
        }
        Ok(Issued {
            access_token: token,
            expires_in: LIFETIME_MS / 1000,
        })
    }

    /// Which app a presented token belongs to, or the errcode a token-taking API answers.
    pub(crate) fn check(
        &self,
        token: &str,
        now_ms: i64,
        expired_errcode: i64,
    ) -> Result<usize, i64> {
        let slot = self.slots.get(token).ok_or(ERR_INVALID)?;
        if now_ms >= slot.expires_at_ms {
            return Err(expired_errcode);
        }
        if slot.dies_at_ms.is_some_and(|d| now_ms >= d) {
            return Err(ERR_INVALID);
        }
        Ok(slot.app)
    }

    /// Kills every live token of the app (both endpoints). Returns how many were live.
    pub(crate) fn invalidate_app(&mut self, app: usize, now_ms: i64) -> usize {
        let mut killed = 0;
        for slot in self.slots.values_mut().filter(|s| s.app == app) {
            if slot.alive(now_ms) {
                killed += 1;
            }
            slot.kill(now_ms);
        }
        if let Some(state) = self.apps.get_mut(app) {
            state.token_current = None;
            state.stable_current = None;
        }
        killed
    }

    fn issue(&mut self, app: usize, now_ms: i64, fresh: impl FnOnce() -> String) -> String {
        if self.slots.len() >= self.purge_at {
            self.slots
                .retain(|_, s| now_ms < s.expires_at_ms.saturating_add(RETAIN_MS));
            self.purge_at = (self.slots.len() * 2).max(MIN_PURGE_AT);
        }
        let token = fresh();
        let slot = TokenSlot {
            app,
            expires_at_ms: now_ms.saturating_add(LIFETIME_MS),
            dies_at_ms: None,
        };
        self.slots.insert(token.clone(), slot);
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: Quotas = Quotas {
        token_daily: 10_000,
        stable_daily: 10_000,
        force_daily: 20,
    };
    const S: i64 = 1000;
    /// 2023-11-15 00:00:00 Beijing time, so tests stay within one quota day.
    const T0: i64 = 1_699_977_600 * S;

    fn counter() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("t{n}")
        }
    }

    #[test]
    fn token_reissues_and_the_previous_token_lives_300_seconds() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        let a = book.token(0, T0, Q, &mut next).unwrap();
        let b = book.token(0, T0 + 10 * S, Q, &mut next).unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(b.expires_in, 7200);
        assert_eq!(book.check(&a.access_token, T0 + 309 * S, 42001), Ok(0));
        assert_eq!(book.check(&a.access_token, T0 + 310 * S, 42001), Err(40001));
        assert_eq!(book.check(&b.access_token, T0 + 310 * S, 42001), Ok(0));
    }

    #[test]
    fn a_superseded_token_never_outlives_its_own_expiry() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        let a = book.token(0, T0, Q, &mut next).unwrap();
        book.token(0, T0 + 7100 * S, Q, &mut next).unwrap();
        assert_eq!(book.check(&a.access_token, T0 + 7199 * S, 42001), Ok(0));
        assert_eq!(
            book.check(&a.access_token, T0 + 7200 * S, 42001),
            Err(42001)
        );
    }

    #[test]
    fn stable_token_returns_the_same_token_until_300_seconds_remain() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        let a = book.stable_token(0, T0, false, Q, &mut next).unwrap();
        let again = book
            .stable_token(0, T0 + 6000 * S, false, Q, &mut next)
            .unwrap();
        assert_eq!(again.access_token, a.access_token);
        assert_eq!(again.expires_in, 1200);
        let renewed = book
            .stable_token(0, T0 + 6900 * S, false, Q, &mut next)
            .unwrap();
        assert_ne!(renewed.access_token, a.access_token);
        assert_eq!(renewed.expires_in, 7200);
        // The old token lives out its remainder, then expires.
        assert_eq!(book.check(&a.access_token, T0 + 7199 * S, 42001), Ok(0));
        assert_eq!(
            book.check(&a.access_token, T0 + 7200 * S, 40014),
            Err(40014)
        );
    }

    #[test]
    fn force_refresh_kills_the_current_token_and_is_spaced_30_seconds() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        let a = book.stable_token(0, T0, false, Q, &mut next).unwrap();
        let b = book.stable_token(0, T0 + S, true, Q, &mut next).unwrap();
        assert_ne!(a.access_token, b.access_token);
        assert_eq!(book.check(&a.access_token, T0 + S, 42001), Err(40001));
        let soon = book
            .stable_token(0, T0 + 30 * S, true, Q, &mut next)
            .unwrap();
        assert_eq!(soon.access_token, b.access_token);
        let later = book
            .stable_token(0, T0 + 31 * S, true, Q, &mut next)
            .unwrap();
        assert_ne!(later.access_token, b.access_token);
    }

    #[test]
    fn the_21st_force_refresh_of_a_day_gets_45009_and_the_next_day_resets() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        for i in 0..20 {
            book.stable_token(0, T0 + i * 60 * S, true, Q, &mut next)
                .unwrap();
        }
        let over = book.stable_token(0, T0 + 21 * 60 * S, true, Q, &mut next);
        assert_eq!(over, Err(45009));
        let tomorrow = book.stable_token(0, T0 + 86_400 * S, true, Q, &mut next);
        assert!(tomorrow.is_ok());
    }

    #[test]
    fn daily_quotas_give_45009() {
        let quotas = Quotas {
            token_daily: 2,
            stable_daily: 1,
            force_daily: 20,
        };
        let mut book = TokenBook::new(1);
        let mut next = counter();
        book.token(0, T0, quotas, &mut next).unwrap();
        book.token(0, T0, quotas, &mut next).unwrap();
        assert_eq!(book.token(0, T0, quotas, &mut next), Err(45009));
        book.stable_token(0, T0, false, quotas, &mut next).unwrap();
        assert_eq!(
            book.stable_token(0, T0, false, quotas, &mut next),
            Err(45009)
        );
    }

    #[test]
    fn the_endpoints_do_not_invalidate_each_other() {
        let mut book = TokenBook::new(1);
        let mut next = counter();
        let stable = book.stable_token(0, T0, false, Q, &mut next).unwrap();
        book.token(0, T0, Q, &mut next).unwrap();
        book.token(0, T0 + 1000 * S, Q, &mut next).unwrap();
        assert_eq!(
            book.check(&stable.access_token, T0 + 1000 * S, 42001),
            Ok(0)
        );
    }

    #[test]
    fn invalidating_an_app_kills_its_tokens_only() {
        let mut book = TokenBook::new(2);
        let mut next = counter();
        let a = book.token(0, T0, Q, &mut next).unwrap();
        let s = book.stable_token(0, T0, false, Q, &mut next).unwrap();
        let other = book.token(1, T0, Q, &mut next).unwrap();
        assert_eq!(book.invalidate_app(0, T0 + S), 2);
        assert_eq!(book.check(&a.access_token, T0 + S, 42001), Err(40001));
        assert_eq!(book.check(&s.access_token, T0 + S, 42001), Err(40001));
        assert_eq!(book.check(&other.access_token, T0 + S, 42001), Ok(1));
        let fresh = book
            .stable_token(0, T0 + 2 * S, false, Q, &mut next)
            .unwrap();
        assert_ne!(fresh.access_token, s.access_token);
    }

    #[test]
    fn unknown_tokens_are_invalid() {
        let book = TokenBook::new(1);
        assert_eq!(book.check("nope", T0, 42001), Err(40001));
    }
}
