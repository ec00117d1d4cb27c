//! Checks that look at several attributes or fields at once.

use std::collections::HashMap;

use proc_macro2::Span;

use crate::ast::{Schema, unraw};
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
];

pub(crate) fn check(cx: &mut Ctxt, schema: &Schema<'_>) {
    // stored key -> (field name, span of what produced the key)
    let mut seen: HashMap<String, (String, Span)> = HashMap::new();
    for field in &schema.fields {
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
        let key_span = match &field.rename {
            Some(rename) => rename.value.span(),
            None => field.ident.span(),
        };
        let mut keys = vec![(field.stored_key(), key_span)];
        keys.extend(field.aliases.iter().map(|a| (a.value(), a.span())));
        for (key, span) in keys {
            if key.is_empty() {
                cx.syn_error(syn::Error::new(span, "a stored key cannot be empty"));
                continue;
            }
            if let Some((_, why)) = RESERVED.iter().find(|(reserved, _)| *reserved == key) {
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "`{key}` is a reserved session key ({why}); \
                         rename the field or add `#[session(rename = \"...\")]`"
                    ),
                ));
                continue;
            }
            let name = unraw(field.ident);
            if let Some((other, _)) = seen.get(&key) {
                cx.syn_error(syn::Error::new(
                    span,
                    format!(
                        "fields `{other}` and `{name}` are both stored under the key `{key}`; \
                         give one of them another `rename` or `alias`"
                    ),
                ));
            } else {
                seen.insert(key, (name, span));
            }
        }
    }
}
