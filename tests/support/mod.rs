//! What the integration tests share, each thing once:
//!
//! - [`Client`]: a cookie-keeping client over a `Router`, in process;
//! - [`wire`]: HTTP/1.1 over a real socket, to a served router or another process;
//! - [`ChildGuard`]: a child process that is killed on every path;
//! - [`Gate`]: holds a handler mid-request until the test releases it;
//! - [`clock`]: the wall clock and HTTP dates;
//! - [`CountingStore`]: a `MemoryStore` that counts calls and fails on demand;
//! - [`counter`]: the one-field schema and its increment handler;
//! - [`redis`]: real `redis-server`s and a three-master cluster;
//! - [`prerequisites`]: skip, or under `scripts/test.sh` fail, a test whose
//!   example binary or node packages are missing.
//!
//! Every test crate has `mod support;`; each uses a part of it.

// Each test crate compiles this module and uses a part of it.
#![allow(dead_code, unreachable_pub, unused_imports)]

mod client;
pub mod clock;
mod cookie;
pub mod counter;
mod gate;
mod logs;
pub mod prerequisites;
mod process;
pub mod redis;
mod store;
pub mod wire;

pub use client::{Client, Reply, get_with, get_with_cookie, send};
pub use cookie::{cookie_pair, expires_attr, signed_value};
pub use gate::Gate;
pub use logs::LogCapture;
pub use process::{ChildGuard, TempDir, free_port};
pub use store::{Calls, CountingStore};
