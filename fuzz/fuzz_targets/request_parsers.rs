//! The request parsing of every endpoint, as the server runs it before any use case: the
//! first byte picks the input (login, phone, register, refresh or logout body, or the
//! `Authorization` header), the rest is its bytes. `check_request` panics when the answer
//! breaks the contract; see `crates/server/src/fuzzing.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use wxlogin_server::fuzzing::{RequestKind, check_request};

fuzz_target!(|input: &[u8]| {
    let Some((&kind, bytes)) = input.split_first() else {
        return;
    };
    check_request(RequestKind::from_byte(kind), bytes);
});
