//! Writes the `SessionSchema` impl: parse → check → expand.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use crate::ast::Schema;
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
    match (cx.finish(), schema) {
        (Ok(()), Some(schema)) => expand(&schema, &krate),
        (Err(errors), _) => {
            let mut tokens = errors.to_compile_error();
            tokens.extend(fallback::expand(input, &krate));
            tokens
        }
        (Ok(()), None) => unreachable!("an unusable input always records an error"),
    }
}

fn expand(schema: &Schema<'_>, krate: &TokenStream) -> TokenStream {
    let ident = schema.ident;
    let private = quote!(#krate::__private);
    let type_name = ident.to_string();

    let mut default_fns = Vec::new();
    let mut default_inits = Vec::new();
    let mut decode_inits = Vec::new();
    let mut visits = Vec::new();
    let mut keys = Vec::new();

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
            None => quote_spanned!(ty.span()=> ::core::default::Default::default()),
        };
        default_fns.push(quote! {
            #[allow(clippy::default_trait_access)]
            fn #default_fn() -> #ty {
                #default_body
            }
        });
        default_inits.push(quote!(#name: #default_fn()));

        if field.skip.is_some() {
            decode_inits.push(quote!(#name: #default_fn()));
            continue;
        }
        let key = field.stored_key();
        let aliases = field.aliases.iter().map(syn::LitStr::value);
        let field_name = crate::ast::unraw(name);
        // Spanned on the field type, so a type that cannot be stored is reported there.
        decode_inits.push(quote_spanned! {ty.span()=>
            #name: #private::decode_field::<#ty>(
                fields,
                #type_name,
                #field_name,
                &[#key #(, #aliases)*],
                #default_fn,
            )
        });
        visits.push(quote_spanned! {ty.span()=>
            #private::FieldVisitor::field(visitor, &self.#name);
        });
        keys.push(key);
    }

    quote! {
        #[allow(non_snake_case, unused_qualifications, clippy::all, clippy::pedantic)]
        const _: () = {
            #(#default_fns)*

            #[automatically_derived]
            impl #krate::SessionSchema for #ident {
                const KEYS: &'static [&'static str] = &[#(#keys),*];

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
        };
    }
}
