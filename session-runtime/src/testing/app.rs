//! Helpers for testing an app that uses the layer: session cookies signed
//! and read back as the layer does, an in-process client that keeps cookies
//! like a browser, and the typed view of a stored session.
//!
//! They are test-support code: a misuse (an invalid cookie name, a header
//! value that cannot be sent, a store that fails) panics with a message that
//! says what went wrong, instead of returning an error a test would unwrap.

use std::collections::BTreeMap;
use std::time::SystemTime;

use ::cookie::Cookie;
use axum::Router;
use axum::body::Body;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use tower_service::Service;

use crate::cookie::{SessionCookie, encode_uri_component, is_valid_name, read_session_cookie};
use crate::id::SessionId;
use crate::schema::SessionSchema;
use crate::signing::Secrets;
use crate::store::SessionStore;

/// The largest response body [`TestClient`] reads.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The session cookie's value for `id`, exactly as the layer sends it:
/// `s:<id>.<signature>` signed with the first of `secrets`, percent-encoded
/// as `encodeURIComponent` does.
///
/// With it a test sends a request as the owner of a session it stored itself,
/// without going through a login.
///
/// ```
/// use session_runtime::{Secrets, SessionId, testing};
///
/// let secrets = Secrets::new("keyboard cat");
/// let apple = SessionId::parse("apple").unwrap();
/// assert_eq!(
///     testing::signed_cookie(&secrets, &apple),
///     "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU",
/// );
/// ```
#[must_use]
pub fn signed_cookie(secrets: &Secrets, id: &SessionId) -> String {
    // The layer's own signing and encoding, so the two cannot drift apart.
    let mut value = String::new();
    encode_uri_component(&secrets.sign(id.as_str()), &mut value);
    value
}

/// A `Cookie` request header carrying the session cookie `name` for `id`:
/// `name=` followed by [`signed_cookie`].
///
/// # Panics
/// If `name` is not a valid cookie name (the layer's `name` option refuses it too).
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, header::COOKIE};
/// use session_runtime::{Secrets, SessionId, testing};
///
/// let secrets = Secrets::new("keyboard cat");
/// let id = SessionId::generate();
/// let request = Request::get("/account")
///     .header(COOKIE, testing::cookie_header("connect.sid", &secrets, &id))
///     .body(Body::empty())
///     .unwrap();
/// # let _ = request;
/// ```
#[must_use]
pub fn cookie_header(name: &str, secrets: &Secrets, id: &SessionId) -> String {
    assert!(
        is_valid_name(name),
        "invalid cookie name {name:?}: use letters, digits and !#$%&'*+-.^_`|~"
    );
    format!("{name}={}", signed_cookie(secrets, id))
}

/// The session id in a `Set-Cookie` value, if one of `secrets` signed it;
/// `None` for a cookie that clears the session, or one that is unsigned,
/// forged or not an id.
///
/// The cookie is read by the layer's own code, as if a browser sent it back,
/// so an id found here is one the layer would accept. Takes a `&str`, a
/// `String` or a `&HeaderValue`.
///
/// ```
/// use session_runtime::{Secrets, SessionId, testing};
///
/// let secrets = Secrets::new("keyboard cat");
/// let set_cookie =
///     "connect.sid=s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU; Path=/; HttpOnly";
/// assert_eq!(testing::session_id(set_cookie, &secrets), SessionId::parse("apple"));
/// assert_eq!(testing::session_id(set_cookie, &Secrets::new("another secret")), None);
/// ```
#[must_use]
pub fn session_id(set_cookie: impl AsRef<[u8]>, secrets: &Secrets) -> Option<SessionId> {
    let pair = set_cookie.as_ref().split(|&b| b == b';').next()?;
    let name = pair.split(|&b| b == b'=').next()?.trim_ascii();
    let name = std::str::from_utf8(name).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_bytes(pair).ok()?);
    match read_session_cookie(&headers, name, secrets, usize::MAX) {
        SessionCookie::Verified(id) => Some(id),
        SessionCookie::Absent | SessionCookie::Rejected => None,
    }
}

