//! Checks that look at several attributes or fields at once.

use std::collections::HashMap;

use proc_macro2::Span;

use crate::ast::{Field, Schema, unraw};
use crate::ctxt::Ctxt;

/// Stored keys the runtime uses for its own data, as express-session and
/// session-file-store do.
const RESERVED: &[(&str, &str)] = &[
    (
        "cookie",
        "express-session keeps the cookie's settings under it",
    ),
    (
        "__lastAccess",
        "the file store keeps the last access time under it",
    ),
    (
        "__created",
        "the layer keeps the creation time under it for `absolute_timeout`",
    ),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Name,
    Rename,
    Alias,
}

pub(crate) fn check(cx: &mut Ctxt, schema: &Schema<'_>) {
    // stored key -> (field name, span of what produced the key)
    let mut seen: HashMap<String, (String, Span)> = HashMap::new();
    for field in &schema.fields {
        check_index_and_flash(cx, field);
        if field.skip.is_some() {
            if let Some(default) = &field.default {
                cx.error_spanned_by(
                    &default.key,
                    "`default` has no effect on a `skip` field, which always takes `Default::default()`; \
                     remove one of the two",
                );
            }
            if let Some(rename) = &field.rename {
                cx.error_spanned_by(
                    &rename.key,
                    "`rename` has no effect on a `skip` field, which is never stored; remove one of the two",
                );
            }
            if let Some(alias) = field.aliases.first() {
                cx.error_spanned_by(
                    alias,
                    "`alias` has no effect on a `skip` field, which is never read from the store; remove one of the two",
                );
            }
            continue;
        }
        // Where each key comes from: the field's name, its `rename`, or an `alias`.
        let source = if field.rename.is_some() {
            Source::Rename
        } else {
            Source::Name
        };
        let key_span = match &field.rename {
            Some(rename) => rename.value.span(),
            None => field.ident.span(),
        };
        let stored_key = field.stored_key();
        let mut keys = vec![(stored_key.clone(), key_span, source)];
        keys.extend(
            field
                .aliases
                .iter()
                .map(|a| (a.value(), a.span(), Source::Alias)),
        );
        let name = unraw(field.ident);
        for (position, (key, span, source)) in keys.into_iter().enumerate() {
            if key.is_empty() {
                let attr = if source == Source::Alias {
                    "alias"
                } else {
                    "rename"
                };
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "`{attr}` cannot be empty: write the stored key, as in `{attr} = \"key\"`"
                    ),
                ));
                continue;
            }
            if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| *reserved == key) {
                let advice = match source {
                    Source::Name => "store the field under another key with \
                                     `#[session(rename = \"...\")]`, or rename the field"
                        .to_owned(),
                    Source::Rename => "choose another key in `rename`".to_owned(),
                    Source::Alias => "remove this `alias`".to_owned(),
                };
                cx.syn_error(syn::Error::new(
                    span,
                    format!("`{key}` is a reserved session key ({why}); {advice}"),
                ));
                continue;
            }
            if position > 0 && key == stored_key {
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "`alias = \"{key}\"` is the stored key of `{name}` itself; \
                         the field is read from it anyway: remove the `alias`"
                    ),
                ));
                continue;
            }
            if let Some((other, _)) = seen.get(&key) {
                if *other == name {
                    cx.syn_error(syn::Error::new(
                        span,
                        format!("duplicate `alias = \"{key}\"` on `{name}`: write it once"),
                    ));
                    continue;
                }
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "fields `{other}` and `{name}` are both stored under the key `{key}`; {}",
                        if source == Source::Alias {
                            "remove this `alias`, or give one of the fields another key with `rename`"
                        } else {
                            "give one of them another key with `#[session(rename = \"...\")]`"
                        }
                    ),
                ));
            } else {
                seen.insert(key, (name.clone(), span));
            }
        }
    }
}

/// `index` and `flash` against the field's other attributes and its type as
/// written.
fn check_index_and_flash(cx: &mut Ctxt, field: &Field<'_>) {
    if field.skip.is_some() {
        for key in field.index.iter().chain(&field.flash) {
            cx.syn_error(syn::Error::new(
                key.span(),
                format!("`{key}` has no effect on a `skip` field, which is never stored; remove one of the two"),
            ));
        }
        return;
    }
    if let Some(alias) = field.aliases.first() {
        if field.index.is_some() {
            cx.error_spanned_by(
                alias,
                "an indexed field cannot have an `alias`: a session that holds the value under the \
                 old key has no index entry for it, and \"log out everywhere\" would miss it; \
                 remove the `alias` (sessions are indexed when they next store the field, or at `cycle_id`)",
            );
        }
        if field.flash.is_some() {
            cx.error_spanned_by(
                alias,
                "a flash field cannot have an `alias`: a flash lives for one request, so there is \
                 no older key to read; remove the `alias`",
            );
        }
    }
    if let (Some(index), Some(_)) = (&field.index, &field.flash) {
        cx.error_spanned_by(
            index,
            "a flash field cannot be indexed: its value lives for one request; \
             index a field that holds the value for the session's life (`user: Option<String>`), \
             and remove `index` or `flash` here",
        );
    }
    if let (Some(default), Some(_)) = (&field.default, &field.flash) {
        cx.error_spanned_by(
            &default.key,
            "a flash field has no `default`: it is empty in every request that did not receive a value, \
             and a default would be shown as if an earlier request had set it; remove `default`",
        );
    }
    if field.flash.is_none() && names_flash(field.ty) {
        cx.error_spanned_by(
            field.ty,
            "a `Flash<T>` field needs `#[session(flash)]`: add it above the field, \
             so that the value is removed once the next request has seen it",
        );
    }
}

/// Whether `ty` is written as `Flash<...>` (or `session_runtime::Flash<...>`).
fn names_flash(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Flash"),
        _ => false,
    }
}
