//! `cookie option`: one module per nested block. Its `cookie is a function`
//! block has no counterpart (PARITY.md rows 47 and 48).

mod path;
mod same_site_auto;
mod secure_auto;
