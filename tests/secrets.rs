//! Secrets: an empty one is a clear error that points at the caller's line;
//! a short one works (migrated cookies keep verifying) but is warned about.

mod support;

use std::sync::{Arc, Mutex};

use session_runtime::{MemoryStore, RECOMMENDED_SECRET_LEN, SecretError, Secrets, SessionLayer};
use support::LogCapture;
use tower::Layer;

/// Runs `f`, which must panic; returns the panic's message and file.
fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> (String, String) {
    let seen: Arc<Mutex<Option<(String, String)>>> = Arc::default();
    let hook_seen = Arc::clone(&seen);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| {
                info.payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
            })
            .unwrap_or_default();
        let file = info
            .location()
            .map(|l| l.file().to_owned())
            .unwrap_or_default();
        *hook_seen.lock().unwrap() = Some((message, file));
    }));
    let result = std::panic::catch_unwind(f);
    std::panic::set_hook(previous);
    assert!(result.is_err(), "expected a panic");
    seen.lock().unwrap().take().unwrap()
}

#[test]
fn an_empty_secret_panics_with_a_message_at_the_callers_line() {
    let (message, file) = panic_of(|| {
        let _ = SessionLayer::new(MemoryStore::new(), "");
    });
    assert_eq!(
        message,
        "a session secret is empty: use a long random string"
    );
    assert!(
        file.ends_with("tests/secrets.rs"),
        "the panic points at {file}"
    );

    let (_, file) = panic_of(|| {
        let _ = Secrets::new(String::new());
    });
    assert!(
        file.ends_with("tests/secrets.rs"),
        "the panic points at {file}"
    );
    assert_eq!(
        Secrets::try_new([""]).unwrap_err(),
        SecretError::EmptySecret
    );
    assert_eq!(
        Secrets::try_new(Vec::<&str>::new())
            .unwrap_err()
            .to_string(),
        "the secret list is empty: give at least one secret"
    );
}

#[test]
fn a_short_secret_works_and_is_warned_about_once() {
    let logs = LogCapture::install();
    let short = Secrets::new("keyboard cat");
    let warnings = logs.contents();
    assert_eq!(warnings.matches("WARN").count(), 1, "{warnings}");
    assert!(warnings.contains("12 bytes long"), "{warnings}");
    assert!(
        !warnings.contains("keyboard cat"),
        "the secret is not logged: {warnings}"
    );
    // Still signs as express does with that secret.
    let _ = SessionLayer::new(MemoryStore::new(), short);

    let logs = LogCapture::install();
    let long = "k".repeat(RECOMMENDED_SECRET_LEN);
    let _ = Secrets::new(&long);
    let _ = Secrets::try_new([long.as_str(), "an old short one"]);
    let warnings = logs.contents();
    assert_eq!(
        warnings.matches("WARN").count(),
        1,
        "only for the short old one: {warnings}"
    );
}

/// A layer's `Debug` shows its settings, and never a secret.
#[test]
fn a_layers_debug_shows_its_settings_but_no_secret() {
    let secret = "a debug secret that is long enough to sign cookies";
    let layer = SessionLayer::new(MemoryStore::new(), secret)
        .name("debug.sid")
        .max_cookie_length(2048);
    let debug = format!("{layer:?}");
    assert!(
        debug.contains("\"debug.sid\"") && debug.contains("max_cookie_length: 2048"),
        "{debug}"
    );
    assert!(
        !debug.contains(secret) && debug.contains("REDACTED"),
        "{debug}"
    );
}

/// The service a layer wraps around the router shows the router and the
/// layer's settings, and never a secret either.
#[test]
fn a_session_services_debug_shows_its_inner_service_and_settings_but_no_secret() {
    #[derive(Debug)]
    struct Router;
    let secret = "a debug secret that is long enough to sign cookies";
    let service = SessionLayer::new(MemoryStore::new(), secret)
        .name("debug.sid")
        .layer(Router);
    let debug = format!("{service:?}");
    assert!(
        debug.starts_with("SessionService { inner: Router, config: ")
            && debug.contains("\"debug.sid\""),
        "{debug}"
    );
    assert!(
        !debug.contains(secret) && debug.contains("REDACTED"),
        "{debug}"
    );
}
