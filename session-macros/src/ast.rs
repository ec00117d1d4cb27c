//! Reads the derive input into a schema description, collecting attribute errors.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Expr, Fields, Ident, LitStr, Path, Token, Type, Visibility};

use crate::ctxt::Ctxt;

/// A struct that derives `Session`.
pub(crate) struct Schema<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) fields: Vec<Field<'a>>,
    /// `#[session(crate = path)]`, for crates that re-export session-runtime.
    pub(crate) krate: Option<Path>,
}

/// One named field and its `#[session(...)]` attributes.
pub(crate) struct Field<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) ty: &'a Type,
    pub(crate) default: Option<Attr<Expr>>,
    pub(crate) rename: Option<Attr<LitStr>>,
    pub(crate) aliases: Vec<LitStr>,
    pub(crate) skip: Option<Span>,
    /// `#[session(index)]`: the key's token.
    pub(crate) index: Option<Ident>,
    /// `#[session(flash)]`: the key's token.
    pub(crate) flash: Option<Ident>,
}

/// An attribute value and the span of the key that introduced it.
pub(crate) struct Attr<T> {
    pub(crate) key: Ident,
    pub(crate) value: T,
}

impl Field<'_> {
    /// The key this field is stored under.
    pub(crate) fn stored_key(&self) -> String {
        match &self.rename {
            Some(rename) => rename.value.value(),
            None => unraw(self.ident),
        }
    }
}

/// `r#type` is stored as `type`, as serde does.
pub(crate) fn unraw(ident: &Ident) -> String {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(stripped) => stripped.to_owned(),
        None => name,
    }
}

const FIELD_KEYS: &str = "`default`, `rename`, `alias`, `skip`, `index` or `flash`";

impl<'a> Schema<'a> {
    /// Parses the input; `None` when its shape is unusable (not a struct with named fields).
    pub(crate) fn from_input(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let krate = parse_container_attrs(cx, input);
        if !input.generics.params.is_empty() {
            cx.error_spanned_by(
                &input.generics,
                "`#[derive(Session)]` does not support generic parameters or lifetimes: \
                 a session is decoded from the store, so its schema must be a concrete type that owns its data; \
                 use concrete, owned field types (`String` rather than `&'a str`, `Vec<Item>` rather than `Vec<T>`)",
            );
        }
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(unnamed) => {
                    cx.error_spanned_by(
                        unnamed,
                        "`#[derive(Session)]` needs named fields: each field is stored under its name; \
                         write `struct Name { field: Type }`",
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        input,
                        "`#[derive(Session)]` needs a struct with named fields; a unit struct has nothing to store: \
                         write `struct Name { field: Type }`",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                #[allow(
                    clippy::needless_borrows_for_generic_args,
                    reason = "the token is Copy only when syn's clone-impls feature is on, as it is in the workspace build"
                )]
                cx.error_spanned_by(
                    &data.enum_token,
                    "`#[derive(Session)]` supports only structs with named fields, not enums; \
                     wrap the enum in a struct field: `struct MySession { state: MyEnum }`",
                );
                return None;
            }
            Data::Union(data) => {
                #[allow(
                    clippy::needless_borrows_for_generic_args,
                    reason = "the token is Copy only when syn's clone-impls feature is on, as it is in the workspace build"
                )]
                cx.error_spanned_by(
                    &data.union_token,
                    "`#[derive(Session)]` supports only structs with named fields, not unions; \
                     use a struct: `struct MySession { field: Type }`",
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .map(|field| parse_field(cx, field))
            .collect();
        Some(Schema {
            ident: &input.ident,
            vis: &input.vis,
            fields,
            krate,
        })
    }
}

fn parse_container_attrs(cx: &mut Ctxt, input: &DeriveInput) -> Option<Path> {
    let mut krate: Option<Path> = None;
    for attr in session_attrs(cx, &input.attrs) {
        let result = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value = meta.value()?;
                let path: Path = value.parse().map_err(|_| {
                    syn::Error::new(
                        value.span(),
                        "`crate` takes a path, not a string: write `crate = ::path::to::session_runtime`",
                    )
                })?;
                if krate.is_some() {
                    cx.error_spanned_by(
                        &meta.path,
                        "duplicate `crate` attribute: name the path to session-runtime once",
                    );
                } else {
                    krate = Some(path);
                }
                Ok(())
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    format!(
                        "unknown `session` attribute `{}` on the struct: the struct takes only \
                         `crate = path`; `default`, `rename`, `alias`, `skip`, `index` and `flash` go on fields",
                        path_name(&meta.path)
                    ),
                );
                skip_value(&meta)
            }
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    krate
}

