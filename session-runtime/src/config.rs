//! The layer's settings.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::InvalidId;
use crate::id::SessionId;
use crate::index::IndexedKeys;
use crate::record::{CookieMeta, Record, SameSite};
use crate::signing::Secrets;
use crate::time::{duration_ms, to_ms};

/// What happens to a session whose handler calls `Session::unset`,
/// express-session's `unset` option for `req.session = null`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unset {
    /// Leave the stored session as it is; save nothing (express's default).
    #[default]
    Keep,
    /// Remove the stored session.
    Destroy,
}

/// What the layer answers when the session store fails, times out or panics
/// (in every case the error is logged with `tracing`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnStoreError {
    /// `500 Internal Server Error` with the plain body `session store error` (the default).
    #[default]
    InternalServerError,
    /// `503 Service Unavailable` with `Retry-After` (whole seconds, at least
    /// 1): tells clients and load balancers the failure is temporary.
    ServiceUnavailable {
        /// How long clients should wait before retrying.
        retry_after: Duration,
    },
    /// Serve the request without its stored session: a handler gets a new,
    /// empty session that is never saved, and no `Set-Cookie` is sent. A save
    /// that fails at the end of the request leaves the handler's response as
    /// it is, without the session cookie. Users appear logged out while the
    /// store is down, and their changes in that time are lost (each loss is logged).
    ServeWithoutSession,
}

/// How long the layer waits for one store call before it counts as failed:
/// [`SessionLayer::store_timeout`](crate::SessionLayer::store_timeout).
pub(crate) const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);

/// The `Secure` setting for new sessions' cookies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SecureSetting {
    Off,
    On,
    /// `Secure` exactly when the request that created the session was secure.
    Auto,
}

/// Makes session ids: the default draws from the OS CSPRNG.
pub(crate) type IdGenerator = Arc<dyn Fn() -> String + Send + Sync>;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) secrets: Secrets,
    pub(crate) resave: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) rolling: bool,
    pub(crate) proxy: bool,
    pub(crate) unset: Unset,
    pub(crate) genid: Option<IdGenerator>,
    pub(crate) absolute_timeout: Option<Duration>,
    /// Lifetime of new sessions' cookies: a max age, or an absolute expiry.
    pub(crate) lifetime: Lifetime,
    pub(crate) secure: SecureSetting,
    pub(crate) same_site_auto: bool,
    /// Settings of new sessions' cookies; `expires` is computed per session.
    pub(crate) cookie: CookieMeta,
    pub(crate) on_store_error: OnStoreError,
    /// Bound on each store call; `None` waits as long as the store takes.
    pub(crate) store_timeout: Option<Duration>,
    /// Longest session cookie value (as sent, percent-encoded) that is
    /// decoded and verified; a longer one is ignored unread.
    pub(crate) max_cookie_length: usize,
    /// Largest session, in bytes of its fields' JSON, that is saved.
    pub(crate) max_record_size: usize,
    /// Exclusive sessions: a request takes its stored session for itself.
    pub(crate) exclusive: bool,
    /// How long a request waits for another request of its session to release it.
    pub(crate) exclusive_wait: Duration,
    /// The indexed fields' keys known so far, shared by every request.
    pub(crate) indexed: Arc<IndexedKeys>,
}

/// A session cookie value is at most 262 bytes: `s%3A`, an id of up to 128
/// characters, `.`, and 43 characters of signature of which each `+` or `/`
/// takes 3 bytes percent-encoded.
pub(crate) const LONGEST_VALID_COOKIE: usize = 4 + 128 + 1 + 43 * 3;

/// [`SessionLayer::max_cookie_length`](crate::SessionLayer::max_cookie_length)'s default.
pub(crate) const DEFAULT_MAX_COOKIE_LENGTH: usize = 1024;

/// [`SessionLayer::exclusive_wait`](crate::SessionLayer::exclusive_wait)'s default.
pub(crate) const DEFAULT_EXCLUSIVE_WAIT: Duration = Duration::from_secs(10);

