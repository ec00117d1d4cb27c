//! The layer's settings.

use std::time::Duration;

use crate::record::{CookieMeta, Record};
use crate::signing::Secrets;
use crate::time::duration_ms;

#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) secrets: Secrets,
    pub(crate) resave: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) rolling: bool,
    pub(crate) max_age: Option<Duration>,
    /// Settings of new sessions' cookies; `expires` is computed per session.
    pub(crate) cookie: CookieMeta,
}

impl Config {
    pub(crate) fn new(secrets: Secrets) -> Self {
        Config {
            name: "connect.sid".to_owned(),
            secrets,
            resave: false,
            save_uninitialized: false,
            rolling: false,
            max_age: None,
            cookie: CookieMeta::default(),
        }
    }

    /// The record of a brand-new session created at `now_ms`.
    pub(crate) fn new_record(&self, now_ms: u64) -> Record {
        let mut cookie = self.cookie.clone();
        cookie.original_max_age = self.max_age.map(duration_ms);
        cookie.touch(now_ms);
        Record {
            cookie,
            ..Record::default()
        }
    }
}
