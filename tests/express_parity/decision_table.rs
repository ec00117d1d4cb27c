//! Not an express block: the decision table of reference section 1.4
//! (save? touch? Set-Cookie?), every combination, against express's rules
//! (PARITY.md's last section).

use std::time::Duration;

use session_runtime::SessionId;
use session_runtime::store::SessionStore;

use crate::harness::{MINUTE, SECRET, app, counter_record, seed};
use crate::support::clock::{expires_in_secs, now_ms};
use crate::support::{CountingStore, expires_attr, get_with, get_with_cookie, signed_value};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// No cookie: a new session.
    NoCookie,
    /// A validly signed cookie naming nothing in the store: a new session with a new id.
    UnknownSid,
    /// A stored session, just saved.
    LoadedFresh,
    /// A stored session last written more than half its lifetime ago.
    LoadedOld,
}

#[derive(Debug, PartialEq)]
struct Outcome {
    save: bool,
    touch: bool,
    set_cookie: bool,
}

/// express-session's shouldSave / shouldTouch / shouldSetCookie (reference 1.4),
/// with a store that has `touch`.
fn express_decision(
    origin: Origin,
    modified: bool,
    resave: bool,
    save_uninit: bool,
    rolling: bool,
    max_age: bool,
) -> Outcome {
    match origin {
        Origin::NoCookie | Origin::UnknownSid => {
            let keep = save_uninit || modified;
            Outcome {
                save: keep,
                touch: false,
                set_cookie: keep,
            }
        }
        Origin::LoadedFresh | Origin::LoadedOld => {
            let save = resave || modified;
            Outcome {
                save,
                touch: !save,
                set_cookie: rolling || (max_age && modified),
            }
        }
    }
}

/// Ours: express's, except that a loaded, unmodified session with resave=false
/// is touched only when its cookie is re-sent or half its lifetime has passed.
fn our_decision(
    origin: Origin,
    modified: bool,
    resave: bool,
    save_uninit: bool,
    rolling: bool,
    max_age: bool,
) -> Outcome {
    let mut outcome = express_decision(origin, modified, resave, save_uninit, rolling, max_age);
    if outcome.touch {
        outcome.touch = outcome.set_cookie || origin == Origin::LoadedOld;
    }
    outcome
}

#[tokio::test]
async fn all_combinations() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for origin in [
        Origin::NoCookie,
        Origin::UnknownSid,
        Origin::LoadedFresh,
        Origin::LoadedOld,
    ] {
        for bits in 0..32u8 {
            let [modified, resave, save_uninit, rolling, max_age] =
                [0, 1, 2, 3, 4].map(|i| bits & (1 << i) != 0);
            let expected = our_decision(origin, modified, resave, save_uninit, rolling, max_age);
            let case = format!(
                "{origin:?} modified={modified} resave={resave} saveUninitialized={save_uninit} rolling={rolling} maxAge={max_age}"
            );
            cases += 1;

            let store = CountingStore::new();
            let lifetime = if max_age { MINUTE } else { store.ttl() };
            let (loaded_sid, cookie) = match origin {
                Origin::NoCookie => (None, None),
                Origin::UnknownSid => {
                    let id = SessionId::generate().to_string();
                    let cookie = format!("connect.sid={}", signed_value(SECRET.as_bytes(), &id));
                    (Some(id), Some(cookie))
                }
                Origin::LoadedFresh | Origin::LoadedOld => {
                    let age = if origin == Origin::LoadedOld {
                        lifetime * 6 / 10
                    } else {
                        Duration::ZERO
                    };
                    let (id, cookie) =
                        seed(&store, counter_record(5, max_age.then_some(MINUTE)), age).await;
                    (Some(id), Some(cookie))
                }
            };
            let router = app(&store, |l| {
                let l = l
                    .resave(resave)
                    .save_uninitialized(save_uninit)
                    .rolling(rolling);
                if max_age { l.max_age(MINUTE) } else { l }
            });
            let start = now_ms();
            let path = if modified { "/" } else { "/peek" };
            let reply = match &cookie {
                Some(cookie) => get_with_cookie(&router, path, cookie).await,
                None => get_with(&router, path, &[]).await,
            };
            let loaded = matches!(origin, Origin::LoadedFresh | Origin::LoadedOld);
            let expected_body = match (loaded, modified) {
                (true, true) => "6",
                (true, false) => "5",
                (false, true) => "1",
                (false, false) => "0",
            };
            if reply.body != expected_body {
                failures.push(format!(
                    "{case}: body {:?}, expected {expected_body}",
                    reply.body
                ));
                continue;
            }
            let actual = Outcome {
                save: store.calls.saves() == 1,
                touch: store.calls.touches() == 1,
                set_cookie: reply.set_cookie().is_some(),
            };
            if store.calls.saves() > 1 || store.calls.touches() > 1 || store.calls.destroys() > 0 {
                failures.push(format!("{case}: {:?}", store.calls));
            }
            if actual != expected {
                failures.push(format!("{case}: got {actual:?}, expected {expected:?}"));
                continue;
            }
            // The details behind the three booleans.
            if let Some(set) = reply.set_cookie() {
                let sid = reply.sid().unwrap();
                if loaded != (loaded_sid.as_deref() == Some(sid.as_str())) {
                    failures.push(format!("{case}: cookie for {sid}, loaded {loaded_sid:?}"));
                }
                let in_secs = expires_attr(&set).map(|_| expires_in_secs(&set));
                if max_age != matches!(in_secs, Some(58..=61)) {
                    failures.push(format!("{case}: Expires in {in_secs:?} s: {set}"));
                }
            }
            if actual.save || actual.touch {
                let sid = reply.sid().or(loaded_sid.filter(|_| loaded)).unwrap();
                let stamp = store.record(&sid).await.and_then(|r| r.last_access);
                if stamp.is_none_or(|at| at < start) {
                    failures.push(format!(
                        "{case}: stored access time {stamp:?} is older than the request"
                    ));
                }
            }
        }
    }
    assert_eq!(cases, 128);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// express touches every loaded, unmodified session on every request (resave=false);
/// ours at most once per half lifetime, but always when the cookie is re-sent.
#[tokio::test]
async fn loaded_unmodified_touch_at_most_once_per_half_lifetime() {
    let store = CountingStore::new();
    let (_sid, cookie) = seed(
        &store,
        counter_record(1, Some(MINUTE)),
        Duration::from_secs(31),
    )
    .await;
    let router = app(&store, |l| l.resave(false).max_age(MINUTE));
    for _ in 0..3 {
        get_with_cookie(&router, "/peek", &cookie).await;
    }
    assert_eq!(store.calls.touches(), 1, "touched once, then young again");
    let rolling = app(&store, |l| l.resave(false).rolling(true).max_age(MINUTE));
    for _ in 0..3 {
        assert!(
            get_with_cookie(&rolling, "/peek", &cookie)
                .await
                .set_cookie()
                .is_some()
        );
    }
    assert_eq!(
        store.calls.touches(),
        4,
        "every re-sent cookie is matched by a touch"
    );
    assert_eq!(store.calls.saves(), 0);
}
