//! A login page with "your sessions": an indexed field lists and ends the
//! sessions of one user, a flash field carries a message across a redirect.
//!
//! ```text
//! cargo run --example login [PORT] [--store memory|file] [--path DIR] [--max-age SECONDS]
//! cargo run --features redis --example login -- --store redis [--url redis://HOST:PORT] [--max-age SECONDS]
//! ```
//!
//! - `GET /`: the login form, or the user's name, their sessions (oldest
//!   login first, with its last access, this one marked) and the logout
//!   buttons; a flash message once.
//!   Without a logged-in session it stores nothing and sets no cookie.
//! - `POST /login` (form field `name`): a new session id (against session
//!   fixation), the user, and `303` to `/` with "logged in as NAME". An empty
//!   or missing name stores no user: `303` to `/` with a flash that says so
//!   (which leaves an anonymous session holding that message).
//! - `POST /logout`: ends this session; `POST /logout-others`: every other
//!   session of the user; `POST /logout-everywhere`: all of them. Each
//!   answers `303` to `/`.
//!
//! The cookie is `_login_demo`. `--max-age` gives it a lifetime, which is
//! also how long the store keeps an idle session; without it the cookie
//! lasts until the browser closes and an idle session lasts the store's
//! default TTL. Port, host and `SESSION_SECRET` as in the counter example:
//! `PORT`, else the first positional argument, else 8080; `HOST`, else
//! 127.0.0.1; the secrets comma-separated (the first signs, all verify).
//!
//! The forms carry no CSRF token: the cookie's `SameSite=Lax` keeps other
//! sites' forms from posting with it. A real app checks a password too.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use session_runtime::{
    FileStore, Flash, MemoryStore, Secrets, Session, SessionInfo, SessionLayer, Sessions,
};

#[derive(Session)]
struct Login {
    /// Indexed: `Sessions` finds every session of a user by it.
    #[session(index)]
    user: Option<String>,
    /// When the user logged in: the list shows logins, and a session may
    /// have been created earlier, anonymous (`SessionInfo::created`).
    logged_in_at: Option<SystemTime>,
    /// Shown by the next page, once.
    #[session(flash)]
    notice: Flash<String>,
}

async fn home(session: Session<Login>, sessions: Sessions) -> Result<Html<String>, Failure> {
    let mut body = String::new();
    if let Some(notice) = session.notice.get() {
        let _ = writeln!(body, "<p class=\"notice\">{}</p>", escape(notice));
    }
    let Some(user) = &session.user else {
        body.push_str(LOGIN_FORM);
        return Ok(page(&body));
    };
    let _ = writeln!(body, "<h1>Hello, {}</h1>", escape(user));
    body.push_str("<table>\n<tr><th>logged in</th><th>last access</th><th></th></tr>\n");
    let current = session.id();
    let mut list = sessions.list(Login::user_index(), &session.user).await?;
    // Oldest login first, so that rows stay put as sessions are used.
    list.sort_by_key(|info| info.data.logged_in_at);
    for info in &list {
        body.push_str(&session_row(info, info.id == current));
    }
    body.push_str("</table>\n");
    body.push_str(LOGOUT_FORMS);
    Ok(page(&body))
}

async fn login(
    mut session: Session<Login>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Redirect, Failure> {
    let name = form.get("name").map_or("", |name| name.trim());
    if name.is_empty() {
        session.notice.set("enter a name to log in".to_owned());
        return Ok(Redirect::to("/"));
    }
    // A new id for the logged-in session: an id planted before the login
    // (session fixation) names nothing afterwards.
    session.cycle_id().await?;
    session.user = Some(name.to_owned());
    session.logged_in_at = Some(SystemTime::now());
    session.notice.set(format!("logged in as {name}"));
    Ok(Redirect::to("/"))
}

async fn logout(session: Session<Login>) -> Redirect {
    session.destroy();
    Redirect::to("/")
}

async fn logout_others(
    mut session: Session<Login>,
    sessions: Sessions,
) -> Result<Redirect, Failure> {
    if session.user.is_some() {
        let ended = sessions
            .destroy_all_except(Login::user_index(), &session.user, &session.id())
            .await?;
        let plural = if ended == 1 { "" } else { "s" };
        session
            .notice
            .set(format!("logged out {ended} other session{plural}"));
    }
    Ok(Redirect::to("/"))
}

async fn logout_everywhere(
    session: Session<Login>,
    sessions: Sessions,
) -> Result<Redirect, Failure> {
    sessions
        .destroy_all(Login::user_index(), &session.user)
        .await?;
    // Already gone from the store; this clears the browser's cookie.
    session.destroy();
    Ok(Redirect::to("/"))
}

const LOGIN_FORM: &str = "<h1>Log in</h1>
<form method=\"post\" action=\"/login\">
<label>Name <input name=\"name\" autofocus></label> <button>Log in</button>
</form>
";

const LOGOUT_FORMS: &str =
    "<form method=\"post\" action=\"/logout\"><button>Log out</button></form>
<form method=\"post\" action=\"/logout-others\"><button>Log out my other sessions</button></form>
<form method=\"post\" action=\"/logout-everywhere\"><button>Log out everywhere</button></form>
";

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>login example</title></head>\n\
         <body>\n{body}</body></html>\n"
    ))
}

