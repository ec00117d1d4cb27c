//! The `#[derive(Session)]` macro for `session-runtime`.
//!
//! Do not depend on this crate directly: use `session_runtime::Session`, which
//! re-exports the derive and documents its attributes.
//!
//! The pipeline follows thiserror's: `ast` reads the input and collects
//! every attribute error, `check` validates what needs several attributes at
//! once, `expand` writes the impl. On any error the user gets the errors plus
//! a stub impl (`fallback`) so that no "trait not implemented" cascade
//! follows elsewhere in their crate.

mod ast;
mod check;
mod ctxt;
mod expand;
mod fallback;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `session_runtime::SessionSchema`. See `session_runtime::Session`.
#[proc_macro_derive(Session, attributes(session, serde))]
pub fn derive_session(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
