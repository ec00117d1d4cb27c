//! `SessionLayer` and the service it wraps handlers in.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::config::{Config, Lifetime, OnStoreError, SecureSetting, Unset};
use crate::cookie::{self, is_attribute_value};
use crate::id::SessionId;
use crate::index::Sessions;
use crate::record::{Priority, SameSite};
use crate::request::{Incoming, OutOfScope, RequestSession, SessionHandle};
use crate::signing::Secrets;
use crate::store::{BoxFuture, DynStore, SessionStore};

/// Adds sessions to an axum router: handlers below it can extract [`Session<T>`](struct@crate::Session).
///
/// Defaults are express-session's with `resave: false, saveUninitialized:
/// false` (the values its README recommends): cookie `connect.sid`, `Path=/`,
/// `HttpOnly`, a browser-session cookie unless [`max_age`](Self::max_age) is set;
/// a session is stored and its cookie sent only once a handler changes it.
///
/// Layers nest. A layer below another one with the same cookie
/// [`name`](Self::name) lets requests through untouched: the outer one owns
/// the session, as in express. A layer with another name is independent: it
/// reads and writes its own cookie, and the handlers below it get its session
/// (an `/admin` router with its own layer and cookie, say), while the outer
/// session and its cookie are left as they are.
///
/// ```
/// use axum::{Router, routing::get};
/// use session_runtime::{MemoryStore, Session, SessionLayer};
///
/// #[derive(Session)]
/// struct Visits {
///     count: u64,
/// }
///
/// async fn index(mut session: Session<Visits>) -> String {
///     session.count += 1;
///     format!("{} visits", session.count)
/// }
///
/// let app: Router = Router::new()
///     .route("/", get(index))
///     .layer(SessionLayer::new(MemoryStore::new(), "a long random secret"));
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    config: Arc<Config>,
    store: Arc<dyn DynStore>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// Sessions kept in `store`, cookies signed with `secrets` (a `&str`, a
    /// `String`, or [`Secrets`] for several keys: the first signs, all verify).
    ///
    /// ```
    /// use session_runtime::{MemoryStore, Secrets, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), Secrets::try_new(["new", "old"]).unwrap());
    /// # let _ = layer;
    /// ```
    ///
    /// # Panics
    /// If the secret is empty (a `&str` or `String` secret; see
    /// [`Secrets::new`]). The panic points at your call.
    #[must_use]
    #[track_caller]
    pub fn new(store: impl SessionStore, secrets: impl Into<Secrets>) -> Self {
        SessionLayer {
            config: Arc::new(Config::new(secrets.into())),
            store: Arc::new(store),
        }
    }

    /// The sessions of this layer's store, by their indexed fields, for use
    /// outside requests (an admin route's state, a background job). Handlers
    /// can also extract [`Sessions`] directly.
    ///
    /// ```
    /// use session_runtime::{MemoryStore, Session, SessionLayer};
    ///
    /// #[derive(Session)]
    /// struct Auth {
    ///     #[session(index)]
    ///     user: Option<String>,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let layer = SessionLayer::new(MemoryStore::new(), "a long random secret");
    /// let sessions = layer.sessions();
    /// // After a password change:
    /// let ended = sessions.destroy_all(Auth::user_index(), &Some("alice".to_owned())).await.unwrap();
    /// assert_eq!(ended, 0);
    /// # }
    /// ```
    #[must_use]
    pub fn sessions(&self) -> Sessions {
        Sessions::shared(Arc::clone(&self.store), self.config.store_timeout)
    }

    fn configure(mut self, apply: impl FnOnce(&mut Config)) -> Self {
        apply(Arc::make_mut(&mut self.config));
        self
    }

    /// The cookie's name (default `connect.sid`).
    ///
    /// # Panics
    /// If `name` is not a valid cookie name (letters, digits and ``!#$%&'*+-.^_`|~``).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").name("_es_demo");
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn name(self, name: &str) -> Self {
        assert!(
            cookie::is_valid_name(name),
            "invalid session cookie name {name:?}: use letters, digits and !#$%&'*+-.^_`|~"
        );
        self.configure(|c| c.name = name.to_owned())
    }

    /// express's `resave`: store a loaded session at the end of every request
    /// even when no field changed (default `false`).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").resave(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn resave(self, resave: bool) -> Self {
        self.configure(|c| c.resave = resave)
    }

    /// express's `saveUninitialized`: store a new session and send its cookie
    /// even when no field changed (default `false`).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").save_uninitialized(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn save_uninitialized(self, save: bool) -> Self {
        self.configure(|c| c.save_uninitialized = save)
    }

    /// express's `rolling`: send the cookie on every response for a loaded
    /// session, restarting its max age (default `false`).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::Duration;
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret")
    ///     .max_age(Duration::from_secs(30 * 60))
    ///     .rolling(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn rolling(self, rolling: bool) -> Self {
        self.configure(|c| c.rolling = rolling)
    }

    /// The cookie's lifetime: `Expires` is set to now plus `max_age` whenever
    /// the cookie is sent. Without it the cookie lasts until the browser closes.
    /// Replaces an earlier [`expires`](Self::expires), as in express the last of the two wins.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::Duration;
    /// let five_years = Duration::from_secs(5 * 365 * 24 * 60 * 60);
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").max_age(five_years);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn max_age(self, max_age: Duration) -> Self {
        self.configure(|c| c.lifetime = Lifetime::MaxAge(max_age))
    }

    /// The cookie's `Path` (default `/`). Requests whose path does not start
    /// with it get no session, as in express.
    ///
    /// # Panics
    /// If `path` contains a control character or `;`.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").path("/app");
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn path(self, path: &str) -> Self {
        assert!(
            is_attribute_value(path),
            "invalid session cookie path {path:?}"
        );
        self.configure(|c| c.cookie.path = path.to_owned())
    }

    /// The cookie's `Domain` (default: none, so the cookie goes back only to this host).
    ///
    /// # Panics
    /// If `domain` contains a control character or `;`.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").domain("example.com");
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn domain(self, domain: &str) -> Self {
        assert!(
            is_attribute_value(domain),
            "invalid session cookie domain {domain:?}"
        );
        self.configure(|c| c.cookie.domain = Some(domain.to_owned()))
    }

    /// The `HttpOnly` flag (default `true`: page scripts cannot read the session
    /// id, so an XSS bug cannot steal it).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").http_only(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn http_only(self, http_only: bool) -> Self {
        self.configure(|c| c.cookie.http_only = http_only)
    }

    /// The `Secure` flag (default off, so that sessions work on plain-HTTP
    /// development servers; turn it on in production behind HTTPS).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").secure(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn secure(self, secure: bool) -> Self {
        self.configure(|c| {
            c.secure = if secure {
                SecureSetting::On
            } else {
                SecureSetting::Off
            };
        })
    }

    /// express's `secure: 'auto'`: a new session's cookie is `Secure` exactly when
    /// the request that created it came over HTTPS (see [`proxy`](Self::proxy)).
    /// A `Secure` cookie is never sent over plain HTTP, and a new session whose
    /// cookie cannot be sent is not stored (express stores it; no browser could
    /// ever name it again).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").proxy(true).secure_auto();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn secure_auto(self) -> Self {
        self.configure(|c| c.secure = SecureSetting::Auto)
    }

    /// Whether to trust the `X-Forwarded-Proto` header of a reverse proxy
    /// (its first comma-separated value) to tell an HTTPS request, as express's
    /// `proxy: true`. Default `false`: only a request whose URI has the `https`
    /// scheme counts as secure. Turn it on only behind a proxy that sets the header.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").proxy(true).secure(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn proxy(self, trust: bool) -> Self {
        self.configure(|c| c.proxy = trust)
    }

    /// express's `sameSite: 'auto'`: `SameSite=None` for a session created over
    /// HTTPS, `SameSite=Lax` otherwise. Replaces [`same_site`](Self::same_site).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").secure_auto().same_site_auto();
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn same_site_auto(self) -> Self {
        self.configure(|c| {
            c.same_site_auto = true;
            c.cookie.same_site = None;
        })
    }

    /// express's `genid`: makes the ids of new sessions. An id must be 1 to 128
    /// characters of `[A-Za-z0-9_-]` (safe as a file name); any other is refused
    /// with a `500` and a `tracing` error naming the rule, never sent as a broken
    /// cookie. Without it, ids are 24 bytes from the OS CSPRNG.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer, SessionId};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret")
    ///     .genid(|| format!("app1-{}", SessionId::generate()));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn genid(self, genid: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.configure(|c| c.genid = Some(Arc::new(genid)))
    }

    /// express's `unset`: what `Session::unset`
    /// does to the stored session (default [`Unset::Keep`]).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer, Unset};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").unset(Unset::Destroy);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn unset(self, unset: Unset) -> Self {
        self.configure(|c| c.unset = unset)
    }

    /// express's `cookie.expires`: new sessions' cookies expire at `at`. As in
    /// express, the time left is recorded as the cookie's max age, so a touch or
    /// a rolling cookie later turns it into a relative lifetime. Replaces an
    /// earlier [`max_age`](Self::max_age).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::{Duration, SystemTime};
    /// let at = SystemTime::now() + Duration::from_secs(3600);
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").expires(at);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn expires(self, at: std::time::SystemTime) -> Self {
        self.configure(|c| c.lifetime = Lifetime::Expires(at))
    }

    /// An absolute lifetime: a session ends `timeout` after it was created,
    /// however often it is used (express has none: its issue #624). The creation
    /// time is stored with the session as `__created`.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::Duration;
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret")
    ///     .max_age(Duration::from_secs(30 * 60))
    ///     .absolute_timeout(Duration::from_secs(12 * 3600));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn absolute_timeout(self, timeout: Duration) -> Self {
        self.configure(|c| c.absolute_timeout = Some(timeout))
    }

    /// The `SameSite` attribute (default `Lax`).
    ///
    /// `Lax` keeps the session cookie off cross-site subrequests and
    /// cross-site `POST`s (a form on another site posting to `/logout` or
    /// `/cart/add`: cross-site request forgery), while a link from another site
    /// still arrives logged in. Browsers that default to `Lax` do this anyway;
    /// the attribute makes it hold in those that do not. `Strict` also drops
    /// the cookie on links from other sites; `SameSite::None` (which browsers
    /// accept only with `Secure`) sends it everywhere, for a session used
    /// inside another site's frame.
    ///
    /// express-session sends no `SameSite` by default: `.same_site(None)`
    /// does the same (the browser's own default applies).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SameSite, SessionLayer};
    /// let strict = SessionLayer::new(MemoryStore::new(), "secret").same_site(SameSite::Strict);
    /// let like_express = SessionLayer::new(MemoryStore::new(), "secret").same_site(None);
    /// # let _ = (strict, like_express);
    /// ```
    #[must_use]
    pub fn same_site(self, same_site: impl Into<Option<SameSite>>) -> Self {
        let same_site = same_site.into();
        self.configure(|c| {
            c.cookie.same_site = same_site;
            c.same_site_auto = false;
        })
    }

    /// What to answer when the store fails, times out or panics (default
    /// [`OnStoreError::InternalServerError`]). The error is logged with
    /// `tracing` in every case, and no `Set-Cookie` is ever sent for a session
    /// that was not saved.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, OnStoreError, SessionLayer};
    /// # use std::time::Duration;
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").on_store_error(
    ///     OnStoreError::ServiceUnavailable { retry_after: Duration::from_secs(5) },
    /// );
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        self.configure(|c| c.on_store_error = policy)
    }

    /// The longest the layer waits for one store call (a load, a save, a
    /// touch, a destroy) before it counts as a store failure (default 5
    /// seconds; `None` waits as long as the store takes). A request that needs
    /// the session therefore never hangs on a store that stopped answering.
    /// The timer is tokio's: the runtime needs its time driver, which
    /// `#[tokio::main]` enables.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::Duration;
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret")
    ///     .store_timeout(Some(Duration::from_millis(500)));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn store_timeout(self, timeout: Option<Duration>) -> Self {
        self.configure(|c| c.store_timeout = timeout)
    }

    /// The longest session cookie value, in bytes as sent, that the layer
    /// decodes and verifies (default 1024). A longer value is treated as no
    /// cookie without being decoded or HMAC-checked, so a client cannot make
    /// every request hash kilobytes once per secret. Every cookie this layer
    /// signs is at most 262 bytes; a smaller limit is raised to that.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").max_cookie_length(300);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn max_cookie_length(self, bytes: usize) -> Self {
        self.configure(|c| c.max_cookie_length = bytes.max(crate::config::LONGEST_VALID_COOKIE))
    }

    /// The largest session the layer saves, in bytes of its fields' JSON
    /// (default 256 KiB). A save over it is refused whole with
    /// [`SessionError::RecordTooLarge`](crate::SessionError::RecordTooLarge)
    /// (at the end of the request: a `500` and a `tracing` error), never
    /// truncated, so a handler that stores unbounded user input cannot fill
    /// the store through one session.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").max_record_size(64 * 1024);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn max_record_size(self, bytes: usize) -> Self {
        self.configure(|c| c.max_record_size = bytes)
    }

    /// Exclusive sessions (default off): while a request holds its session,
    /// other requests of the same session wait for it, as PHP's and ASP.NET's
    /// sessions do. Without it, concurrent requests of one session keep each
    /// other's changes to *different* fields, but two that read and write the
    /// *same* field (a counter, a cart, a CSRF token rotated per request)
    /// race, and one's write is lost.
    ///
    /// A request takes the session when a handler first extracts
    /// [`Session<T>`](struct@crate::Session) and only if its cookie names a stored
    /// session: a handler that never extracts it, and a request with no valid
    /// cookie, never wait. Every view of the session in the request shares
    /// the one hold. It is released right after the end-of-request save,
    /// before the response body streams (a session destroyed or given a new
    /// id in the handler stays held until then), and also when the handler
    /// panics or the client disconnects (the request's future is dropped).
    ///
    /// A request that has waited [`exclusive_wait`](Self::exclusive_wait)
    /// (default 10 seconds) is answered `503 Service Unavailable` with
    /// `Retry-After: 1`: the queue of one session is never unbounded.
    ///
    /// The store does the locking ([`SessionStore::lock`]): the memory store
    /// in this process, the file store across the processes sharing its
    /// directory, and the Redis store across servers, with a lease whose
    /// holder, if it stalls past the lease, can no longer save.
    ///
    /// It costs one lock and one release per request that uses a stored
    /// session (in-process for the memory store; a lock file for the file
    /// store; two Redis round trips for the Redis store), and requests of one
    /// session run one at a time, so a slow handler delays the session's
    /// other requests. Turn it on where same-field races matter.
    ///
    /// # Panics
    /// If `on` and the store does not implement [`SessionStore::lock`]
    /// ([`supports_locking`](SessionStore::supports_locking) is `false`): the
    /// layer refuses to start rather than serve requests unlocked.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").exclusive(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    #[track_caller]
    pub fn exclusive(self, on: bool) -> Self {
        assert!(
            !on || self.store.supports_locking(),
            "SessionLayer::exclusive: the store `{}` does not support exclusive sessions \
             (its `SessionStore::supports_locking` is false): implement `SessionStore::lock` \
             and `supports_locking`, or use a store that has them",
            self.store.type_name()
        );
        self.configure(|c| c.exclusive = on)
    }

    /// How long a request of an [exclusive](Self::exclusive) session waits
    /// for the requests ahead of it before it is answered `503` with
    /// `Retry-After` (default 10 seconds). Has no effect unless exclusive
    /// sessions are on; may be set before or after them.
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// # use std::time::Duration;
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret")
    ///     .exclusive(true)
    ///     .exclusive_wait(Duration::from_secs(2));
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn exclusive_wait(self, wait: Duration) -> Self {
        self.configure(|c| c.exclusive_wait = wait)
    }

    /// The `Partitioned` flag (CHIPS; default off).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").partitioned(true);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn partitioned(self, partitioned: bool) -> Self {
        self.configure(|c| c.cookie.partitioned = partitioned.then_some(true))
    }

    /// The `Priority` attribute (default: none sent).
    ///
    /// ```
    /// # use session_runtime::{MemoryStore, Priority, SessionLayer};
    /// let layer = SessionLayer::new(MemoryStore::new(), "secret").priority(Priority::High);
    /// # let _ = layer;
    /// ```
    #[must_use]
    pub fn priority(self, priority: Priority) -> Self {
        self.configure(|c| c.cookie.priority = Some(priority))
    }
}

