//! The end-of-request decision, as a pure function: given what the request
//! did to its session and the layer's options, what to do with the store and
//! with the cookie. express-session's `shouldSave`, `shouldTouch` and
//! `shouldSetCookie`, with two differences: a touch happens at most once per
//! half lifetime, and a cookie-settings change always re-sends the cookie.

use crate::config::Unset;

/// What happened to the session in this request beyond which fields changed:
/// the facts express-session keeps in `isModified`, its cookie hash and its
/// `saved` flag, each named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Marks {
    /// Something changed in this request, written since or not (express's
    /// `isModified`): a field, the cookie settings or the id.
    pub(crate) modified: bool,
    /// The cookie settings changed in this request: the cookie is re-sent.
    pub(crate) cookie_changed: bool,
    /// The store lacks the current cookie settings or the creation stamp: a
    /// write is due even if no field changed.
    pub(crate) meta_unsaved: bool,
    /// `save()` wrote the session during this request.
    pub(crate) saved_early: bool,
    /// The handler called `touch()`.
    pub(crate) touch_requested: bool,
}

impl Marks {
    /// A field changed.
    pub(crate) fn field_changed(&mut self) {
        self.modified = true;
    }

    /// The cookie settings changed: they are saved and the cookie re-sent.
    pub(crate) fn cookie_changed(&mut self) {
        self.modified = true;
        self.cookie_changed = true;
        self.meta_unsaved = true;
    }

    /// The session got a new id (`regenerate`, `cycle_id`): it is new again.
    pub(crate) fn id_changed(&mut self) {
        self.modified = true;
        self.meta_unsaved = true;
        self.saved_early = false;
    }

    /// The creation time was stamped on a session stored without one.
    pub(crate) fn stamped(&mut self) {
        self.meta_unsaved = true;
    }

    /// `save()` wrote everything pending.
    pub(crate) fn written(&mut self) {
        self.meta_unsaved = false;
        self.saved_early = true;
    }
}

/// How the session ended before the end of the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The handler called `destroy()`.
    Destroyed,
    /// The handler called `unset()`.
    Unset,
    /// Another request destroyed it (or it expired) while this one used it.
    Gone,
    /// The store failed to load it and the layer serves the request without
    /// its session ([`OnStoreError::ServeWithoutSession`](crate::OnStoreError)).
    Detached,
}

/// Everything the decision depends on, read off the request's session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Situation {
    pub(crate) ended: Option<End>,
    /// express's "new session": no stored session was loaded under the id the
    /// cookie will carry (no cookie, an unknown id, or a new id from
    /// `regenerate`/`cycle_id`).
    pub(crate) is_new: bool,
    /// The store holds the session under its current id: loaded under it, or
    /// created under it by `save()` in this request.
    pub(crate) persisted: bool,
    /// A session was loaded from the store for this request.
    pub(crate) loaded: bool,
    /// The request carried a cookie with the session's name, valid or not.
    pub(crate) had_cookie: bool,
    /// Some field changed since the session was loaded or last written.
    pub(crate) fields_unsaved: bool,
    pub(crate) marks: Marks,
    /// The cookie has a lifetime (`Expires`), not a browser-session one.
    pub(crate) cookie_has_expiry: bool,
    /// The cookie is `Secure` and the request did not come over HTTPS.
    pub(crate) cookie_needs_https: bool,
    /// How long the session lives after its last access, in milliseconds.
    pub(crate) lifetime_ms: u64,
    /// When it was last written or touched, in milliseconds since the epoch.
    pub(crate) last_access_ms: u64,
    pub(crate) now_ms: u64,
}

/// The layer's options that the decision reads.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Policy {
    pub(crate) resave: bool,
    pub(crate) save_uninitialized: bool,
    pub(crate) rolling: bool,
    pub(crate) unset: Unset,
}

/// What to do with the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreAction {
    Nothing,
    /// Store the whole record under a new id (only if the id is free).
    Create,
    /// Merge this request's changed fields and metadata into the stored session.
    Update,
    /// Extend the stored session's life, fields untouched.
    Touch,
    /// Remove the session under every id it is stored under.
    Destroy,
}

