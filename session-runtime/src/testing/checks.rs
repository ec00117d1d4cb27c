//! The checks, one per rule of the store contract. Each takes a fresh
//! fixture, uses only ids it generates, and panics naming the rule it found broken.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::StoreFixture;
use super::probe::{HOUR_MS, Probe, raw, record, record_at};
use crate::id::SessionId;
use crate::record::{CookieMeta, Priority, SameSite};
use crate::store::{Created, IndexEntry, SessionStore, Update, Updated};
use crate::time::now_ms;

/// How far inside or outside its lifetime the kit puts a session meant to be
/// live or expired: room for a slow store and for the check's own run time.
const MARGIN_MS: u64 = 5_000;

const WEEK_MS: u64 = 7 * 24 * HOUR_MS;

/// `load` returns exactly what `create` stored: every field's raw JSON, all
/// cookie settings, `last_access` and `created`. `load` of an id never used
/// returns `None`.
pub async fn load_returns_what_was_created(fixture: impl StoreFixture) {
    let kit = Probe::new("load_returns_what_was_created", fixture.store());
    let id = SessionId::generate();
    kit.ensure(
        kit.load(&id).await.is_none(),
        "`load` of an id never stored returned a session",
    );
    let now = now_ms();
    let mut stored = record(&[
        ("count", "3"),
        ("user", r#"{"name":"ada","roles":["admin"]}"#),
        ("flag", "false"),
        ("nothing", "null"),
    ]);
    stored.created = Some(now - 1_000);
    stored.cookie = CookieMeta {
        original_max_age: Some(HOUR_MS),
        expires: Some(now + HOUR_MS),
        http_only: false,
        path: "/app".to_owned(),
        domain: Some("example.com".to_owned()),
        secure: Some(true),
        same_site: Some(SameSite::Lax),
        partitioned: Some(true),
        priority: Some(Priority::High),
    };
    kit.create_new(&id, &stored).await;
    let loaded = kit.load_live(&id, "it was just created").await;
    kit.expect_same(&loaded, &stored, "`load` must return what `create` stored");
}

/// `update` writes only the fields named as changed (a changed field the
/// request's record lacks is removed), keeps every other stored field as it
/// is, and takes the request's cookie settings, `last_access` and `created`.
pub async fn update_merges_only_the_changed_fields(fixture: impl StoreFixture) {
    let kit = Probe::new("update_merges_only_the_changed_fields", fixture.store());
    let id = SessionId::generate();
    let mut stored = record(&[("a", "0"), ("b", "0"), ("dropped", "1")]);
    stored.created = Some(now_ms() - 2_000);
    kit.create_new(&id, &stored).await;

    // The request's view disagrees on `b`, which it did not change.
    let mut view = record_at(
        &[("a", "1"), ("b", "9"), ("added", r#""new""#)],
        now_ms(),
        Some(2 * HOUR_MS),
    );
    view.cookie.path = "/v2".to_owned();
    view.created = Some(now_ms() - 1_000);
    kit.update_live(&id, &view, &["a", "added", "dropped"])
        .await;

    let loaded = kit.load_live(&id, "it was updated").await;
    kit.expect_field(&loaded, "a", "1", "`update` must write a changed field");
    kit.expect_field(
        &loaded,
        "added",
        r#""new""#,
        "`update` must write a changed field",
    );
    kit.expect_field(
        &loaded,
        "b",
        "0",
        "`update` must keep a field the request did not change as the store holds it",
    );
    kit.expect_no_field(
        &loaded,
        "dropped",
        "`update` must remove a changed field that the request's record no longer holds",
    );
    kit.ensure(
        loaded.cookie == view.cookie,
        format_args!(
            "`update` must store the request's cookie settings: found {:?}, expected {:?}",
            loaded.cookie, view.cookie
        ),
    );
    kit.ensure(
        loaded.last_access == view.last_access && loaded.created == view.created,
        "`update` must store the request's `last_access` and `created`",
    );
}

/// Sixteen tasks, each saving its own field of one session four times from
/// the view they all loaded before any save, while four more touch it with
/// that stale view: every field ends at its last saved value.
pub async fn concurrent_updates_of_different_fields_lose_nothing(fixture: impl StoreFixture) {
    const CHECK: &str = "concurrent_updates_of_different_fields_lose_nothing";
    const WRITERS: usize = 16;
    const TOUCHERS: usize = 4;
    const ROUNDS: usize = 4;
    let fixture = Arc::new(fixture);
    let kit = Probe::new(CHECK, fixture.store());
    let id = SessionId::generate();
    let keys: Vec<String> = (0..WRITERS).map(|i| format!("field{i}")).collect();
    let fields: Vec<(&str, &str)> = keys.iter().map(|key| (key.as_str(), "0")).collect();
    let loaded_by_all = record(&fields);
    kit.create_new(&id, &loaded_by_all).await;

    let mut tasks = JoinSet::new();
    for task in 0..WRITERS + TOUCHERS {
        let (fixture, id, view) = (Arc::clone(&fixture), id.clone(), loaded_by_all.clone());
        let key = keys.get(task).cloned();
        tasks.spawn(async move {
            let kit = Probe::new(CHECK, fixture.store());
            for round in 1..=ROUNDS {
                let mut view = view.clone();
                view.last_access = Some(now_ms());
                match &key {
                    Some(key) => {
                        view.fields.set(key, raw(&round.to_string()));
                        kit.update_live(&id, &view, &[key]).await;
                    }
                    None => kit.touch_live(&id, &view).await,
                }
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => kit.fail(format_args!("a saving task did not finish: {error}")),
            }
        }
    }

    let loaded = kit.load_live(&id, "it was saved concurrently").await;
    for key in &keys {
        kit.expect_field(
            &loaded,
            key,
            &ROUNDS.to_string(),
            "concurrent updates of different fields of one session lost a write",
        );
    }
}

/// `touch` of a live session stores the new `last_access` and cookie
/// settings, and writes none of the (stale) fields of the record it is given.
pub async fn touch_extends_life_without_writing_fields(fixture: impl StoreFixture) {
    let kit = Probe::new("touch_extends_life_without_writing_fields", fixture.store());
    let id = SessionId::generate();
    // Live for a few more seconds only.
    let ending = record_at(&[("a", "1")], now_ms() - HOUR_MS + MARGIN_MS, Some(HOUR_MS));
    kit.create_new(&id, &ending).await;
    let stale = record(&[("a", "0"), ("b", "2")]);
    kit.touch_live(&id, &stale).await;
    let loaded = kit.load_live(&id, "it was touched").await;
    kit.expect_field(&loaded, "a", "1", "`touch` must not write fields");
    kit.expect_no_field(&loaded, "b", "`touch` must not write fields");
    kit.ensure(
        loaded.last_access == stale.last_access && loaded.cookie == stale.cookie,
        "`touch` must store the new `last_access` and cookie settings",
    );
}

/// `touch` after `destroy` returns `Gone` and does not bring the session back.
pub async fn touch_never_resurrects_a_destroyed_session(fixture: impl StoreFixture) {
    let kit = Probe::new(
        "touch_never_resurrects_a_destroyed_session",
        fixture.store(),
    );
    let id = SessionId::generate();
    let view = record(&[("a", "1")]);
    kit.create_new(&id, &view).await;
    kit.destroy(&id).await;
    let touched = kit.touch(&id, &view).await;
    kit.expect_gone(&id, touched, "a touch after destroy").await;
}

/// `touch` of an expired session returns `Gone` and does not make it live again.
pub async fn touch_never_resurrects_an_expired_session(fixture: impl StoreFixture) {
    let kit = Probe::new("touch_never_resurrects_an_expired_session", fixture.store());
    let id = SessionId::generate();
    let expired = record_at(&[("a", "1")], now_ms() - HOUR_MS - MARGIN_MS, Some(HOUR_MS));
    kit.create_new(&id, &expired).await;
    let touched = kit.touch(&id, &record(&[("a", "1")])).await;
    kit.expect_gone(&id, touched, "a touch of an expired session")
        .await;
}

/// `update` and `touch` of an id never stored return `Gone` and store nothing.
pub async fn update_and_touch_never_create_a_session(fixture: impl StoreFixture) {
    let kit = Probe::new("update_and_touch_never_create_a_session", fixture.store());
    let id = SessionId::generate();
    let view = record(&[("a", "1")]);
    let updated = kit.update(&id, &view, &["a"]).await;
    let touched = kit.touch(&id, &view).await;
    kit.expect_gone(&id, touched, "a touch of an id never stored")
        .await;
    kit.expect_gone(&id, updated, "an update of an id never stored")
        .await;
}

/// `destroy` removes a session; `destroy` of an id never stored, or of one
/// already destroyed, is not an error.
pub async fn destroy_of_a_missing_session_is_not_an_error(fixture: impl StoreFixture) {
    let kit = Probe::new(
        "destroy_of_a_missing_session_is_not_an_error",
        fixture.store(),
    );
    kit.destroy(&SessionId::generate()).await;
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("a", "1")])).await;
    kit.destroy(&id).await;
    kit.ensure(
        kit.load(&id).await.is_none(),
        "`load` returned a destroyed session",
    );
    kit.destroy(&id).await;
}

/// A session whose cookie has a max age lives that long after its last
/// access, whether that is longer or shorter than the store's ttl.
pub async fn expiry_follows_original_max_age(fixture: impl StoreFixture) {
    let kit = Probe::new("expiry_follows_original_max_age", fixture.store());
    let (ttl, now) = (kit.ttl_ms(), now_ms());
    let (long, short) = (ttl + 10 * MARGIN_MS, ttl / 2);
    let cases = [
        (
            long,
            now - ttl - MARGIN_MS,
            true,
            "a session within its cookie's max age (longer than the ttl) must be live",
        ),
        (
            long,
            now - long - MARGIN_MS,
            false,
            "a session past its cookie's max age (longer than the ttl) must be expired",
        ),
        (
            short,
            now - short + MARGIN_MS,
            true,
            "a session within its cookie's max age (shorter than the ttl) must be live",
        ),
        (
            short,
            now - short - MARGIN_MS,
            false,
            "a session past its cookie's max age (shorter than the ttl) must be expired, not kept for the ttl",
        ),
    ];
    for (max_age, last_access, live, rule) in cases {
        let session = record_at(&[("a", "1")], last_access, Some(max_age));
        kit.expect_liveness(&session, live, rule).await;
    }
}

/// A session whose cookie has no max age, or a max age of 0, lives the
/// store's ttl after its last access (session-file-store's `originalMaxAge || ttl`).
pub async fn expiry_falls_back_to_ttl_without_max_age(fixture: impl StoreFixture) {
    let kit = Probe::new("expiry_falls_back_to_ttl_without_max_age", fixture.store());
    let (ttl, now) = (kit.ttl_ms(), now_ms());
    let cases = [
        (
            None,
            now - ttl + MARGIN_MS,
            true,
            "a session without max age must live the store's ttl",
        ),
        (
            None,
            now - ttl - MARGIN_MS,
            false,
            "a session without max age must expire the store's ttl after its last access",
        ),
        (
            Some(0),
            now - ttl + MARGIN_MS,
            true,
            "a session with max age 0 must live the store's ttl, not expire at once",
        ),
        (
            Some(0),
            now - ttl - MARGIN_MS,
            false,
            "a session with max age 0 must expire the store's ttl after its last access",
        ),
    ];
    for (max_age, last_access, live, rule) in cases {
        let session = record_at(&[("a", "1")], last_access, max_age);
        kit.expect_liveness(&session, live, rule).await;
    }
}

/// A session loaded while live is not returned by a `load` after it has
/// expired: expiry is checked on every load, not only by a background sweep.
/// Waits about three seconds.
pub async fn expiry_is_checked_on_every_load(fixture: impl StoreFixture) {
    const LIFE_MS: u64 = 3_000;
    let kit = Probe::new("expiry_is_checked_on_every_load", fixture.store());
    let id = SessionId::generate();
    let last_access = now_ms();
    kit.create_new(&id, &record_at(&[("a", "1")], last_access, Some(LIFE_MS)))
        .await;
    let found = kit.load(&id).await.is_some();
    // Only a store this slow could see it expire already.
    if now_ms() + 500 < last_access + LIFE_MS {
        kit.ensure(
            found,
            "`load` of a session within its max age found nothing",
        );
    }
    let expired_at = last_access + LIFE_MS + 100;
    tokio::time::sleep(Duration::from_millis(expired_at.saturating_sub(now_ms()))).await;
    kit.ensure(
        kit.load(&id).await.is_none(),
        "`load` returned a session that expired after it was stored (expiry must be checked on every load)",
    );
}

/// `update` of an expired session, with changed fields or cookie settings
/// alone, returns `Gone` and does not make it live again.
pub async fn update_of_an_expired_session_is_gone(fixture: impl StoreFixture) {
    let kit = Probe::new("update_of_an_expired_session_is_gone", fixture.store());
    let id = SessionId::generate();
    let expired = record_at(&[("a", "1")], now_ms() - HOUR_MS - MARGIN_MS, Some(HOUR_MS));
    kit.create_new(&id, &expired).await;
    let view = record(&[("a", "2")]);
    for changed in [&["a"][..], &[]] {
        let updated = kit.update(&id, &view, changed).await;
        kit.expect_gone(&id, updated, "an update of an expired session")
            .await;
    }
}

/// Keys no schema knows, with values in unusual JSON spellings (spaces,
/// `1.50`, `1e3`, `-0`, big integers, escapes), survive an update of another
/// field and a touch byte for byte.
pub async fn unknown_keys_are_kept_byte_for_byte(fixture: impl StoreFixture) {
    let kit = Probe::new("unknown_keys_are_kept_byte_for_byte", fixture.store());
    const UNKNOWN: [(&str, &str); 8] = [
        ("spaced", r#"{ "b" : 1 ,"a":[1,2 ,3] }"#),
        ("decimal", "1.50"),
        ("exponent", "1e3"),
        ("negative_zero", "-0"),
        ("big_integer", "123456789012345678901234567890"),
        ("escapes", r#""\u0041\/\t""#),
        ("nested", "[null,{},[]]"),
        ("empty_string", r#""""#),
    ];
    let id = SessionId::generate();
    let mut fields = vec![("known", "0")];
    fields.extend(UNKNOWN);
    kit.create_new(&id, &record(&fields)).await;
    // A request whose schema knows only `known`.
    let view = record(&[("known", "1")]);
    kit.update_live(&id, &view, &["known"]).await;
    kit.touch_live(&id, &view).await;
    let loaded = kit.load_live(&id, "it was updated").await;
    kit.expect_field(&loaded, "known", "1", "`update` must write a changed field");
    for (key, value) in UNKNOWN {
        kit.expect_field(
            &loaded,
            key,
            value,
            "a key no schema knows must be kept byte for byte",
        );
    }
}

/// Ids of 128 characters (the longest allowed) work for every operation, and
/// ids that differ only in their last character or only in case name
/// different sessions.
pub async fn ids_at_the_length_limit_are_distinct_and_usable(fixture: impl StoreFixture) {
    let kit = Probe::new(
        "ids_at_the_length_limit_are_distinct_and_usable",
        fixture.store(),
    );
    let prefix = SessionId::generate();
    let filler: String = "-_aZ9".chars().cycle().take(95).collect();
    let ids = ['x', 'y', 'X'].map(|last| {
        SessionId::parse(&format!("{prefix}{filler}{last}")).expect("a valid 128-character id")
    });
    assert_eq!(ids[0].as_str().len(), 128, "the kit's long id");
    for (n, id) in ids.iter().enumerate() {
        kit.create_new(id, &record(&[("n", &n.to_string())])).await;
    }
    for (n, id) in ids.iter().enumerate() {
        let loaded = kit.load_live(id, "a 128-character id was created").await;
        kit.expect_field(
            &loaded,
            "n",
            &n.to_string(),
            "128-character ids differing only in their last character, or only in case, must name different sessions",
        );
    }
    let view = record(&[("n", "7")]);
    kit.update_live(&ids[0], &view, &["n"]).await;
    kit.touch_live(&ids[0], &view).await;
    kit.destroy(&ids[0]).await;
    kit.ensure(
        kit.load(&ids[0]).await.is_none(),
        "`destroy` of a 128-character id left the session",
    );
    for id in &ids[1..] {
        kit.load_live(id, "only a neighbouring id was destroyed")
            .await;
    }
}

/// A session with a 1 MiB field round-trips, and survives an update of another field.
pub async fn a_one_mebibyte_record_round_trips(fixture: impl StoreFixture) {
    const MIB: usize = 1 << 20;
    let kit = Probe::new("a_one_mebibyte_record_round_trips", fixture.store());
    let id = SessionId::generate();
    let mut big = String::with_capacity(MIB);
    big.push('"');
    big.extend(
        "0123456789abcdefghijklmnopqrstuvwxyz"
            .chars()
            .cycle()
            .take(MIB - 2),
    );
    big.push('"');
    let stored = record(&[("big", &big), ("small", "0")]);
    kit.create_new(&id, &stored).await;
    let loaded = kit.load_live(&id, "it was just created").await;
    kit.expect_same(
        &loaded,
        &stored,
        "a 1 MiB session must load as it was stored",
    );
    kit.update_live(&id, &record(&[("small", "1")]), &["small"])
        .await;
    let loaded = kit.load_live(&id, "it was updated").await;
    kit.expect_field(
        &loaded,
        "big",
        &big,
        "`update` of another field must keep a 1 MiB field",
    );
}

/// Non-ASCII keys and values (accents, CJK, emoji, escapes, quotes and line
/// separators in keys) round-trip byte for byte, and through an update.
pub async fn non_ascii_keys_and_values_round_trip(fixture: impl StoreFixture) {
    let kit = Probe::new("non_ascii_keys_and_values_round_trip", fixture.store());
    let id = SessionId::generate();
    let stored = record(&[
        ("café", r#""crème brûlée""#),
        ("日本語", r#""こんにちは""#),
        ("🎉", r#"["🎉","\ud83c\udf89"]"#),
        ("quote\"back\\slash", r#""\"\\""#),
        ("line\nbreak\u{2028}", r#""\u2028 \u0000""#),
        ("ключ", r#"{"вложенный":"значение"}"#),
    ]);
    kit.create_new(&id, &stored).await;
    let loaded = kit.load_live(&id, "it was just created").await;
    kit.expect_same(
        &loaded,
        &stored,
        "non-ASCII keys and values must load as stored",
    );
    let view = record(&[("日本語", r#""さようなら""#)]);
    kit.update_live(&id, &view, &["日本語"]).await;
    let loaded = kit.load_live(&id, "it was updated").await;
    kit.expect_field(
        &loaded,
        "日本語",
        r#""さようなら""#,
        "`update` must write a changed non-ASCII field",
    );
    kit.expect_field(
        &loaded,
        "🎉",
        r#"["🎉","\ud83c\udf89"]"#,
        "`update` must keep other non-ASCII fields",
    );
}

/// Interleaving (a): request A loads a session, request B destroys it (a
/// logout), then A saves: the save returns `Gone` and the session stays gone.
pub async fn update_after_destroy_does_not_recreate(fixture: impl StoreFixture) {
    let kit = Probe::new("update_after_destroy_does_not_recreate", fixture.store());
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("user", "1")])).await;
    let mut late = kit.load_live(&id, "it was just created").await;
    kit.destroy(&id).await;
    late.fields.set("cart", raw("[1]"));
    late.last_access = Some(now_ms());
    let updated = kit.update(&id, &late, &["cart"]).await;
    kit.expect_gone(&id, updated, "an update after destroy")
        .await;
}

/// Interleaving (b): requests A and B load a session; B saves a field; then
/// A saves only a new cookie max age (no changed fields): B's field stays,
/// and the new max age is stored.
pub async fn cookie_only_update_keeps_a_field_saved_meanwhile(fixture: impl StoreFixture) {
    let kit = Probe::new(
        "cookie_only_update_keeps_a_field_saved_meanwhile",
        fixture.store(),
    );
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("n", "0")])).await;
    let mut a = kit.load_live(&id, "it was just created").await;
    let mut b = kit.load_live(&id, "it was just created").await;
    b.fields.set("n", raw("1"));
    b.last_access = Some(now_ms());
    kit.update_live(&id, &b, &["n"]).await;
    a.last_access = Some(now_ms());
    a.cookie.original_max_age = Some(WEEK_MS);
    a.cookie.expires = a.last_access.map(|at| at + WEEK_MS);
    kit.update_live(&id, &a, &[]).await;
    let loaded = kit.load_live(&id, "it was updated").await;
    kit.expect_field(
        &loaded,
        "n",
        "1",
        "a cookie-only update must keep a field another request saved meanwhile",
    );
    kit.ensure(
        loaded.cookie.original_max_age == Some(WEEK_MS),
        "a cookie-only update must store the new cookie max age",
    );
}

/// Interleaving (c): a `create` under an id a live session holds returns
/// `IdTaken` and leaves the stored session exactly as it was: no field of the
/// new record is merged in, no stored field is lost.
pub async fn create_on_a_live_id_does_not_merge(fixture: impl StoreFixture) {
    let kit = Probe::new("create_on_a_live_id_does_not_merge", fixture.store());
    let id = SessionId::generate();
    let first = record(&[("user", r#""ada""#), ("secret", r#""s""#)]);
    kit.create_new(&id, &first).await;
    let mut second = record_at(
        &[("user", r#""eve""#), ("cart", "[1]")],
        now_ms(),
        Some(2 * HOUR_MS),
    );
    second.cookie.path = "/other".to_owned();
    let created = kit.create(&id, &second).await;
    let loaded = kit
        .load_live(&id, "a create on its id must not remove it")
        .await;
    kit.expect_same(
        &loaded,
        &first,
        "a create on a live id must leave the stored session unchanged",
    );
    kit.ensure(
        created == Created::IdTaken,
        "a create on a live id returned `Created::Stored`, not `Created::IdTaken`",
    );
}

/// Exclusive sessions ([`SessionStore::lock`](crate::SessionStore::lock)): a
/// held session cannot be taken again (a short wait gives `None`) while other
/// sessions, stored or not, can; once its lock drops, the next holder gets it.
/// A store without locks must say so: its `lock` fails and
/// `supports_locking` is false.
pub async fn lock_is_exclusive_until_dropped(fixture: impl StoreFixture) {
    let kit = Probe::new("lock_is_exclusive_until_dropped", fixture.store());
    if !kit.locks().await {
        return;
    }
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("n", "0")])).await;
    let held = kit.lock_free(&id, "nothing holds it").await;
    kit.ensure(
        kit.lock(&id, Duration::from_millis(50)).await.is_none(),
        "`lock` took a session another holder still holds",
    );
    let other = kit
        .lock_free(
            &SessionId::generate(),
            "it is another session (not stored: a lock needs none)",
        )
        .await;
    drop(held);
    let again = kit.lock_free(&id, "its holder dropped its lock").await;
    drop((again, other));
}

/// Sixteen tasks in two groups each take one session's lock, read its
/// counter, store it plus one and let go, eight times: with the lock, no
/// increment is lost (the count ends at 128). A waiter whose `lock` future is
/// dropped while it waits leaves the lock free for the next.
pub async fn locked_read_modify_writes_lose_nothing(fixture: impl StoreFixture) {
    const CHECK: &str = "locked_read_modify_writes_lose_nothing";
    const TASKS: u64 = 16;
    const ROUNDS: u64 = 8;
    let fixture = Arc::new(fixture);
    let kit = Probe::new(CHECK, fixture.store());
    if !kit.locks().await {
        return;
    }
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("n", "0")])).await;

    // A waiter given up on leaves nothing behind.
    let held = kit.lock_free(&id, "nothing holds it").await;
    let abandoned = tokio::spawn({
        let (fixture, id) = (Arc::clone(&fixture), id.clone());
        async move {
            let _ = fixture.store().lock(&id, Duration::from_secs(60)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    abandoned.abort();
    let _ = abandoned.await;
    drop(held);
    drop(
        kit.lock_free(&id, "its holder dropped it and the other waiter gave up")
            .await,
    );

    let mut tasks = JoinSet::new();
    for _ in 0..TASKS {
        let (fixture, id) = (Arc::clone(&fixture), id.clone());
        tasks.spawn(async move {
            let kit = Probe::new(CHECK, fixture.store());
            for _ in 0..ROUNDS {
                let lock = kit
                    .lock_free(&id, "its holders let go after one increment")
                    .await;
                let mut view = kit.load_live(&id, "it was created").await;
                let n: u64 = view
                    .fields
                    .get("n")
                    .and_then(|value| value.get().parse().ok())
                    .unwrap_or_else(|| kit.fail("the counter field `n` is not a number"));
                // A handler's work between its read and its write: where
                // another request would slip in without the lock.
                tokio::time::sleep(Duration::from_millis(1)).await;
                view.fields.set("n", raw(&(n + 1).to_string()));
                view.last_access = Some(now_ms());
                let update = Update::new(&view, &["n"]).under(Some(&lock));
                match fixture.store().update(&id, update).await {
                    Ok(Updated::Stored) => {}
                    Ok(Updated::Gone) => {
                        kit.fail("`update` of a live, locked session returned `Updated::Gone`")
                    }
                    Err(error) => kit.fail(format_args!(
                        "`update` under a held lock returned an error: {error}"
                    )),
                }
                drop(lock);
                tokio::task::yield_now().await;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined {
            match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => kit.fail(format_args!("a locking task did not finish: {error}")),
            }
        }
    }
    let loaded = kit.load_live(&id, "it was saved under its lock").await;
    kit.expect_field(
        &loaded,
        "n",
        &(TASKS * ROUNDS).to_string(),
        "read-modify-writes of one field, each under the session's lock, lost an increment",
    );
}

/// Flash fields (`Update::taken`): an update removes a field it took only
/// while the stored value is still the one it saw; a value another request
/// stored meanwhile stays, and so do the fields the update did not name.
pub async fn update_removes_a_taken_flash_only_if_unchanged(fixture: impl StoreFixture) {
    let kit = Probe::new(
        "update_removes_a_taken_flash_only_if_unchanged",
        fixture.store(),
    );
    let seen = raw(r#""saved""#);
    let taken = [("notice", &*seen)];
    let id = SessionId::generate();
    kit.create_new(&id, &record(&[("notice", r#""saved""#), ("n", "1")]))
        .await;
    let mut view = record(&[("n", "1")]);
    view.created = None;
    let updated = kit
        .store_update(&id, Update::new(&view, &[]).taking(&taken))
        .await;
    kit.ensure(
        updated == Updated::Stored,
        "an update of a live session was not stored",
    );
    let loaded = kit.load_live(&id, "it was updated").await;
    kit.ensure(
        loaded.fields.get("notice").is_none(),
        "a taken flash still holding the value seen was not removed",
    );
    kit.expect_field(
        &loaded,
        "n",
        "1",
        "a field the update did not name must stay",
    );

    let other = SessionId::generate();
    kit.create_new(&other, &record(&[("notice", r#""newer""#)]))
        .await;
    let updated = kit
        .store_update(&other, Update::new(&view, &[]).taking(&taken))
        .await;
    kit.ensure(
        updated == Updated::Stored,
        "an update of a live session was not stored",
    );
    let loaded = kit.load_live(&other, "it was updated").await;
    kit.expect_field(
        &loaded,
        "notice",
        r#""newer""#,
        "a taken flash removed a newer value another request stored",
    );
}

/// Ids sorted as [`Probe::index_members`] returns them.
fn sorted(mut ids: Vec<SessionId>) -> Vec<SessionId> {
    ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    ids
}

/// Indexes ([`SessionStore::index_insert`](crate::SessionStore::index_insert)):
/// the ids recorded under a value are exactly those inserted under it and not
/// removed, whatever the value's text (quotes, slashes, dots, non-ASCII, a
/// kilobyte); values and keys never mix; inserting twice and removing what is
/// not there are not errors; the keys with entries are listed. A store
/// without indexes must say so: its index methods fail and
/// `supports_indexes` is false.
pub async fn index_keeps_exactly_the_inserted_ids(fixture: impl StoreFixture) {
    let kit = Probe::new("index_keeps_exactly_the_inserted_ids", fixture.store());
    if !kit.indexes().await {
        return;
    }
    // Keys of this check's own, so that checks sharing a server do not meet.
    let key = format!("user{}", SessionId::generate().as_str());
    let other_key = format!("team{}", SessionId::generate().as_str());
    let long = format!("\"{}\"", "x".repeat(1024));
    let values = [
        r#""alice""#,
        r#""ali/ce\\..""#,
        r#""ælice ✓""#,
        "42",
        long.as_str(),
    ];
    let mut expected = Vec::new();
    for value in values {
        let ids = [SessionId::generate(), SessionId::generate()];
        for id in &ids {
            kit.index_insert(IndexEntry::new(&key, value), id).await;
        }
        // Twice is once.
        kit.index_insert(IndexEntry::new(&key, value), &ids[0])
            .await;
        expected.push((value, sorted(ids.to_vec())));
    }
    let elsewhere = SessionId::generate();
    kit.index_insert(IndexEntry::new(&other_key, r#""alice""#), &elsewhere)
        .await;
    for (value, ids) in &expected {
        kit.ensure(
            kit.index_members(IndexEntry::new(&key, value)).await == *ids,
            format_args!("`index_members` of {key}={value:.40} are not the ids inserted under it"),
        );
    }
    kit.ensure(
        kit.index_members(IndexEntry::new(&other_key, r#""alice""#))
            .await
            == vec![elsewhere.clone()],
        "the same value under another key shares its entries",
    );
    kit.ensure(
        kit.index_members(IndexEntry::new(&key, r#""nobody""#))
            .await
            .is_empty(),
        "a value never inserted has members",
    );
    let keys = kit.index_keys().await;
    kit.ensure(
        keys.contains(&key) && keys.contains(&other_key),
        format_args!(
            "`index_keys` does not list the keys with entries ({} keys listed)",
            keys.len()
        ),
    );

    let (value, ids) = &expected[0];
    kit.index_remove(
        IndexEntry::new(&key, value),
        &[ids[0].clone(), SessionId::generate()],
    )
    .await;
    kit.ensure(
        kit.index_members(IndexEntry::new(&key, value)).await == vec![ids[1].clone()],
        "`index_remove` did not remove exactly the ids given",
    );
    kit.index_remove(IndexEntry::new(&key, value), &[ids[1].clone()])
        .await;
    kit.ensure(
        kit.index_members(IndexEntry::new(&key, value))
            .await
            .is_empty(),
        "an entry removed is still listed",
    );
    // Leave nothing behind on a shared server.
    for (value, ids) in &expected {
        kit.index_remove(IndexEntry::new(&key, value), ids).await;
    }
    kit.index_remove(IndexEntry::new(&other_key, r#""alice""#), &[elsewhere])
        .await;
}

/// Indexes under concurrency: sixteen tasks insert, and half of them then
/// remove, their own ids under one value at once; the value's members are
/// then exactly the ids inserted and not removed (no insert lost to another,
/// no removal taking another's entry).
pub async fn concurrent_index_writes_lose_nothing(fixture: impl StoreFixture) {
    const CHECK: &str = "concurrent_index_writes_lose_nothing";
    let fixture = Arc::new(fixture);
    let kit = Probe::new(CHECK, fixture.store());
    if !kit.indexes().await {
        return;
    }
    let key: Arc<str> = format!("user{}", SessionId::generate().as_str()).into();
    let mut tasks = JoinSet::new();
    for n in 0..16 {
        let (fixture, key) = (Arc::clone(&fixture), Arc::clone(&key));
        tasks.spawn(async move {
            let kit = Probe::new(CHECK, fixture.store());
            let entry = IndexEntry::new(&key, r#""shared""#);
            let id = SessionId::generate();
            kit.index_insert(entry, &id).await;
            if n % 2 == 0 {
                kit.index_remove(entry, std::slice::from_ref(&id)).await;
                None
            } else {
                Some(id)
            }
        });
    }
    let mut kept = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(id) => kept.extend(id),
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }
    let entry = IndexEntry::new(&key, r#""shared""#);
    kit.ensure(
        kit.index_members(entry).await == sorted(kept.clone()),
        "concurrent inserts and removals under one value lost an entry or kept a removed one",
    );
    kit.index_remove(entry, &kept).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryStore;
    use crate::record::Record;
    use crate::store::{SessionStore, StoreError, Update, Updated};

    /// A memory store with one contract bug, to show the checks catch it.
    struct Buggy {
        inner: MemoryStore,
        bug: Bug,
    }

    #[derive(PartialEq)]
    enum Bug {
        CreateMerges,
        UpdateRecreates,
        UpdateWritesEveryField,
        /// Its `lock` hands out a lock that excludes nothing.
        LockExcludesNothing,
        /// Its `lock` works, but it says it has none.
        LockUnannounced,
        /// Its index keeps one id per value: the last inserted.
        IndexKeepsLastId,
        /// Its index files every value of a key together.
        IndexIgnoresValue,
        /// Its index is a read-modify-write of the whole list, unlocked.
        IndexRacesItself,
    }

    fn buggy(bug: Bug) -> Buggy {
        Buggy {
            inner: MemoryStore::new(),
            bug,
        }
    }

    impl Buggy {
        /// The entry the bug files `entry` under.
        fn filed<'a>(&self, entry: IndexEntry<'a>) -> IndexEntry<'a> {
            match self.bug {
                Bug::IndexIgnoresValue => IndexEntry::new(entry.key, "0"),
                _ => entry,
            }
        }
    }

    impl SessionStore for Buggy {
        async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
            self.inner.load(id).await
        }

        async fn create(&self, id: &SessionId, record: &Record) -> Result<Created, StoreError> {
            let created = self.inner.create(id, record).await?;
            if created == Created::IdTaken && self.bug == Bug::CreateMerges {
                let keys: Vec<&str> = record.fields.iter().map(|(key, _)| key).collect();
                let _ = self.inner.update(id, Update::new(record, &keys)).await?;
            }
            Ok(created)
        }

        async fn update(&self, id: &SessionId, update: Update<'_>) -> Result<Updated, StoreError> {
            let keys: Vec<&str> = update.record.fields.iter().map(|(key, _)| key).collect();
            let update = match self.bug {
                Bug::UpdateWritesEveryField => Update::new(update.record, &keys),
                _ => update,
            };
            let updated = self.inner.update(id, update).await?;
            if updated == Updated::Gone && self.bug == Bug::UpdateRecreates {
                let _ = self.inner.create(id, update.record).await?;
            }
            Ok(updated)
        }

        async fn destroy(&self, id: &SessionId) -> Result<(), StoreError> {
            self.inner.destroy(id).await
        }

        fn ttl(&self) -> Duration {
            self.inner.ttl()
        }

        fn supports_locking(&self) -> bool {
            self.bug != Bug::LockUnannounced
        }

        async fn lock(
            &self,
            id: &SessionId,
            wait: Duration,
        ) -> Result<Option<crate::store::SessionLock>, StoreError> {
            match self.bug {
                Bug::LockExcludesNothing => Ok(Some(crate::store::SessionLock::new(()))),
                _ => self.inner.lock(id, wait).await,
            }
        }

        fn supports_indexes(&self) -> bool {
            true
        }

        async fn index_insert(
            &self,
            entry: IndexEntry<'_>,
            id: &SessionId,
        ) -> Result<(), StoreError> {
            let entry = self.filed(entry);
            match self.bug {
                Bug::IndexKeepsLastId => {
                    let old = self.inner.index_members(entry).await?;
                    self.inner.index_remove(entry, &old).await?;
                }
                Bug::IndexRacesItself => {
                    // Read the list, yield, write it back whole.
                    let mut list = self.inner.index_members(entry).await?;
                    tokio::task::yield_now().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    list.push(id.clone());
                    let now = self.inner.index_members(entry).await?;
                    self.inner.index_remove(entry, &now).await?;
                    for id in &list {
                        self.inner.index_insert(entry, id).await?;
                    }
                    return Ok(());
                }
                _ => {}
            }
            self.inner.index_insert(entry, id).await
        }

        async fn index_remove(
            &self,
            entry: IndexEntry<'_>,
            ids: &[SessionId],
        ) -> Result<(), StoreError> {
            self.inner.index_remove(self.filed(entry), ids).await
        }

        async fn index_members(&self, entry: IndexEntry<'_>) -> Result<Vec<SessionId>, StoreError> {
            self.inner.index_members(self.filed(entry)).await
        }

        async fn index_keys(&self) -> Result<Vec<String>, StoreError> {
            self.inner.index_keys().await
        }
    }

    #[tokio::test]
    #[should_panic(expected = "the kit needs at least")]
    async fn a_store_with_a_short_ttl_is_refused() {
        let store = MemoryStore::new().with_ttl(Duration::from_secs(1));
        load_returns_what_was_created(store).await;
    }

    #[tokio::test]
    #[should_panic(expected = "check `create_on_a_live_id_does_not_merge`: \
                               a create on a live id must leave the stored session unchanged")]
    async fn a_create_that_merges_is_caught() {
        create_on_a_live_id_does_not_merge(buggy(Bug::CreateMerges)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "an update after destroy recreated the session")]
    async fn an_update_that_recreates_is_caught() {
        update_after_destroy_does_not_recreate(buggy(Bug::UpdateRecreates)).await;
    }

    #[tokio::test]
    #[should_panic(
        expected = "a cookie-only update must keep a field another request saved meanwhile"
    )]
    async fn a_cookie_only_update_that_writes_stale_fields_is_caught() {
        cookie_only_update_keeps_a_field_saved_meanwhile(buggy(Bug::UpdateWritesEveryField)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "concurrent updates of different fields of one session lost a write")]
    async fn an_update_that_writes_stale_fields_loses_concurrent_writes() {
        concurrent_updates_of_different_fields_lose_nothing(buggy(Bug::UpdateWritesEveryField))
            .await;
    }

    #[tokio::test]
    #[should_panic(expected = "`lock` took a session another holder still holds")]
    async fn a_lock_that_excludes_nothing_is_caught() {
        lock_is_exclusive_until_dropped(buggy(Bug::LockExcludesNothing)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "lost an increment")]
    async fn a_lock_that_excludes_nothing_loses_increments() {
        locked_read_modify_writes_lose_nothing(buggy(Bug::LockExcludesNothing)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "`supports_locking` is false, but `lock` returned a lock")]
    async fn a_lock_the_store_does_not_announce_is_caught() {
        lock_is_exclusive_until_dropped(buggy(Bug::LockUnannounced)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "are not the ids inserted under it")]
    async fn an_index_that_keeps_one_id_per_value_is_caught() {
        index_keeps_exactly_the_inserted_ids(buggy(Bug::IndexKeepsLastId)).await;
    }

    #[tokio::test]
    #[should_panic(expected = "are not the ids inserted under it")]
    async fn an_index_that_ignores_values_is_caught() {
        index_keeps_exactly_the_inserted_ids(buggy(Bug::IndexIgnoresValue)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[should_panic(expected = "lost an entry or kept a removed one")]
    async fn an_index_that_races_itself_is_caught() {
        concurrent_index_writes_lose_nothing(buggy(Bug::IndexRacesItself)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_store_passes_every_check() {
        super::super::run_all(|| async { MemoryStore::new() }).await;
    }
}