fn session_row(info: &SessionInfo<Login>, current: bool) -> String {
    let mark = if current { "this session" } else { "" };
    format!(
        "<tr class=\"session\"><td>{}</td><td>{}</td><td>{mark}</td></tr>\n",
        ago(info.data.logged_in_at),
        ago(info.last_access)
    )
}

/// "12 s ago", "3 min ago", ...
fn ago(time: Option<SystemTime>) -> String {
    let Some(time) = time else {
        return "unknown".to_owned();
    };
    let secs = SystemTime::now()
        .duration_since(time)
        .unwrap_or_default()
        .as_secs();
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}

/// `text` safe inside HTML text and quoted attributes: a user named
/// `<script>` is shown, not run.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A session or store error: logged, answered `500`.
struct Failure;

impl<E: std::error::Error> From<E> for Failure {
    fn from(error: E) -> Self {
        tracing::error!(%error, "session failure");
        Failure
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "session store error").into_response()
    }
}

struct Options {
    port: u16,
    host: String,
    store: String,
    path: String,
    url: String,
    max_age: Option<Duration>,
}

fn parse_options() -> Result<Options, String> {
    let mut positional = None;
    let mut store = "memory".to_owned();
    let mut path = "./session-store".to_owned();
    let mut url = "redis://127.0.0.1:6379".to_owned();
    let mut max_age = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--store" => {
                store = args
                    .next()
                    .ok_or("--store needs a value: memory, file or redis")?;
            }
            "--path" => path = args.next().ok_or("--path needs a directory")?,
            "--url" => url = args.next().ok_or("--url needs a Redis URL")?,
            "--max-age" => {
                let seconds = args.next().ok_or("--max-age needs a number of seconds")?;
                let seconds = seconds
                    .parse()
                    .map_err(|_| format!("invalid --max-age {seconds:?}: give whole seconds"))?;
                max_age = Some(Duration::from_secs(seconds));
            }
            other if other.starts_with("--") => return Err(format!("unknown option {other}")),
            other if positional.is_none() => positional = Some(other.to_owned()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    let port_text = std::env::var("PORT")
        .ok()
        .filter(|p| !p.is_empty())
        .or(positional)
        .unwrap_or_else(|| "8080".to_owned());
    let port = port_text
        .parse()
        .map_err(|_| format!("invalid port {port_text:?}"))?;
    let host = std::env::var("HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_owned());
    Ok(Options {
        port,
        host,
        store,
        path,
        url,
        max_age,
    })
}

fn secrets() -> Result<Secrets, String> {
    match std::env::var("SESSION_SECRET") {
        Ok(list) if !list.is_empty() => {
            Secrets::try_new(list.split(',')).map_err(|e| format!("SESSION_SECRET: {e}"))
        }
        _ => {
            eprintln!(
                "warning: SESSION_SECRET is not set; using a fixed development secret. \
                 Anyone can forge this example's cookies: set SESSION_SECRET in production."
            );
            Ok(Secrets::new("login example development secret"))
        }
    }
}

async fn session_layer(options: &Options, secrets: Secrets) -> Result<SessionLayer, String> {
    let layer = match options.store.as_str() {
        "memory" => SessionLayer::new(MemoryStore::new(), secrets),
        "file" => SessionLayer::new(FileStore::new(&options.path), secrets),
        #[cfg(feature = "redis")]
        "redis" => {
            let store = session_runtime::RedisStore::connect(&options.url)
                .await
                // The error, not the URL: a URL may hold a password.
                .map_err(|e| format!("cannot use Redis: {e}"))?;
            SessionLayer::new(store, secrets)
        }
        #[cfg(not(feature = "redis"))]
        "redis" => {
            return Err(format!(
                "this build has no Redis store (for {}): build with `--features redis`",
                options.url
            ));
        }
        other => {
            return Err(format!(
                "unknown store {other:?}: use memory, file or redis"
            ));
        }
    };
    let layer = layer.name("_login_demo");
    Ok(match options.max_age {
        Some(max_age) => layer.max_age(max_age),
        None => layer,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let result = async {
        let options = parse_options()?;
        let layer = session_layer(&options, secrets()?).await?;
        let app = Router::new()
            .route("/", get(home))
            .route("/login", post(login))
            .route("/logout", post(logout))
            .route("/logout-others", post(logout_others))
            .route("/logout-everywhere", post(logout_everywhere))
            .layer(layer);
        let address = format!("{}:{}", options.host, options.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e}"))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("login example listening on http://{local}");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("server error: {e}"))
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
