//! Headless Chromium driven through chromedriver (WebDriver), for the browser
//! tests: Debian's `chromium` and `chromium-driver`, which `scripts/test.sh`
//! installs when they are missing. Every call has a deadline and every process
//! dies on drop, so a broken browser fails a test instead of hanging it.

use std::fmt::Debug;
use std::future::Future;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

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

/// `true` when both programs are installed. Otherwise the test skips with a
/// message, or fails when `TYPED_SESSIONS_REQUIRE_ALL=1` (scripts/test.sh).
pub(crate) fn installed_or_skip(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).is_file())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test}: {} missing: run `bash scripts/test.sh`, which installs Debian's \
         chromium and chromium-driver",
        missing.join(" and ")
    );
    assert!(
        std::env::var("TYPED_SESSIONS_REQUIRE_ALL").as_deref() != Ok("1"),
        "{message} (TYPED_SESSIONS_REQUIRE_ALL=1 forbids skipping)"
    );
    // Straight to stderr: libtest would capture `eprintln!` of a passing test.
    let _ = writeln!(std::io::stderr(), "skipped: {message}");
    false
}

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

/// A fresh directory under the system's temp dir, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "typed-sessions-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process in its own process group, logging to a file. Dropping it
/// kills the whole group (chromedriver's Chromium and its helpers with it).
pub(crate) struct Process {
    child: Child,
    name: String,
    log: PathBuf,
    reaped: bool,
}

impl Process {
    pub(crate) fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Self {
        let log = log_dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Process {
            child,
            name: name.to_owned(),
            log,
            reaped: false,
        }
    }

    /// What the process printed so far.
    pub(crate) fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the process accepts connections on `port`, at most [`STEP`].
    pub(crate) fn wait_for_port(&mut self, port: u16) {
        let deadline = Instant::now() + STEP;
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.reaped = true;
                panic!(
                    "{} exited with {status} before listening on port {port}:\n{}",
                    self.name,
                    self.output()
                );
            }
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on port {port} within {STEP:?}:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL to the process group, then reap the leader. Only once: after
    /// the reap, the group id may name someone else's processes.
    pub(crate) fn kill(&mut self) {
        if std::mem::replace(&mut self.reaped, true) {
            return;
        }
        // The group id is the leader's pid (`process_group(0)`). `kill` is
        // procps'; without it, at least the leader dies.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A headless Chromium with an empty profile, behind its own chromedriver.
/// Fields drop in order: the WebDriver client, the driver's process group,
/// then the profile directory.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Process,
    _profile: TempDir,
}

impl Browser {
    pub(crate) async fn start(logs: &Path) -> Self {
        let profile = TempDir::new("chromium-profile");
        let port = free_port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}"));
        let mut driver = Process::spawn("chromedriver", command, logs);
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
