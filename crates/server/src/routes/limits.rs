//! The per-address rate limit on `/v1/login`, `/v1/phone` and `/v1/register`, and which
//! address a request comes from.
//!
//! The client address is the TCP peer, unless the peer is a trusted proxy
//! (`rate_limits.trusted_proxies`): then `X-Forwarded-For` is read from the right, skipping
//! trusted hops, and the first untrusted address is the client. Entries left of it were
//! written by the client itself and prove nothing, which is why the leftmost entry is never
//! believed. A malformed header falls back to the peer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use wxlogin_core::ports::LimitKind;

use super::AppState;
use crate::error::ApiError;

/// Takes a token from the client address's bucket; 429 `rate_limited` with `Retry-After`
/// when it is empty.
pub(super) async fn per_address(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let client = client_address(peer, req.headers(), &state.limits.trusted_proxies);
        if let Err(e) = wxlogin_core::limits::check(
            state.limits.limiter.as_ref(),
            LimitKind::Ip,
            &bucket_key(client, state.limits.ipv6_prefix),
            state.limits.per_address,
        )
        .await
        {
            return ApiError::Auth(e).into_response();
        }
    }
    next.run(req).await
}

/// The bucket an address is counted in: an IPv4 address (also when written IPv4-mapped,
/// `::ffff:a.b.c.d`) is its own bucket; an IPv6 address counts with its whole network of
/// `ipv6_prefix` bits, because one subscriber is usually given a /64 and can pick any of its
/// 2^64 addresses for each request.
pub fn bucket_key(client: IpAddr, ipv6_prefix: u8) -> String {
    match client {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => ipnet::Ipv6Net::new(v6, ipv6_prefix.min(128))
                .map_or_else(|_| v6.to_string(), |net| net.trunc().to_string()),
        },
    }
}

/// The client's address as far as the trusted proxies vouch for it.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return peer;
        };
        for part in text.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                Err(_) => return peer,
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            client_address(ip("203.0.113.9"), &headers(&["1.2.3.4"]), &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        // The client forged 6.6.6.6; the proxies appended the real address and themselves.
        let h = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &h, &trusted),
            ip("198.51.100.7")
        );
        // Only trusted hops: the leftmost one is as far as we can see.
        let h = headers(&["10.0.0.3"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.3"));
        // No header: the proxy itself.
        assert_eq!(
            client_address(ip("10.0.0.1"), &HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn ipv6_clients_share_a_bucket_per_prefix_and_ipv4_ones_do_not() {
        let a = bucket_key(ip("2001:db8:1:2:aaaa::1"), 64);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(bucket_key(ip("2001:db8:1:2:ffff:1:2:3"), 64), a);
        assert_ne!(bucket_key(ip("2001:db8:1:3::1"), 64), a);
        assert_eq!(
            bucket_key(ip("2001:db8:1:2:aaaa::1"), 48),
            "2001:db8:1::/48"
        );
        assert_eq!(bucket_key(ip("198.51.100.7"), 64), "198.51.100.7");
        assert_ne!(bucket_key(ip("198.51.100.8"), 64), "198.51.100.7");
        assert_eq!(bucket_key(ip("::ffff:198.51.100.7"), 64), "198.51.100.7");
    }

    #[test]
    fn a_malformed_header_falls_back_to_the_peer() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let h = headers(&["198.51.100.7, not-an-ip"]);
        assert_eq!(client_address(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
    }
}
