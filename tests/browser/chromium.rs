//! Headless Chromium driven through chromedriver (WebDriver), for the browser
//! tests: Debian's `chromium` and `chromium-driver`, which `scripts/test.sh`
//! installs when they are missing. Every call has a deadline and every process
//! dies on drop, so a broken browser fails a test instead of hanging it.

use std::fmt::Debug;
use std::future::Future;
use std::process::Command;
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::support::{ChildGuard, TempDir, free_port};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// `Some(())` when Chromium and chromedriver are installed; otherwise the
/// calling test skips (or fails under `scripts/test.sh`, which installs them).
pub(crate) fn installed() -> Option<()> {
    crate::support::prerequisites::programs(
        &[CHROMIUM, CHROMEDRIVER],
        "`bash scripts/test.sh` installs Debian's chromium and chromium-driver",
    )
}

/// How long one WebDriver command or one process start may take.
pub(crate) const STEP: Duration = Duration::from_secs(30);

/// This machine's closed network refuses Chromium's background connections
/// (and Google's host lookups) unless they are turned off; `--no-sandbox`
/// because the tests run as root.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Awaits `future` for at most [`STEP`]; panics naming `what` on an error or
/// on the deadline.
pub(crate) async fn within<T, E: Debug>(
    what: &str,
    future: impl Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(Ok(value)) => value,
        Ok(Err(error)) => panic!("{what}: {error:?}"),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// A headless Chromium with an empty profile, behind its own chromedriver.
/// Fields drop in order: the WebDriver client, the driver's process group,
/// then the profile directory.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: ChildGuard,
    _profile: TempDir,
}

impl Browser {
    pub(crate) async fn start() -> Self {
        let profile = TempDir::new("chromium-profile");
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}"));
        let mut driver = ChildGuard::spawn("chromedriver", command);
        driver.wait_for_port(port);

        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&f| f.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            // Milliseconds: the browser's own bound on loads and scripts,
            // below `within`'s so its error is the one reported.
            "timeouts": { "pageLoad": 20_000, "script": 10_000, "implicit": 0 },
        }))
        .unwrap();
        let client = match tokio::time::timeout(
            STEP,
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities)
                .connect(&format!("http://127.0.0.1:{port}")),
        )
        .await
        {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => panic!(
                "chromedriver could not start {CHROMIUM}: {error}\n{}",
                driver.output()
            ),
            Err(_) => panic!(
                "chromedriver did not start {CHROMIUM} within {STEP:?}\n{}",
                driver.output()
            ),
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Ends the WebDriver session (Chromium quits), then chromedriver. On a
    /// failed test, drop does the killing instead.
    pub(crate) async fn close(mut self) {
        let _ = tokio::time::timeout(STEP, self.client.clone().close()).await;
        self.driver.kill();
    }
}
