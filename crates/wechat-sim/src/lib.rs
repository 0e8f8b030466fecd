//! wxlogin-wechat-sim: a local, faithful simulator of WeChat's Mini Program server API, plus a
//! test-only control API under `/_sim/v1/`. It uses no other workspace crate, so it checks our
//! WeChat client independently. The rules it follows are `docs/wechat.md` §10; the
//! control API is the one in `docs/api.md`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use wxlogin_wechat_sim::{Sim, SimConfig, spawn};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let sim = spawn(listener, Sim::new(SimConfig::default()), std::future::pending()).await?;
//! let code = sim.sim().mint_login_code("wx0000000000000001", "alice").unwrap();
//! // GET {base_url}/sns/jscode2session?appid=...&secret=...&js_code={code}&grant_type=authorization_code
//! # let _ = (code, sim.base_url()); Ok(()) }
//! ```
//!
//! # WeChat paths
//! `GET /sns/jscode2session`, `GET /cgi-bin/token`, `POST /cgi-bin/stable_token`,
//! `POST /wxa/business/getuserphonenumber`, `POST /wxa/business/checkencryptedmsg`,
//! `GET /wxa/checksession`, `GET /wxa/resetusersessionkey`. Every error is HTTP 200 with
//! `{"errcode":N,"errmsg":"<text>, rid: <8hex>-<8hex>-<8hex>"}` and
//! `Content-Type: application/json; encoding=utf-8`; any other path (including a wrong-case
//! one) is 40066. Unknown query parameters are ignored. Choices where WeChat is undocumented:
//! a missing secret is 41004; a wrong secret is 40125 on jscode2session and stable_token but
//! 40001 on `/cgi-bin/token` (its doc); a non-POST getuserphonenumber is 43002; a missing
//! openid on checksession/reset is 40003 and an openid the app never saw is 87009.
//!
//! # checkencryptedmsg
//! `POST /wxa/business/checkencryptedmsg?access_token=...` with `{"encrypted_msg_hash":
//! "<hex sha256 of the base64-decoded encryptedData>"}` answers
//! `{"errcode":0,"errmsg":"ok","vaild":true,"create_time":<unix s>}` (WeChat's spelling) for a
//! ciphertext this app's `/_sim/v1/encrypted_phone` produced at most 3 days ago by the
//! simulator's clock, and `{"errcode":0,"errmsg":"ok","vaild":false}` for anything else
//! (tampered, never produced, another app's, or older). Token errors are getuserphonenumber's
//! (41001, 40001, 42001); a non-POST is 43002; a body that is not a JSON object, or a
//! non-string hash, is 47001; a missing hash or one that is not 64 *lowercase* hex digits is
//! 40097 (undocumented by WeChat; strict, so a client sending uppercase is caught). Up to
//! 65,536 ciphertexts are remembered per app; past that the oldest is forgotten.
//!
//! # Control API additions
//! Beyond `docs/api.md`: `login_codes` and `phone_codes` take `"count": 1..=10000` and then
//! also return `"codes"`; `DELETE /_sim/v1/stats` zeroes the counters;
//! `GET|POST /_sim/v1/clock` (`{"advance_secs": N}`) reads or advances the clock;
//! `POST /_sim/v1/tokens/invalidate {"appid"}` kills every access_token of an app (clients then
//! see 40001); `POST /_sim/v1/identity {"appid","user"}` returns the user's openid (and
//! unionid). `resetusersessionkey` and `checkencryptedmsg` are counted in stats and can be
//! faulted too.
//!
//! # Faults
//! `POST /_sim/v1/faults` takes `api`, then either `errcode` (default 0: answer for real, only
//! late) or `transport` (`http_500`: HTML 500; `truncated_json`: a 200 whose JSON is cut off;
//! `hang`: no answer for `delay_ms`, or until the client gives up or the simulator shuts down
//! when `delay_ms` is 0, then the connection is closed; `reset`: the connection is closed
//! mid-response), and optionally `times` (default 1), `delay_ms`, `jitter_ms` (uniform extra
//! delay), `probability` (default 1) and `after_processing` (default false: the call is
//! answered before it is processed, so its code stays unused; true: processed first, so the
//! code is used up, and the fault replaces the answer). A faulted call is counted in stats
//! under its errcode, or under the transport's name (`"http_500"`, `"truncated_json"`,
//! `"hang"`, `"reset"`) in `by_errcode`.
//!
//! # Layout
//! * `config`, `error`: [`SimConfig`], [`SimApp`] and [`SimError`].
//! * `sim`: [`Sim`], the shared state and its Rust API; `server`: [`spawn`] and [`SimHandle`].
//! * `wechat`: WeChat's paths, one module per API family; `control`: `/_sim/v1/`.
//! * `codes`, `session_keys`, `access_tokens`: the stores behind them, with their TTL rules.
//! * `ids`: deterministic openids/unionids; `entropy`: random codes, keys, tokens.
//! * `phone`: E.164 split and `phone_info`; `crypt`: [`encrypt_legacy`]; `produced`: the
//!   bounded memory of produced ciphertexts behind `checkencryptedmsg`.
//! * `faults`, `stats`, `api`: [`Fault`], counters, [`Api`] names; `errcode`: errmsg texts.
//! * `clock`: [`SimClock`]; `log`: the per-request log line (no query, no bodies).

mod access_tokens;
mod api;
mod clock;
mod codes;
mod config;
mod control;
mod crypt;
mod entropy;
mod errcode;
mod error;
mod faults;
mod ids;
mod log;
mod phone;
mod produced;
mod server;
mod session_keys;
mod sim;
mod stats;
mod wechat;

pub use api::Api;
pub use clock::SimClock;
pub use config::{SimApp, SimConfig};
pub use crypt::encrypt_legacy;
pub use error::SimError;
pub use faults::{Fault, FaultAnswer, Transport};
pub use server::{SimHandle, spawn};
pub use sim::Sim;
