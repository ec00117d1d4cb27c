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
use session_runtime::{Flash, Session, SessionInfo, Sessions};

mod common;

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

async fn login_example() -> Result<(), String> {
    let mut max_age = None;
    let options = common::parse_options(|option, args| {
        if option != "--max-age" {
            return Ok(false);
        }
        max_age = Some(seconds("--max-age", args.next())?);
        Ok(true)
    })?;
    let secrets = common::secrets("login example development secret")?;
    let (layer, _) = common::session_layer(&options, secrets).await?;
    let layer = layer.name("_login_demo");
    let layer = match max_age {
        Some(max_age) => layer.max_age(max_age),
        None => layer,
    };
    let app = Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/logout-others", post(logout_others))
        .route("/logout-everywhere", post(logout_everywhere))
        .layer(layer);
    common::serve("login example", &options, app).await
}

#[tokio::main]
async fn main() -> ExitCode {
    common::main(login_example()).await
}

/// A lifetime, from whole seconds on the command line.
fn seconds(option: &str, value: Option<String>) -> Result<Duration, String> {
    let value = value.ok_or_else(|| format!("{option} needs a number of seconds"))?;
    value
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("invalid {option} {value:?}: give whole seconds"))
}
