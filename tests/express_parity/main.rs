//! express-session 1.19's own test suite (`test/session.js`, `test/cookie.js`;
//! see the reference's section 2), ported to a real axum app: one module per
//! express `describe` block, one test per case, named after the case
//! (`rolling option` › "should force cookie on unmodified session" is
//! `options::rolling::force_cookie_on_unmodified_session`).
//! `tests/PARITY.md` maps every express case to a test here, or says why it
//! does not apply or how we deliberately differ; `parity_md` keeps it honest.
//!
//! express's harness defaults to `cookie: {maxAge: 60000}` with `resave` and
//! `saveUninitialized` true; ours default to no max age and false/false, so
//! every test sets the options it depends on explicitly.

#[path = "../support/mod.rs"]
mod support;

mod harness;

mod session;
mod when_response_ended;
mod when_session_expired_in_store;
mod when_session_without_cookie_property_in_store;
mod when_sid_not_in_store;
mod when_sid_not_properly_signed;

mod options;
mod res_end_patch;

mod req_session;

mod new_cookie;

mod decision_table;
mod parity_md;
