//! Integration tests for wxlogin-wechat against the in-process WeChat simulator: the client,
//! the token manager, the cluster-wide token source and the adapter. Nothing here reaches a
//! real WeChat host ([`support::TestEnv`] asserts a loopback base URL).

mod access_token;
mod adapter;
mod breaker;
mod calls;
mod encrypted_msg;
mod errcodes;
mod lease;
mod support;