/// The typed view of the session stored under `id`, decoded as
/// [`Session<T>`](struct@crate::Session) decodes it; `None` when the store
/// holds no live session there.
///
/// The store's view: a session past the layer's `absolute_timeout` is still
/// returned until a request ends it.
///
/// # Panics
/// If the store fails.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use session_runtime::store::SessionStore;
/// use session_runtime::{MemoryStore, Record, Session, SessionId, testing};
///
/// #[derive(Session)]
/// struct Auth {
///     user: Option<u64>,
/// }
///
/// let store = MemoryStore::new();
/// let id = SessionId::generate();
/// let mut record = Record::default();
/// record.fields.set("user", serde_json::value::to_raw_value(&7).unwrap());
/// record.last_access = Some(1_000 * std::time::UNIX_EPOCH.elapsed().unwrap().as_secs());
/// store.create(&id, &record).await.unwrap();
///
/// let auth: Auth = testing::load_view(&store, &id).await.unwrap();
/// assert_eq!(auth.user, Some(7));
/// assert!(testing::load_view::<Auth, _>(&store, &SessionId::generate()).await.is_none());
/// # }
/// ```
pub async fn load_view<T: SessionSchema, S: SessionStore>(store: &S, id: &SessionId) -> Option<T> {
    let record = store.load(id).await.unwrap_or_else(|error| {
        panic!("load_view: the store failed to load the session: {error}")
    })?;
    Some(T::decode_session(&record.fields))
}

/// A response read whole by [`TestClient`].
#[derive(Debug)]
pub struct TestResponse {
    /// The status code.
    pub status: StatusCode,
    /// Every header, `Set-Cookie` included.
    pub headers: HeaderMap,
    /// The body, as UTF-8 (invalid sequences replaced by `U+FFFD`).
    pub body: String,
}

impl TestResponse {
    /// The last `Set-Cookie` of the response for the cookie `name`, whole,
    /// attributes included.
    ///
    /// ```
    /// use axum::http::{HeaderMap, StatusCode, header::SET_COOKIE};
    /// use session_runtime::testing::TestResponse;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.append(SET_COOKIE, "theme=dark; Path=/".parse().unwrap());
    /// headers.append(SET_COOKIE, "connect.sid=s%3Aa.b; Path=/; HttpOnly".parse().unwrap());
    /// let response = TestResponse { status: StatusCode::OK, headers, body: String::new() };
    /// assert_eq!(response.set_cookie("connect.sid"), Some("connect.sid=s%3Aa.b; Path=/; HttpOnly"));
    /// assert_eq!(response.set_cookie("lang"), None);
    /// ```
    #[must_use]
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .rfind(|line| {
                let pair = line.split(';').next().unwrap_or_default();
                pair.split('=').next().unwrap_or_default().trim() == name
            })
    }
}

/// Sends requests to a [`Router`] in process, no socket, keeping cookies
/// like a browser: every cookie of every `Set-Cookie` is kept by name and
/// sent back on the next requests; one that expires (an `Expires` in the
/// past, or a `Max-Age` of 0 or less, as the layer's logout sends) is
/// dropped.
///
/// A simple jar: every cookie goes with every request, whatever its `Path`,
/// `Domain` or `Secure` (the layer still ignores a session cookie outside
/// its `path`), and a malformed `Set-Cookie` is ignored, as a browser
/// ignores it. A request that already has a `Cookie` header is sent as it
/// is, without the jar's cookies.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, routing::get};
/// use session_runtime::{MemoryStore, Session, SessionLayer, testing::TestClient};
///
/// #[derive(Session)]
/// struct Visits {
///     count: u32,
/// }
///
/// async fn visit(mut visits: Session<Visits>) -> String {
///     visits.count += 1;
///     visits.count.to_string()
/// }
///
/// let app = Router::new()
///     .route("/", get(visit))
///     .layer(SessionLayer::new(MemoryStore::new(), "a long random secret"));
/// let mut client = TestClient::new(app);
/// assert_eq!(client.get("/").await.body, "1");
/// assert_eq!(client.get("/").await.body, "2"); // the session cookie came back
/// assert!(client.cookie("connect.sid").is_some());
/// # }
/// ```
#[derive(Debug)]
pub struct TestClient {
    router: Router,
    jar: BTreeMap<String, String>,
}

