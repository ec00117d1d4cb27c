//! Writes the `SessionSchema` impl: parse → check → expand.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, Type};

use crate::ast::{Schema, unraw};
use crate::ctxt::Ctxt;
use crate::{check, fallback};

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let schema = Schema::from_input(&mut cx, input);
    if let Some(schema) = &schema {
        check::check(&mut cx, schema);
    }
    let krate = match schema.as_ref().and_then(|s| s.krate.as_ref()) {
        Some(path) => quote!(#path),
        None => quote!(::session_runtime),
    };
    let mut tokens = match (cx.finish(), schema) {
        (Ok(()), Some(schema)) => expand(&schema, &krate),
        (Err(errors), _) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback::expand(input, &krate));
            tokens
        }
        (Ok(()), None) => unreachable!("an unusable input always records an error"),
    };
    tokens.extend(serde_attributes(input, &krate));
    tokens
}

/// `Session` declares `serde` as a helper attribute so that `#[serde(...)]`
/// reaches it: each is an error on its `serde` unless the struct also derives
/// serde's `Serialize` or `Deserialize`, which then owns it. Only the type
/// system can tell: `#[derive(Session, Serialize)]` hides `Serialize` from
/// this macro. See `SerdeDerive` in `session_runtime::__private`.
fn serde_attributes(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    let mut attrs: Vec<&syn::Attribute> = input.attrs.iter().collect();
    if let syn::Data::Struct(data) = &input.data {
        attrs.extend(data.fields.iter().flat_map(|field| &field.attrs));
    }
    let ident = &input.ident;
    let checks: Vec<TokenStream> = attrs
        .into_iter()
        .filter(|attr| attr.path().is_ident("serde"))
        .map(|attr| {
            let span = attr.path().span();
            let private = respan(quote!(#krate::__private), span);
            quote_spanned! {span=>
                let owner = (&&&#private::Probe::<#ident>::NEW).serde_derive();
                #private::serde_attribute(owner);
            }
        })
        .collect();
    if checks.is_empty() || !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    let private = quote!(#krate::__private);
    quote! {
        #[allow(dead_code, non_snake_case, unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            fn __session_serde_attributes() {
                use #private::{SerdeViaDeserialize as _, SerdeViaNothing as _, SerdeViaSerialize as _};
                #({ #checks })*
            }
        };
    }
}

/// Gives every token the span `span`, so that what rustc reports about the
/// tokens points at the user's code they stand for.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = TokenTree::Group(inner);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}

/// The spans of the first and the last token of `ty`.
///
/// On stable a proc macro cannot join spans, so `ty.span()` is only the first
/// token's. Code that puts the tokens before the type on the first span and
/// those after it on the last gets an expression or bound whose span rustc
/// computes from end to end: the whole type is underlined.
fn type_ends(ty: &Type) -> (Span, Span) {
    fn last(tokens: TokenStream) -> Option<Span> {
        tokens.into_iter().last().map(|token| match token {
            TokenTree::Group(group) => group.span_close(),
            other => other.span(),
        })
    }
    let tokens = ty.to_token_stream();
    let first =
        tokens
            .clone()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |token| match token {
                TokenTree::Group(group) => group.span_open(),
                other => other.span(),
            });
    (first, last(tokens).unwrap_or(first))
}

/// `before #ty after`, spanned so that rustc reports on the whole type.
fn around_type(before: TokenStream, ty: &Type, after: TokenStream) -> TokenStream {
    let (first, last) = type_ends(ty);
    let mut tokens = respan(before, first);
    ty.to_tokens(&mut tokens);
    tokens.extend(respan(after, last));
    tokens
}

/// How many types deep `ty` can be, at most, as written: one per `<` or `[`.
fn nesting_depth(ty: &Type) -> usize {
    fn count(tokens: TokenStream) -> usize {
        tokens
            .into_iter()
            .map(|token| match token {
                TokenTree::Punct(punct) if punct.as_char() == '<' => 1,
                TokenTree::Group(group) => {
                    usize::from(group.delimiter() == proc_macro2::Delimiter::Bracket)
                        + count(group.stream())
                }
                _ => 0,
            })
            .sum()
    }
    count(ty.to_token_stream())
}

fn expand(schema: &Schema<'_>, krate: &TokenStream) -> TokenStream {
    let ident = schema.ident;
    let private = quote!(#krate::__private);
    let type_name = ident.to_string();

    let mut helpers = Vec::new();
    let mut default_inits = Vec::new();
    let mut decode_inits = Vec::new();
    let mut visits = Vec::new();
    let mut keys = Vec::new();
    let mut send_bounds = Vec::new();
    let mut indexed = Vec::new();
    let mut flash = Vec::new();
    let mut index_fns = Vec::new();

    for (index, field) in schema.fields.iter().enumerate() {
        let name = field.ident;
        let ty = field.ty;
        let default_fn = format_ident!("__session_default_{}", index);
        let default_body = match &field.default {
            // Spanned on the user's expression, so a type mismatch points at it.
            Some(default) => {
                let expr = &default.value;
                quote_spanned!(expr.span()=> #expr)
            }
            // Spanned on the field type: a type without `Default` is reported there.
            None => around_type(
                quote!(<),
                ty,
                quote!(as #private::FieldDefault>::field_default()),
            ),
        };
        helpers.push(quote! {
            fn #default_fn() -> #ty {
                #default_body
            }
        });
        default_inits.push(quote!(#name: #default_fn()));

        // The schema is `Send`: each field type must be. Checked here, on the
        // field type, so the struct's own `Send` follows and is not reported.
        send_bounds.push(around_type(quote!(), ty, quote!(: ::core::marker::Send)));

        if field.skip.is_some() {
            decode_inits.push(quote!(#name: #default_fn()));
            continue;
        }
        let key = field.stored_key();
        let aliases = field.aliases.iter().map(syn::LitStr::value);
        let field_name = unraw(name);
        if field.flash.is_some() {
            // Its type must be `Flash<T>`: one check, on the whole type. It is
            // stored through serde like any field (see `Flash`'s serde impls).
            let check_fn = format_ident!("__session_flash_{}", index);
            let check = around_type(quote!(#private::flash_field::<), ty, quote!(>()));
            helpers.push(quote! {
                #[allow(dead_code)]
                fn #check_fn() {
                    #check
                }
            });
            flash.push(key.clone());
        }
        if field.index.is_some() {
            send_bounds.push(around_type(quote!(), ty, quote!(: #krate::IndexKey)));
            let function = format_ident!("{}_index", field_name);
            let doc = format!(
                "The index of `{field_name}` (`#[session(index)]`): the sessions holding a value of it, \
                 through [`Sessions`]({krate_path}::Sessions).",
                krate_path = krate.to_string().replace(' ', ""),
            );
            let vis = schema.vis;
            index_fns.push(quote! {
                #[doc = #doc]
                #[must_use]
                #vis fn #function() -> #krate::Index<Self, #ty> {
                    #krate::Index::__new(#key)
                }
            });
            indexed.push(key.clone());
        }
        // The one check of the field type against serde; the opaque codec
        // spares the call sites below any bound on it. The probe finds the
        // element type the error's note names. rustc points the error at the
        // turbofish, on the whole field type, and labels the derive as the
        // call that asks for the bound (see `session_runtime::__private`).
        let codec_fn = format_ident!("__session_codec_{}", index);
        let codec_type = around_type(quote!(impl #private::FieldCodec<), ty, quote!(>));
        let peels = (0..nesting_depth(ty) + 2).map(|_| quote!(let inner = (&&inner).peel();));
        helpers.push(quote! {
            fn #codec_fn() -> #codec_type {
                use #private::{PeelContainer as _, PeelLeaf as _};
                let inner = #private::Probe::<#ty>::NEW;
                #(#peels)*
                inner.codec::<#ty, _>()
            }
        });
        decode_inits.push(quote! {
            #name: #private::FieldCodec::decode(
                &#codec_fn(),
                fields,
                #type_name,
                #field_name,
                &[#key #(, #aliases)*],
                #default_fn,
            )
        });
        visits.push(quote! {
            #private::FieldVisitor::field(visitor, &#private::Encode(&self.#name, #codec_fn()));
        });
        keys.push(key);
    }

    quote! {
        #[allow(non_snake_case, unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            #(#helpers)*

            #[automatically_derived]
            impl #krate::SessionSchema for #ident
            where
                #(#send_bounds,)*
            {
                const KEYS: &'static [&'static str] = &[#(#keys),*];
                const INDEXED: &'static [&'static str] = &[#(#indexed),*];
                const FLASH: &'static [&'static str] = &[#(#flash),*];

                fn default_session() -> Self {
                    Self { #(#default_inits),* }
                }

                fn decode_session(fields: &#private::Fields) -> Self {
                    Self { #(#decode_inits),* }
                }

                fn visit_fields<V: #private::FieldVisitor>(&self, visitor: &mut V) {
                    #(#visits)*
                }
            }

            #[automatically_derived]
            impl #ident {
                #(#index_fns)*
            }
        };
    }
}