/// express's `issecure`: an `https` request URI, or with `proxy`, an
/// `X-Forwarded-Proto` whose first comma-separated value is `https`.
fn is_secure<B>(request: &Request<B>, proxy: bool) -> bool {
    if request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
        return true;
    }
    if !proxy {
        return false;
    }
    request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|first| first.trim().eq_ignore_ascii_case("https"))
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            config: Arc::clone(&self.config),
            store: Arc::clone(&self.store),
        }
    }
}

/// The service [`SessionLayer`] wraps around the router.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    config: Arc<Config>,
    store: Arc<dyn DynStore>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SessionService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<&'static str> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready is the one that gets called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        // express: a request that already has a session from an outer layer
        // with the same cookie keeps it. A layer with another cookie name is
        // independent: it owns its own cookie, and handlers below it see its session.
        if request
            .extensions()
            .get::<SessionHandle>()
            .is_some_and(|outer| outer.0.config.name == self.config.name)
        {
            return Box::pin(inner.call(request));
        }
        // express's path rule: a plain prefix test of the cookie's path against the
        // request's original path (before `Router::nest` stripped its prefix).
        let path = match request.extensions().get::<axum::extract::OriginalUri>() {
            Some(original) => original.0.path(),
            None => request.uri().path(),
        };
        if !path.starts_with(&self.config.cookie.path) {
            // Remembered so that a handler asking for the session learns why it has none.
            let scope = if path.starts_with('/') {
                OutOfScope::OutsideCookiePath(Arc::clone(&self.config))
            } else {
                OutOfScope::NotAPath
            };
            request.extensions_mut().insert(scope);
            return Box::pin(inner.call(request));
        }
        let read = cookie::read_session_cookie(
            request.headers(),
            &self.config.name,
            &self.config.secrets,
            self.config.max_cookie_length,
        );
        let (had_cookie, cookie_id): (bool, Option<SessionId>) = match read {
            cookie::SessionCookie::Absent => (false, None),
            cookie::SessionCookie::Rejected => (true, None),
            cookie::SessionCookie::Verified(id) => (true, Some(id)),
        };
        let secure_request = is_secure(&request, self.config.proxy);
        let session = Arc::new(RequestSession::new(
            Arc::clone(&self.config),
            Arc::clone(&self.store),
            Incoming {
                cookie_id,
                had_cookie,
                secure_request,
            },
        ));
        request
            .extensions_mut()
            .insert(SessionHandle(Arc::clone(&session)));
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(session.finalize(response).await)
        })
    }
}
