//! The stub impl emitted beside errors, so that a mistake in the schema does not
//! also surface as "`SessionSchema` is not implemented" wherever the type is used.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

pub(crate) fn expand(input: &DeriveInput, krate: &TokenStream) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        #[allow(unused_qualifications, clippy::all)]
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::SessionSchema for #ident #ty_generics #where_clause {
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
