//! The simulator driven over real HTTP. One binary; this file only declares modules.

mod control;
mod faults;
mod helpers;
mod legacy;
mod login;
mod phone;
mod server;
mod session_key;
mod stats;
mod tokens;
