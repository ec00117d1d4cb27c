//! The counter example in a real browser: headless Chromium driven through
//! WebDriver (chromedriver, from Rust with fantoccini) against the example's
//! binary on a loopback port.
//!
//! - reloads count 1, 2, 3 on the page, and the session cookie is HttpOnly:
//!   the browser holds it but `document.cookie` does not show it;
//! - with `--store file`, the count survives a restart of the server;
//! - `POST /logout` from a form on the page ends the session (the browser
//!   drops the cookie) and the count starts again at 1. The counter serves
//!   JSON, not HTML, so the test adds the form to the page the browser shows
//!   for `/` (the counter's origin) and clicks its submit button: a real
//!   same-origin form POST and top-level navigation, with the browser's
//!   cookies, as a page of the app would send it.
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh installs
//! them) and the example binary (`cargo build --examples`, scripts/test.sh
//! again). Without the browser the tests skip, unless
//! `TYPED_SESSIONS_REQUIRE_ALL=1`.

#[path = "browser/chromium.rs"]
mod chromium;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use chromium::{Browser, within};
use fantoccini::{Client, Locator};
use support::{ChildGuard, TempDir, free_port};
use tokio::sync::MutexGuard;

/// One Chromium at a time: the tests share two cores with everything else.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Both runs of the file-store test must verify each other's cookies.
const SECRET: &str = "browser test secret, not for production";

/// The counter example on `port`, ready for connections.
fn start_counter(binary: &Path, port: u16, store_args: &[String]) -> ChildGuard {
    let mut command = Command::new(binary);
    command
        .args(store_args)
        .env("PORT", port.to_string())
        .env("HOST", "127.0.0.1")
        .env("SESSION_SECRET", SECRET);
    let mut server = ChildGuard::spawn("counter", command);
    server.wait_for_port(port);
    server
}

/// The counter example and a browser with an empty profile, for one test.
/// Fields drop in order: the browser, the server, then the lock.
struct CounterInBrowser {
    browser: Browser,
    server: ChildGuard,
    binary: PathBuf,
    store_args: Vec<String>,
    port: u16,
    _one: MutexGuard<'static, ()>,
}

impl CounterInBrowser {
    /// `None` when the test skips: no Chromium or no counter binary here
    /// (`support::prerequisites`).
    async fn start(store_args: &[&str]) -> Option<Self> {
        chromium::installed()?;
        let binary = support::prerequisites::example_binary("counter")?;
        let one = ONE_BROWSER.lock().await;
        let store_args: Vec<String> = store_args.iter().map(|&a| a.to_owned()).collect();
        let port = free_port();
        let server = start_counter(&binary, port, &store_args);
        let browser = Browser::start().await;
        Some(CounterInBrowser {
            browser,
            server,
            binary,
            store_args,
            port,
            _one: one,
        })
    }

    fn client(&self) -> &Client {
        &self.browser.client
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn open(&self, path: &str) {
        within(&format!("open {path}"), self.client().goto(&self.url(path))).await;
    }

    async fn reload(&self) {
        within("reload", self.client().refresh()).await;
    }

    /// The count the page shows: the counter answers `{"count": N}`, which
    /// Chromium renders as text.
    async fn shown_count(&self) -> u64 {
        let text = within("read the page's text", async {
            self.client().find(Locator::Css("body")).await?.text().await
        })
        .await;
        let json = text
            .find('{')
            .zip(text.rfind('}'))
            .map(|(start, end)| &text[start..=end])
            .unwrap_or_else(|| panic!("no JSON on the page: {text:?}"));
        let value: serde_json::Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("the page's JSON {json:?} does not parse: {e}"));
        value["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("no count in the page's JSON {json:?}"))
    }

    /// Kills the server (SIGKILL) and starts it again on the same port.
    fn restart_server(&mut self) {
        self.server.kill();
        self.server = start_counter(&self.binary, self.port, &self.store_args);
    }

    async fn close(self) {
        self.browser.close().await;
    }
}

#[tokio::test]
async fn reloads_count_up_and_scripts_cannot_read_the_session_cookie() {
    let Some(app) = CounterInBrowser::start(&["--store", "memory"]).await else {
        return;
    };
    app.open("/").await;
    assert_eq!(app.shown_count().await, 1);
    app.reload().await;
    assert_eq!(app.shown_count().await, 2);
    app.reload().await;
    assert_eq!(app.shown_count().await, 3);

    let client = app.client();
    let cookie = within(
        "the browser's session cookie",
        client.get_named_cookie("_es_demo"),
    )
    .await;
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    // A script-visible cookie shows, so the probe itself works.
    let seen = within(
        "document.cookie",
        client.execute(
            "document.cookie = 'visible=1'; return document.cookie",
            vec![],
        ),
    )
    .await;
    let seen = seen.as_str().unwrap_or_default();
    assert!(seen.contains("visible=1"), "document.cookie is {seen:?}");
    assert!(
        !seen.contains("_es_demo"),
        "document.cookie shows the session: {seen:?}"
    );

    app.close().await;
}

#[tokio::test]
async fn the_file_store_keeps_the_count_across_a_server_restart() {
    let store = TempDir::new("browser-file-store");
    let store_args = ["--store", "file", "--path", store.path().to_str().unwrap()];
    let Some(mut app) = CounterInBrowser::start(&store_args).await else {
        return;
    };
    app.open("/").await;
    assert_eq!(app.shown_count().await, 1);
    app.reload().await;
    assert_eq!(app.shown_count().await, 2);

    app.restart_server();
    app.reload().await;
    assert_eq!(
        app.shown_count().await,
        3,
        "the restarted server lost the count"
    );

    app.close().await;
}

#[tokio::test]
async fn logout_from_a_page_form_starts_the_count_again_at_1() {
    let Some(app) = CounterInBrowser::start(&["--store", "memory"]).await else {
        return;
    };
    app.open("/").await;
    app.reload().await;
    assert_eq!(app.shown_count().await, 2);

    let client = app.client();
    within(
        "add a logout form to the page",
        client.execute(
            "const form = document.createElement('form');
             form.id = 'logout';
             form.method = 'post';
             form.action = '/logout';
             const button = document.createElement('button');
             button.type = 'submit';
             button.textContent = 'Log out';
             form.append(button);
             document.body.append(form);",
            vec![],
        ),
    )
    .await;
    let form = within("find the form", client.form(Locator::Css("#logout"))).await;
    within("click Log out", form.submit()).await;
    let logout_url = app.url("/logout").parse().unwrap();
    within(
        "arrive at /logout",
        client.wait().at_most(chromium::STEP).for_url(&logout_url),
    )
    .await;
    assert_eq!(app.shown_count().await, 0);
    let cookies = within("the browser's cookies", client.get_all_cookies()).await;
    assert!(
        cookies.iter().all(|c| c.name() != "_es_demo"),
        "the browser kept the session cookie after logout: {cookies:?}"
    );

    app.open("/").await;
    assert_eq!(app.shown_count().await, 1);
    app.reload().await;
    assert_eq!(app.shown_count().await, 2);

    app.close().await;
}