impl TestClient {
    /// A client of `router` with an empty jar.
    #[must_use]
    pub fn new(router: Router) -> Self {
        TestClient {
            router,
            jar: BTreeMap::new(),
        }
    }

    /// Sends `GET uri` with the jar's cookies. See [`request`](Self::request).
    ///
    /// # Panics
    /// If `uri` is not a valid request target.
    pub async fn get(&mut self, uri: &str) -> TestResponse {
        self.request(empty_request("GET", uri)).await
    }

    /// Sends `POST uri` with an empty body and the jar's cookies. See
    /// [`request`](Self::request) for a body.
    ///
    /// # Panics
    /// If `uri` is not a valid request target.
    pub async fn post(&mut self, uri: &str) -> TestResponse {
        self.request(empty_request("POST", uri)).await
    }

    /// Sends `request` with the jar's cookies, unless it has a `Cookie`
    /// header of its own; keeps the response's cookies and reads its body
    /// whole.
    ///
    /// # Panics
    /// If the jar holds a cookie that cannot be sent in a header (see
    /// [`insert_cookie`](Self::insert_cookie)), or the body fails or is over
    /// 16 MiB.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use axum::body::Body;
    /// use axum::http::{Request, header::CONTENT_TYPE};
    /// use axum::{Router, routing::post};
    /// use session_runtime::testing::TestClient;
    ///
    /// let app = Router::new().route("/echo", post(|body: String| async move { body }));
    /// let mut client = TestClient::new(app);
    /// let request = Request::post("/echo")
    ///     .header(CONTENT_TYPE, "text/plain")
    ///     .body(Body::from("hello"))
    ///     .unwrap();
    /// assert_eq!(client.request(request).await.body, "hello");
    /// # }
    /// ```
    pub async fn request(&mut self, mut request: Request<Body>) -> TestResponse {
        if !self.jar.is_empty() && !request.headers().contains_key(COOKIE) {
            request.headers_mut().insert(COOKIE, self.cookie_header());
        }
        let mut router = self.router.clone();
        let ready =
            std::future::poll_fn(|cx| Service::<Request<Body>>::poll_ready(&mut router, cx));
        let Ok(()) = ready.await;
        let Ok(response) = router.call(request).await;
        let (parts, body) = response.into_parts();
        for set_cookie in parts.headers.get_all(SET_COOKIE) {
            self.keep(set_cookie);
        }
        let body = axum::body::to_bytes(body, BODY_LIMIT)
            .await
            .unwrap_or_else(|error| panic!("test client: cannot read the response body: {error}"));
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    /// The value of the cookie `name` in the jar, as the server sent it
    /// (still percent-encoded).
    ///
    /// ```
    /// use axum::Router;
    /// use session_runtime::testing::TestClient;
    ///
    /// let mut client = TestClient::new(Router::new());
    /// client.insert_cookie("theme", "dark");
    /// assert_eq!(client.cookie("theme"), Some("dark"));
    /// assert_eq!(client.cookie("lang"), None);
    /// ```
    #[must_use]
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// Puts the cookie `name=value` in the jar, replacing one of that name:
    /// a session cookie forged with [`signed_cookie`], or one the test
    /// tampers with.
    ///
    /// # Panics
    /// If `name` is not a valid cookie name, or `value` holds a `;` or a
    /// byte a header cannot carry.
    ///
    /// ```
    /// use axum::Router;
    /// use session_runtime::{Secrets, SessionId, testing::{self, TestClient}};
    ///
    /// let secrets = Secrets::new("a long random secret");
    /// let mut client = TestClient::new(Router::new());
    /// let id = SessionId::generate();
    /// client.insert_cookie("connect.sid", testing::signed_cookie(&secrets, &id));
    /// # assert!(client.cookie("connect.sid").is_some());
    /// ```
    pub fn insert_cookie(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(
            is_valid_name(name),
            "invalid cookie name {name:?}: use letters, digits and !#$%&'*+-.^_`|~"
        );
        assert!(
            !value.contains(';') && HeaderValue::from_str(&value).is_ok(),
            "the value of cookie {name:?} cannot be sent in a Cookie header: {value:?}"
        );
        self.jar.insert(name.to_owned(), value);
    }

    /// Takes the cookie `name` out of the jar, returning its value.
    ///
    /// ```
    /// use axum::Router;
    /// use session_runtime::testing::TestClient;
    ///
    /// let mut client = TestClient::new(Router::new());
    /// client.insert_cookie("theme", "dark");
    /// assert_eq!(client.remove_cookie("theme").as_deref(), Some("dark"));
    /// assert_eq!(client.cookie("theme"), None);
    /// ```
    pub fn remove_cookie(&mut self, name: &str) -> Option<String> {
        self.jar.remove(name)
    }

    /// Applies one `Set-Cookie` to the jar.
    fn keep(&mut self, set_cookie: &HeaderValue) {
        let Some(cookie) = set_cookie
            .to_str()
            .ok()
            .and_then(|text| Cookie::parse(text).ok())
        else {
            return;
        };
        // `Max-Age` wins over `Expires`, as in RFC 6265.
        let expired = match (cookie.max_age(), cookie.expires_datetime()) {
            (Some(max_age), _) => max_age.is_zero() || max_age.is_negative(),
            (None, Some(expires)) => SystemTime::from(expires) <= SystemTime::now(),
            (None, None) => false,
        };
        if expired {
            self.jar.remove(cookie.name());
        } else {
            self.jar
                .insert(cookie.name().to_owned(), cookie.value().to_owned());
        }
    }

    /// The jar as one `Cookie` header.
    fn cookie_header(&self) -> HeaderValue {
        let pairs: Vec<String> = self
            .jar
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        HeaderValue::from_str(&pairs.join("; "))
            .expect("test client: the jar holds a cookie that cannot be sent in a header")
    }
}

fn empty_request(method: &str, uri: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap_or_else(|error| panic!("test client: cannot build {method} {uri:?}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::CookieMeta;

    #[test]
    fn signed_cookie_is_the_value_of_the_layers_set_cookie() {
        let secrets = Secrets::new("keyboard cat");
        for id in ["apple", "a-b_c", &"x".repeat(128)] {
            let id = SessionId::parse(id).unwrap();
            let sent = crate::cookie::set_cookie(
                "connect.sid",
                &secrets.sign(id.as_str()),
                &CookieMeta::default(),
            );
            let expected = format!("{}; ", cookie_header("connect.sid", &secrets, &id));
            assert!(sent.starts_with(&expected), "{sent}");
            assert_eq!(session_id(&sent, &secrets), Some(id));
        }
    }

    #[test]
    fn a_clearing_or_unsigned_set_cookie_has_no_session_id() {
        let secrets = Secrets::new("keyboard cat");
        let cleared = crate::cookie::clear_cookie("connect.sid", &CookieMeta::default());
        assert_eq!(session_id(&cleared, &secrets), None);
        assert_eq!(session_id("connect.sid=apple; Path=/", &secrets), None);
        assert_eq!(session_id("", &secrets), None);
        assert_eq!(session_id("no pair at all", &secrets), None);
    }
}