fn parse_field<'a>(cx: &mut Ctxt, field: &'a syn::Field) -> Field<'a> {
    let mut out = Field {
        ident: field.ident.as_ref().expect("named fields have identifiers"),
        ty: &field.ty,
        default: None,
        rename: None,
        aliases: Vec::new(),
        skip: None,
        index: None,
        flash: None,
    };
    for attr in session_attrs(cx, &field.attrs) {
        let result = attr.parse_nested_meta(|meta| {
            let Some(key) = meta.path.get_ident().cloned() else {
                cx.error_spanned_by(
                    &meta.path,
                    format!("unknown `session` attribute; expected {FIELD_KEYS}"),
                );
                return skip_value(&meta);
            };
            match key.to_string().as_str() {
                "default" => {
                    if !meta.input.peek(Token![=]) {
                        cx.error_spanned_by(
                            &key,
                            "`default` needs a value: write `default = expr`; \
                             without the attribute the field starts at `Default::default()`",
                        );
                        return skip_value(&meta);
                    }
                    let value: Expr = meta.value()?.parse()?;
                    set_once(cx, &mut out.default, key, value);
                }
                "rename" => {
                    let value = parse_key_literal(&meta, &key)?;
                    set_once(cx, &mut out.rename, key, value);
                }
                "alias" => out.aliases.push(parse_key_literal(&meta, &key)?),
                "skip" => {
                    if meta.input.peek(Token![=]) {
                        cx.error_spanned_by(
                            &key,
                            "`skip` takes no value: write `#[session(skip)]`",
                        );
                        skip_value(&meta)?;
                    } else if out.skip.is_some() {
                        cx.error_spanned_by(&key, "duplicate `skip` attribute: write it once");
                    } else {
                        out.skip = Some(key.span());
                    }
                }
                "index" | "flash" => {
                    let slot = if key == "index" {
                        &mut out.index
                    } else {
                        &mut out.flash
                    };
                    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                        cx.error_spanned_by(
                            &key,
                            format!("`{key}` takes no value: write `#[session({key})]`"),
                        );
                        skip_value(&meta)?;
                    } else if slot.is_some() {
                        cx.error_spanned_by(
                            &key,
                            format!("duplicate `{key}` attribute: write it once"),
                        );
                    } else {
                        *slot = Some(key);
                    }
                }
                other => {
                    cx.error_spanned_by(
                        &key,
                        format!("unknown `session` attribute `{other}`; expected {FIELD_KEYS}"),
                    );
                    skip_value(&meta)?;
                }
            }
            Ok(())
        });
        if let Err(error) = result {
            cx.syn_error(error);
        }
    }
    out
}

/// The `#[session(...)]` attributes among `attrs`; `#[session]` and
/// `#[session = ...]` are reported and left out.
fn session_attrs<'a>(cx: &mut Ctxt, attrs: &'a [syn::Attribute]) -> Vec<&'a syn::Attribute> {
    let mut list = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("session")) {
        if let syn::Meta::List(_) = attr.meta {
            list.push(attr);
        } else {
            cx.error_spanned_by(
                &attr.meta,
                "`session` takes its attributes in parentheses: write `#[session(rename = \"key\")]`, \
                 `#[session(default = expr)]`, `#[session(alias = \"old\")]` or `#[session(skip)]`",
            );
        }
    }
    list
}

/// `rename = "key"` and `alias = "key"` take a string literal.
fn parse_key_literal(meta: &syn::meta::ParseNestedMeta<'_>, key: &Ident) -> syn::Result<LitStr> {
    let value = meta.value()?;
    let expr: Expr = value.parse()?;
    match expr {
        Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(lit),
            ..
        }) => Ok(lit),
        other => Err(syn::Error::new(
            other.span(),
            format!("`{key}` takes a string literal: write `{key} = \"stored_key\"`"),
        )),
    }
}

fn set_once<T>(cx: &mut Ctxt, slot: &mut Option<Attr<T>>, key: Ident, value: T) {
    if slot.is_some() {
        let advice = if key == "rename" {
            "a field is stored under one key; keep one `rename`, and use `alias = \"old\"` to also read an older key"
        } else {
            "keep one"
        };
        cx.error_spanned_by(&key, format!("duplicate `{key}` attribute: {advice}"));
    } else {
        *slot = Some(Attr { key, value });
    }
}

/// Consumes `= value` after an unknown key so that parsing continues with the next key.
fn skip_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.parse_nested_meta(|inner| skip_value(&inner))?;
    }
    Ok(())
}

fn path_name(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}
