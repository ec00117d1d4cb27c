//! The end of the request: decide, write the store, then set the cookie, all
//! before the response head leaves (a client that follows a redirect always
//! finds the saved session).

use std::sync::atomic::{AtomicBool, Ordering};

use http::header::SET_COOKIE;
use http::{HeaderValue, Response, StatusCode};

use super::decide::{CookieAction, Decision, Policy, Situation, StoreAction, decide};
use super::persist::Written;
use super::{Active, Phase, RequestSession};
use crate::config::OnStoreError;
use crate::cookie;
use crate::error::{NOT_SAVED_BODY, STORE_ERROR_BODY, SessionError, plain_response, unavailable};
use crate::store::{SessionLock, lifetime_ms};
use crate::time::now_ms;

impl RequestSession {
    /// What the decision needs to know about `active`.
    fn situation(&self, active: &Active, now_ms: u64) -> Situation {
        let cookie = &active.record.cookie;
        Situation {
            ended: active.ended,
            is_new: active.is_new(),
            persisted: active.persisted,
            loaded: active.loaded_id.is_some(),
            had_cookie: self.had_cookie,
            fields_unsaved: !active.changed.is_empty() || active.takes_any(),
            marks: active.marks,
            cookie_has_expiry: cookie.has_expiry(),
            cookie_needs_https: cookie.secure == Some(true) && !self.secure_request,
            lifetime_ms: lifetime_ms(&active.record, self.store.ttl()),
            last_access_ms: active.record.last_access.unwrap_or(0),
            now_ms,
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            resave: self.config.resave,
            save_uninitialized: self.config.save_uninitialized,
            rolling: self.config.rolling,
            unset: self.config.unset,
        }
    }

    /// Decides, writes the store and sets the cookie.
    pub(crate) async fn finalize<B: From<&'static str>>(
        &self,
        mut response: Response<B>,
    ) -> Response<B> {
        let mut active = match std::mem::replace(&mut *self.lock(), Phase::Finalized) {
            Phase::Active(active) => active,
            // No handler asked for the session: nothing was read, nothing changes.
            Phase::Unloaded | Phase::Finalized => return response,
        };
        // An exclusive session is given back when this function returns:
        // after the save, before the response (and its body) leaves.
        let hold = self.release();
        if let Some(failure) = &active.failure {
            tracing::error!(error = %failure, "session not saved");
            return plain_response(StatusCode::INTERNAL_SERVER_ERROR, NOT_SAVED_BODY);
        }
        let now = now_ms();
        let decision = decide(&self.situation(&active, now), &self.policy());
        match self
            .perform(&mut active, decision, now, hold.as_deref())
            .await
        {
            Ok(Performed::Done) => {}
            // Ended by another request meanwhile: no cookie brings it back.
            Ok(Performed::Gone) => return response,
            Err(error) => {
                tracing::error!(%error, "the session was not saved");
                return match (&error, self.config.on_store_error) {
                    (SessionError::Store(_), OnStoreError::ServiceUnavailable { retry_after }) => {
                        unavailable(retry_after)
                    }
                    // The handler's answer stands, without the session cookie.
                    (SessionError::Store(_), OnStoreError::ServeWithoutSession) => response,
                    (SessionError::Store(_), _) => {
                        plain_response(StatusCode::INTERNAL_SERVER_ERROR, STORE_ERROR_BODY)
                    }
                    _ => plain_response(StatusCode::INTERNAL_SERVER_ERROR, NOT_SAVED_BODY),
                };
            }
        }
        let config = &self.config;
        match decision.cookie {
            CookieAction::None => {}
            CookieAction::Withheld => warn_withheld(),
            CookieAction::Set => {
                let signed = config.secrets.sign(active.id().as_str());
                append_cookie(
                    &mut response,
                    &cookie::set_cookie(&config.name, &signed, &active.record.cookie),
                );
            }
            CookieAction::Clear => append_cookie(
                &mut response,
                &cookie::clear_cookie(&config.name, &active.record.cookie),
            ),
        }
        response
    }

    /// Does the store half of `decision`; `Gone` if another request ended
    /// the session meanwhile.
    async fn perform(
        &self,
        active: &mut Active,
        decision: Decision,
        now: u64,
        hold: Option<&SessionLock>,
    ) -> Result<Performed, SessionError> {
        if decision.restarts_lifetime() {
            active.record.cookie.touch(now);
        }
        if decision.writes() {
            active.record.last_access = Some(now);
        }
        let written = match decision.store {
            StoreAction::Nothing => return Ok(Performed::Done),
            StoreAction::Destroy => {
                self.remove(&active.stored_ids(), hold, &active.record)
                    .await?;
                return Ok(Performed::Done);
            }
            StoreAction::Touch => {
                let id = active.id().clone();
                self.touch_stored(id, &active.record).await?
            }
            StoreAction::Create | StoreAction::Update => {
                let id = active.id().clone();
                let persisted = decision.store == StoreAction::Update;
                if !persisted {
                    self.stamp_created(&mut active.record, now);
                }
                let taken = active.taken();
                self.write(id, persisted, &active.record, &active.changed, &taken, hold)
                    .await?
            }
        };
        Ok(match written {
            Written::Stored(id) => {
                active.id = Some(id);
                Performed::Done
            }
            Written::Gone => Performed::Gone,
        })
    }
}

/// A `Secure` cookie is never sent over plain HTTP. Said once as a warning
/// (then at debug level): with in-process TLS or a proxy that is not
/// trusted, it is why no session ever sticks.
fn warn_withheld() {
    static SAID: AtomicBool = AtomicBool::new(false);
    let message = "the session cookie is `Secure` but this request did not come over HTTPS, so no cookie \
                   was sent (and a new session was not stored); behind a TLS-terminating proxy, turn on \
                   `SessionLayer::proxy(true)`; with TLS in this process, requests must carry the \
                   `https` scheme in their URI";
    if SAID.swap(true, Ordering::Relaxed) {
        tracing::debug!("{message}");
    } else {
        tracing::warn!("{message}");
    }
}

/// How the store half of a decision went.
enum Performed {
    Done,
    /// Another request ended the session meanwhile; nothing was written.
    Gone,
}

fn append_cookie<B>(response: &mut Response<B>, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            response.headers_mut().append(SET_COOKIE, value);
        }
        // Names, domains and paths are validated when the layer is built, and the
        // signed value is percent-encoded, so this cannot happen; say so if it does.
        Err(error) => tracing::error!(%error, "session cookie is not a valid header value"),
    }
}
