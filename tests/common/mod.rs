//! Shared helpers for the integration tests: a cookie-keeping client over a
//! router, a raw HTTP/1.1 client over real TCP, and a store that counts calls.

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use session_runtime::store::{Created, SessionStore, Update, Updated};
use session_runtime::{MemoryStore, Record, SessionId, StoreError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn set_cookie(&self) -> Option<String> {
        let all = self.set_cookies();
        assert!(all.len() <= 1, "more than one Set-Cookie: {all:?}");
        all.into_iter().next()
    }

    /// The session id in the response's Set-Cookie, as express-session's tests read it.
    pub fn sid(&self) -> Option<String> {
        let cookie = self.set_cookie()?;
        let value = cookie.split(';').next()?.split_once('=')?.1.to_owned();
        let decoded = value.replace("%3A", ":");
        let signed = decoded.strip_prefix("s:")?;
        Some(signed[..signed.rfind('.')?].to_owned())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body {:?} is not JSON: {e}", self.body))
    }
}

/// Sends requests to a router in-process, keeping the session cookie like a browser.
pub struct Client {
    router: Router,
    /// `name=value` of the current cookie.
    pub cookie: Option<String>,
}

impl Client {
    pub fn new(router: Router) -> Self {
        Client {
            router,
            cookie: None,
        }
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path).await
    }

    pub async fn post(&mut self, path: &str) -> Reply {
        self.request("POST", path).await
    }

    pub async fn request(&mut self, method: &str, path: &str) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        let reply = send(&self.router, builder.body(Body::empty()).unwrap()).await;
        if let Some(set) = reply.set_cookies().last() {
            let pair = set.split(';').next().unwrap();
            let expired = set.contains("Expires=Thu, 01 Jan 1970");
            self.cookie = if expired { None } else { Some(pair.to_owned()) };
        }
        reply
    }
}

/// One request through the router, with the given `Cookie` header.
pub async fn get_with_cookie(router: &Router, path: &str, cookie: &str) -> Reply {
    let request = Request::builder()
        .uri(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// Serves `router` on a real socket on 127.0.0.1; returns its address.
pub async fn serve(router: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// One HTTP/1.1 request over TCP; returns the raw response text.
pub async fn tcp_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("response within 10 s")
    .unwrap();
    response
}

/// What a store was asked to do.
#[derive(Default, Debug)]
pub struct Calls {
    pub loads: AtomicUsize,
    /// Creates and updates.
    pub saves: AtomicUsize,
    pub creates: AtomicUsize,
    pub updates: AtomicUsize,
    pub touches: AtomicUsize,
    pub destroys: AtomicUsize,
    /// The fields each save wrote: every field of a create, the `changed`
    /// fields of an update.
    pub changed: Mutex<Vec<Vec<String>>>,
}

impl Calls {
    pub fn loads(&self) -> usize {
        self.loads.load(Ordering::SeqCst)
    }
    pub fn saves(&self) -> usize {
        self.saves.load(Ordering::SeqCst)
    }
    pub fn creates(&self) -> usize {
        self.creates.load(Ordering::SeqCst)
    }
    pub fn updates(&self) -> usize {
        self.updates.load(Ordering::SeqCst)
    }
    pub fn touches(&self) -> usize {
        self.touches.load(Ordering::SeqCst)
    }
    pub fn destroys(&self) -> usize {
        self.destroys.load(Ordering::SeqCst)
    }
    /// Store writes of any kind.
    pub fn writes(&self) -> usize {
        self.saves() + self.touches() + self.destroys()
    }
}

/// A memory store that counts calls and can be told to fail or to be slow.
#[derive(Clone, Default)]
pub struct CountingStore {
    pub inner: MemoryStore,
    pub calls: Arc<Calls>,
    pub fail_loads: Arc<AtomicBool>,
    pub fail_saves: Arc<AtomicBool>,
    pub fail_touches: Arc<AtomicBool>,
    pub fail_destroys: Arc<AtomicBool>,
    /// Delay before each save completes.
    pub save_delay: Option<Duration>,
    /// Set when the last save has completed.
    pub saved: Arc<AtomicBool>,
}

impl CountingStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts a create or update writing `fields`, then waits and fails as told.
    async fn before_save(&self, fields: Vec<String>) -> Result<(), StoreError> {
        self.calls.saves.fetch_add(1, Ordering::SeqCst);
        self.calls.changed.lock().unwrap().push(fields);
        if let Some(delay) = self.save_delay {
            tokio::time::sleep(delay).await;
        }
        if self.fail_saves.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected save failure"));
        }
        Ok(())
    }

    /// The stored record under `id`, read directly.
    pub async fn record(&self, id: &str) -> Option<Record> {
        self.inner
            .load(&SessionId::parse(id).unwrap())
            .await
            .unwrap()
    }
}

impl SessionStore for CountingStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.calls.loads.fetch_add(1, Ordering::SeqCst);
        if self.fail_loads.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected load failure"));
        }
        self.inner.load(id).await
    }

    async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
        self.calls.creates.fetch_add(1, Ordering::SeqCst);
        let fields = record
            .fields
            .iter()
            .map(|(key, _)| key.to_owned())
            .collect();
        self.before_save(fields).await?;
        let result = self.inner.create(id, record).await;
        self.saved.store(true, Ordering::SeqCst);
        result
    }

    async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
        self.calls.updates.fetch_add(1, Ordering::SeqCst);
        let fields = update.changed.iter().map(|s| (*s).to_owned()).collect();
        self.before_save(fields).await?;
        let result = self.inner.update(id, update).await;
        self.saved.store(true, Ordering::SeqCst);
        result
    }

    async fn touch(&self, id: &SessionId, record: &Record) -> Result<Updated, StoreError> {
        self.calls.touches.fetch_add(1, Ordering::SeqCst);
        if self.fail_touches.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected touch failure"));
        }
        self.inner.touch(id, record).await
    }

    async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
        self.calls.destroys.fetch_add(1, Ordering::SeqCst);
        if self.fail_destroys.load(Ordering::SeqCst) {
            return Err(StoreError::new("injected destroy failure"));
        }
        self.inner.destroy(id).await
    }

    fn ttl(&self) -> Duration {
        self.inner.ttl()
    }
}

/// Captures `tracing` output on this thread (tests run on a current-thread runtime).
pub struct LogCapture {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

impl LogCapture {
    pub fn install() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        LogCapture {
            buffer,
            _guard: guard,
        }
    }

    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// express-session's cookie value (`s:<id>.<mac>`, percent-encoded) for `id`,
/// computed with hmac/sha2/base64 directly rather than through the runtime.
pub fn signed_value(secret: &[u8], id: &str) -> String {
    use base64::Engine as _;
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(id.as_bytes());
    let tag = base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!("s:{id}.{tag}")
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace('/', "%2F")
}

/// Seconds since the epoch of an HTTP date (`Thu, 15 Jan 2026 12:00:00 GMT`).
pub fn http_date_secs(text: &str) -> i64 {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let day: i64 = parts[1].parse().unwrap();
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])
    .unwrap() as i64
        + 1;
    let year: i64 = parts[3].parse().unwrap();
    let hms: Vec<i64> = parts[4].split(':').map(|p| p.parse().unwrap()).collect();
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + day - 1 - 719_468;
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// The `Expires` attribute of a `Set-Cookie` value.
pub fn expires_attr(set_cookie: &str) -> Option<&str> {
    set_cookie
        .split("; ")
        .find_map(|attr| attr.strip_prefix("Expires="))
}