/// What to do with the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CookieAction {
    /// Send no `Set-Cookie`.
    None,
    /// Send the signed id with the session's cookie settings.
    Set,
    /// Tell the browser to drop the cookie (`Expires` in 1970).
    Clear,
    /// The cookie would be sent, but it is `Secure` and the request came
    /// over plain HTTP, so it is not (as express).
    Withheld,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) store: StoreAction,
    pub(crate) cookie: CookieAction,
}

impl Decision {
    /// Whether the store write stamps a new access time.
    pub(crate) fn writes(self) -> bool {
        matches!(
            self.store,
            StoreAction::Create | StoreAction::Update | StoreAction::Touch
        )
    }

    /// Whether the cookie's expiry restarts from now (express touches the
    /// cookie whenever it saves, touches or sends it).
    pub(crate) fn restarts_lifetime(self) -> bool {
        self.writes() || self.cookie == CookieAction::Set
    }
}

/// The end-of-request decision.
pub(crate) fn decide(s: &Situation, policy: &Policy) -> Decision {
    let stored = s.loaded || s.persisted;
    match s.ended {
        Some(End::Destroyed) => {
            return Decision {
                store: if stored {
                    StoreAction::Destroy
                } else {
                    StoreAction::Nothing
                },
                cookie: if s.had_cookie || s.loaded {
                    CookieAction::Clear
                } else {
                    CookieAction::None
                },
            };
        }
        Some(End::Unset) => {
            return Decision {
                store: if stored && policy.unset == Unset::Destroy {
                    StoreAction::Destroy
                } else {
                    StoreAction::Nothing
                },
                cookie: CookieAction::None,
            };
        }
        Some(End::Gone | End::Detached) => {
            return Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::None,
            };
        }
        None => {}
    }

    let m = s.marks;
    let unsaved = s.fields_unsaved || m.meta_unsaved;
    // express's shouldSave: a new session only once modified (unless
    // saveUninitialized); otherwise whatever the store lacks, or always with resave.
    let save = if s.is_new && !policy.save_uninitialized && !m.saved_early {
        m.modified
    } else if m.saved_early || !policy.resave {
        unsaved || (s.is_new && !m.saved_early)
    } else {
        true
    };
    // express's shouldSetCookie, plus: a cookie-settings change is always re-sent (express #452).
    let wants_cookie = if s.is_new {
        policy.save_uninitialized || m.modified
    } else {
        policy.rolling || m.cookie_changed || (s.cookie_has_expiry && m.modified)
    };
    let cookie = match (wants_cookie, s.cookie_needs_https) {
        (false, _) => CookieAction::None,
        (true, false) => CookieAction::Set,
        (true, true) => CookieAction::Withheld,
    };
    // A loaded session that is not saved is touched when a new cookie goes out
    // (so the store outlives the browser's cookie), when the handler asked, or
    // when half its lifetime has passed: read-heavy traffic then costs almost
    // no store writes.
    let half_life_passed = s.now_ms.saturating_sub(s.last_access_ms) >= s.lifetime_ms / 2;
    let touch = !s.is_new
        && !save
        && (cookie == CookieAction::Set || m.touch_requested || half_life_passed);
    let store = if save {
        if s.persisted {
            StoreAction::Update
        } else if cookie == CookieAction::Withheld && s.is_new && !m.saved_early {
            // No browser will ever send this session's id back: storing it
            // would leave an orphan per request (express stores it anyway).
            StoreAction::Nothing
        } else {
            StoreAction::Create
        }
    } else if touch {
        StoreAction::Touch
    } else {
        StoreAction::Nothing
    };
    Decision { store, cookie }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;
    const NOW: u64 = 1_800_000_000_000;

    /// The four ways a request can find its session, as express-session's tests do.
    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Origin {
        /// No cookie: a new session.
        NoCookie,
        /// A validly signed cookie naming nothing in the store.
        UnknownSid,
        /// A stored session, just written.
        LoadedFresh,
        /// A stored session last written more than half its lifetime ago.
        LoadedOld,
    }

    impl Origin {
        fn situation(self, modified: bool, max_age: bool) -> Situation {
            let loaded = matches!(self, Origin::LoadedFresh | Origin::LoadedOld);
            let mut marks = Marks::default();
            if modified {
                marks.field_changed();
            }
            Situation {
                ended: None,
                is_new: !loaded,
                persisted: loaded,
                loaded,
                had_cookie: self != Origin::NoCookie,
                fields_unsaved: modified,
                marks,
                cookie_has_expiry: max_age,
                cookie_needs_https: false,
                lifetime_ms: MINUTE,
                last_access_ms: if self == Origin::LoadedOld {
                    NOW - MINUTE * 6 / 10
                } else {
                    NOW
                },
                now_ms: NOW,
            }
        }
    }

    /// express-session's shouldSave / shouldTouch / shouldSetCookie with a
    /// store that has `touch`, written out independently of `decide`.
    fn express(
        origin: Origin,
        modified: bool,
        policy: Policy,
        max_age: bool,
    ) -> (bool, bool, bool) {
        match origin {
            Origin::NoCookie | Origin::UnknownSid => {
                let keep = policy.save_uninitialized || modified;
                (keep, false, keep)
            }
            Origin::LoadedFresh | Origin::LoadedOld => {
                let save = policy.resave || modified;
                (save, !save, policy.rolling || (max_age && modified))
            }
        }
    }

    /// The whole table: 4 origins × modified × resave × saveUninitialized ×
    /// rolling × maxAge. Ours is express's, except that an unmodified loaded
    /// session is touched only when its cookie is re-sent or it is past half
    /// its lifetime.
    #[test]
    fn the_decision_table_is_express_sessions_with_a_lazy_touch() {
        let mut cases = 0;
        for origin in [
            Origin::NoCookie,
            Origin::UnknownSid,
            Origin::LoadedFresh,
            Origin::LoadedOld,
        ] {
            for bits in 0..32u8 {
                let [modified, resave, save_uninitialized, rolling, max_age] =
                    [0, 1, 2, 3, 4].map(|i| bits & (1 << i) != 0);
                let policy = Policy {
                    resave,
                    save_uninitialized,
                    rolling,
                    unset: Unset::Keep,
                };
                let (save, express_touch, set_cookie) = express(origin, modified, policy, max_age);
                let touch = express_touch && (set_cookie || origin == Origin::LoadedOld);
                let expected = Decision {
                    store: match (save, touch, origin) {
                        (true, _, Origin::NoCookie | Origin::UnknownSid) => StoreAction::Create,
                        (true, _, _) => StoreAction::Update,
                        (false, true, _) => StoreAction::Touch,
                        (false, false, _) => StoreAction::Nothing,
                    },
                    cookie: if set_cookie {
                        CookieAction::Set
                    } else {
                        CookieAction::None
                    },
                };
                let got = decide(&origin.situation(modified, max_age), &policy);
                assert_eq!(
                    got, expected,
                    "{origin:?} modified={modified} {policy:?} maxAge={max_age}"
                );
                cases += 1;
            }
        }
        assert_eq!(cases, 128);
    }

    fn loaded() -> Situation {
        Origin::LoadedFresh.situation(false, true)
    }

    #[test]
    fn a_cookie_settings_change_is_saved_and_re_sent_even_without_a_max_age() {
        let mut s = Origin::LoadedFresh.situation(false, false);
        s.marks.cookie_changed();
        let d = decide(&s, &Policy::default());
        assert_eq!(d.store, StoreAction::Update);
        assert_eq!(d.cookie, CookieAction::Set);
    }

    #[test]
    fn the_creation_stamp_alone_is_an_update_not_a_create() {
        let mut s = loaded();
        s.marks.stamped();
        let d = decide(&s, &Policy::default());
        assert_eq!(d.store, StoreAction::Update);
        assert_eq!(d.cookie, CookieAction::None);
    }

    #[test]
    fn a_new_id_is_created_and_sent() {
        let mut s = loaded();
        s.is_new = true;
        s.persisted = false;
        s.marks.id_changed();
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Create,
                cookie: CookieAction::Set
            }
        );
    }

    #[test]
    fn after_an_early_save_only_later_changes_are_written() {
        // A new session saved by `save()`, then nothing: no second write, but the cookie goes out.
        let mut s = Origin::NoCookie.situation(true, false);
        s.persisted = true;
        s.fields_unsaved = false;
        s.marks.written();
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::Set
            }
        );
        // A later change is an update of the session `save()` created.
        s.fields_unsaved = true;
        assert_eq!(decide(&s, &Policy::default()).store, StoreAction::Update);
    }

    #[test]
    fn a_requested_touch_touches_a_fresh_session() {
        let mut s = loaded();
        assert_eq!(decide(&s, &Policy::default()).store, StoreAction::Nothing);
        s.marks.touch_requested = true;
        assert_eq!(decide(&s, &Policy::default()).store, StoreAction::Touch);
    }

    #[test]
    fn the_touch_comes_at_exactly_half_the_lifetime() {
        let mut s = loaded();
        s.last_access_ms = NOW - MINUTE / 2 + 1;
        assert_eq!(decide(&s, &Policy::default()).store, StoreAction::Nothing);
        s.last_access_ms = NOW - MINUTE / 2;
        assert_eq!(decide(&s, &Policy::default()).store, StoreAction::Touch);
    }

    #[test]
    fn a_new_session_whose_secure_cookie_is_withheld_is_not_stored() {
        let mut s = Origin::NoCookie.situation(true, true);
        s.cookie_needs_https = true;
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::Withheld
            }
        );
        let save_all = Policy {
            save_uninitialized: true,
            ..Policy::default()
        };
        assert_eq!(decide(&s, &save_all).store, StoreAction::Nothing);
        // A loaded session (its browser has the cookie) is still saved.
        let mut s = Origin::LoadedFresh.situation(true, true);
        s.cookie_needs_https = true;
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Update,
                cookie: CookieAction::Withheld
            }
        );
    }

    #[test]
    fn destroy_clears_the_cookie_of_a_session_the_browser_knows() {
        let mut s = loaded();
        s.ended = Some(End::Destroyed);
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Destroy,
                cookie: CookieAction::Clear
            }
        );
        // A new session destroyed in its first request: nothing stored, no cookie to clear.
        let mut s = Origin::NoCookie.situation(true, true);
        s.ended = Some(End::Destroyed);
        let d = decide(&s, &Policy::default());
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::None
            }
        );
        // An unknown cookie is cleared too.
        let mut s = Origin::UnknownSid.situation(false, false);
        s.ended = Some(End::Destroyed);
        assert_eq!(decide(&s, &Policy::default()).cookie, CookieAction::Clear);
    }

    #[test]
    fn unset_removes_only_when_the_layer_says_so_and_never_sends_a_cookie() {
        let mut s = Origin::LoadedOld.situation(true, true);
        s.ended = Some(End::Unset);
        let keep = decide(&s, &Policy::default());
        assert_eq!(
            keep,
            Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::None
            }
        );
        let destroy = Policy {
            unset: Unset::Destroy,
            ..Policy::default()
        };
        assert_eq!(decide(&s, &destroy).store, StoreAction::Destroy);
    }

    #[test]
    fn a_session_gone_meanwhile_gets_neither_write_nor_cookie() {
        let mut s = Origin::LoadedFresh.situation(true, true);
        s.ended = Some(End::Gone);
        let everything = Policy {
            resave: true,
            save_uninitialized: true,
            rolling: true,
            unset: Unset::Destroy,
        };
        let d = decide(&s, &everything);
        assert_eq!(
            d,
            Decision {
                store: StoreAction::Nothing,
                cookie: CookieAction::None
            }
        );
    }
}
