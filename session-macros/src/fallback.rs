//! The stub impl emitted beside errors, so that a mistake in the schema does not
//! also surface as "`SessionSchema` is not implemented" wherever the type is used.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    // A generic input is already an error; bounding the stub by what the trait
    // requires keeps rustc from adding "`T` cannot be sent" or lifetime errors.
    let mut predicates: Vec<TokenStream> = where_clause
        .iter()
        .flat_map(|w| w.predicates.iter())
        .map(|p| quote!(#p))
        .collect();
    if !input.generics.params.is_empty() {
        predicates.push(quote!(Self: ::core::marker::Send + 'static));
    }
    quote! {
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::SessionSchema for #ident #ty_generics where #(#predicates),* {
                const KEYS: &'static [&'static str] = &[];
                fn default_session() -> Self {
                    ::core::unreachable!()
                }
                fn decode_session(_: &#krate::__private::Fields) -> Self {
                    ::core::unreachable!()
                }
                fn visit_fields<V: #krate::__private::FieldVisitor>(&self, _: &mut V) {}
            }
        };
    }
}
