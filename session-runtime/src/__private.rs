//! What `#[derive(Session)]` expands to names. Not public API: no semver guarantees.
//!
//! # One error per unfit field type
//!
//! For each stored field the derive writes one function,
//! `fn codec() -> impl FieldCodec<FieldType> { codec::<FieldType, _>() }`,
//! spanned on the field's type, and reaches serde only through the returned
//! codec. `codec` asks for `FieldType: StoredField<_>`, which has two impls:
//! the serde one and one that no type can meet. With two impls in play, rustc
//! tries each impl's bounds and, when both fail, reports the unmet
//! `StoredField` itself (this trait's message, once, on the field type)
//! instead of each unmet serde bound (`Serialize`, then `Deserialize`). The
//! opaque return type hides the choice, so the decode and encode call sites
//! need nothing of the field type and add no error of their own.
//!
//! `Send` (the schema trait requires `Send + 'static`) is checked by a
//! `FieldType: Send` bound in the impl's `where` clause, spanned on the field's
//! type: the struct's own `Send` then follows from it, so the struct name gets
//! no second error.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::record::Fields;
pub use crate::schema::{FieldVisitor, decode_field};

/// Marks the serde impl of [`StoredField`].
pub enum Serde {}

/// Marks the impl of [`StoredField`] that no type meets.
pub enum Unreachable {}

/// Implemented by no type; bounds the second impl of [`StoredField`].
pub trait Never: Sized {
    /// Never called.
    fn serialize_never<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    /// Never called.
    fn deserialize_never<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

/// A field type that can be stored in a session: serde's `Serialize` and `Deserialize`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session: it does not implement serde's `Serialize` and `Deserialize`",
    label = "this field's type is not serializable",
    note = "derive `serde::Serialize` and `serde::Deserialize` on `{Self}` (serde with its `derive` feature), \
            store a type that implements them (`String`, numbers, `Vec`, `Option`, maps, ...), \
            or mark the field `#[session(skip)]`"
)]
pub trait StoredField<M>: Sized {
    /// Encodes the value through serde.
    fn serialize_field<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error>;
    /// Decodes the value through serde.
    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error>;
}

impl<T: Serialize + DeserializeOwned> StoredField<Serde> for T {
    fn serialize_field<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize(serializer)
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer)
    }
}

impl<T: Never> StoredField<Unreachable> for T {
    fn serialize_field<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serialize_never(serializer)
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_never(deserializer)
    }
}

/// Decodes and encodes one field's type; see the module docs.
pub trait FieldCodec<T> {
    /// [`decode_field`] for this type.
    fn decode(
        &self,
        fields: &Fields,
        schema: &'static str,
        field: &'static str,
        keys: &[&'static str],
        default: fn() -> T,
    ) -> T;

    /// Encodes `value`.
    fn encode<S: Serializer>(&self, value: &T, serializer: S) -> Result<S::Ok, S::Error>;
}

/// The codec of a field type that implements `StoredField<M>`.
pub struct Codec<M>(PhantomData<fn() -> M>);

/// The codec of `T`; the one place a field type's bound is checked.
#[must_use]
pub fn codec<T: StoredField<M>, M>() -> Codec<M> {
    Codec(PhantomData)
}

impl<T: StoredField<M>, M> FieldCodec<T> for Codec<M> {
    fn decode(
        &self,
        fields: &Fields,
        schema: &'static str,
        field: &'static str,
        keys: &[&'static str],
        default: fn() -> T,
    ) -> T {
        decode_field(fields, schema, field, keys, || {
            Decode(default(), PhantomData)
        })
        .0
    }

    fn encode<S: Serializer>(&self, value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize_field(serializer)
    }
}

/// A stored field as [`Deserialize`], for [`decode_field`].
struct Decode<T, M>(T, PhantomData<fn() -> M>);

impl<'de, T: StoredField<M>, M> Deserialize<'de> for Decode<T, M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize_field(deserializer).map(|value| Decode(value, PhantomData))
    }
}

/// A stored field as [`Serialize`], for [`FieldVisitor::field`].
pub struct Encode<'a, T, C>(pub &'a T, pub C);

impl<T, C: FieldCodec<T>> Serialize for Encode<'_, T, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.1.encode(self.0, serializer)
    }
}

/// The start value of a field without `#[session(default = ...)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no default value for a new session",
    label = "this field needs a start value",
    note = "a field without `#[session(default = expr)]` starts at `Default::default()`: \
            implement `Default` for `{Self}`, or give the field `#[session(default = expr)]` \
            (a `skip` field always needs `Default`)"
)]
pub trait FieldDefault {
    /// `Default::default()`.
    fn field_default() -> Self;
}

impl<T: Default> FieldDefault for T {
    fn field_default() -> Self {
        T::default()
    }
}
