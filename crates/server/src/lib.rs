//! wxlogin-server: the HTTP API of the contract, wired to the use cases, the stores and WeChat.
//!
//! `main.rs` only parses the command line; everything else is here so that tests can build
//! the real application on port 0.
//!
//! # Layout
//! * [`cli`]: the `wxlogin` command line.
//! * [`config`]: the TOML file, environment overrides, secret files, checks.
//! * [`startup`]: [`startup::Application`]: build (store, keys, WeChat, router), then run.
//! * [`routes`]: the endpoints and the middleware around them; [`routes::admin_router`] for
//!   the admin listener.
//! * [`console`]: the admin console (`/console/`) on the admin listener: HTML, two languages.
//! * [`serve`]: the accept loop: header-read deadline, connection cap, shutdown deadline.
//! * [`error`]: [`error::ApiError`], the contract's error body and statuses.
//! * [`extract`]: JSON bodies and bearer tokens, failing with the contract's codes.
//! * [`openapi`]: `GET /openapi.json`, the contract as OpenAPI, generated from the code.
//! * [`request_id`]: a request id on every request, log line and error body.
//! * [`telemetry`]: logs and the Prometheus recorder.
//! * [`dev`]: `serve --dev`: the simulator in process, a generated master key, the banner.

pub mod avatars;
pub mod cli;
pub mod config;
pub mod console;
pub mod dev;
pub mod error;
pub mod extract;
#[doc(hidden)]
pub mod fuzzing;
pub mod i18n;
pub mod integrations;
pub mod openapi;
pub mod redact;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod startup;
pub mod telemetry;