/// The `Retry-After` of a request that waited its whole exclusive wait.
pub(crate) const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// [`SessionLayer::max_record_size`](crate::SessionLayer::max_record_size)'s default: 256 KiB.
pub(crate) const DEFAULT_MAX_RECORD_SIZE: usize = 256 * 1024;

#[derive(Clone, Copy, Debug)]
pub(crate) enum Lifetime {
    BrowserSession,
    MaxAge(Duration),
    Expires(SystemTime),
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("secrets", &self.secrets)
            .field("resave", &self.resave)
            .field("save_uninitialized", &self.save_uninitialized)
            .field("rolling", &self.rolling)
            .field("proxy", &self.proxy)
            .field("unset", &self.unset)
            .field("genid", &self.genid.as_ref().map(|_| "custom"))
            .field("absolute_timeout", &self.absolute_timeout)
            .field("lifetime", &self.lifetime)
            .field("secure", &self.secure)
            .field("same_site_auto", &self.same_site_auto)
            .field("cookie", &self.cookie)
            .field("on_store_error", &self.on_store_error)
            .field("store_timeout", &self.store_timeout)
            .field("max_cookie_length", &self.max_cookie_length)
            .field("max_record_size", &self.max_record_size)
            .field("exclusive", &self.exclusive)
            .field("exclusive_wait", &self.exclusive_wait)
            .finish()
    }
}

impl Config {
    pub(crate) fn new(secrets: Secrets) -> Self {
        Config {
            name: "connect.sid".to_owned(),
            secrets,
            resave: false,
            save_uninitialized: false,
            rolling: false,
            proxy: false,
            unset: Unset::Keep,
            genid: None,
            absolute_timeout: None,
            lifetime: Lifetime::BrowserSession,
            secure: SecureSetting::Off,
            same_site_auto: false,
            // Lax, not express's none: a cross-site POST (a form on another
            // site posting to /logout or /cart/add) carries no session, in every
            // browser, not only those that default to Lax (see `SessionLayer::same_site`).
            cookie: CookieMeta {
                same_site: Some(SameSite::Lax),
                ..CookieMeta::default()
            },
            on_store_error: OnStoreError::default(),
            store_timeout: Some(DEFAULT_STORE_TIMEOUT),
            max_cookie_length: DEFAULT_MAX_COOKIE_LENGTH,
            max_record_size: DEFAULT_MAX_RECORD_SIZE,
            exclusive: false,
            exclusive_wait: DEFAULT_EXCLUSIVE_WAIT,
            indexed: Arc::default(),
        }
    }

    /// The record of a brand-new session created at `now_ms` by a request
    /// that was (`secure`) or was not made over HTTPS.
    pub(crate) fn new_record(&self, now_ms: u64, secure: bool) -> Record {
        let mut cookie = self.cookie.clone();
        match self.lifetime {
            Lifetime::BrowserSession => {}
            Lifetime::MaxAge(max_age) => {
                cookie.original_max_age = Some(duration_ms(max_age));
                cookie.touch(now_ms);
            }
            // express: setting `expires` records the time left as `originalMaxAge`,
            // so the first touch turns the absolute date into a relative lifetime.
            Lifetime::Expires(at) => {
                let at = to_ms(at);
                cookie.expires = Some(at);
                cookie.original_max_age = Some(at.saturating_sub(now_ms));
            }
        }
        match self.secure {
            SecureSetting::Off => {}
            SecureSetting::On => cookie.secure = Some(true),
            SecureSetting::Auto => cookie.secure = Some(secure),
        }
        if self.same_site_auto {
            cookie.same_site = Some(if secure {
                SameSite::None
            } else {
                SameSite::Lax
            });
        }
        Record {
            cookie,
            created: self.absolute_timeout.map(|_| now_ms),
            ..Record::default()
        }
    }

    /// A new id: from the custom generator, validated, or from the OS CSPRNG.
    pub(crate) fn generate_id(&self) -> Result<SessionId, InvalidId> {
        match &self.genid {
            None => Ok(SessionId::generate()),
            Some(genid) => {
                let id = genid();
                SessionId::parse(&id).ok_or(InvalidId(id))
            }
        }
    }
}
