//! What `#[derive(Session)]` expands to names. Not public API: no semver guarantees.
//!
//! # One error per unfit field type
//!
//! For each stored field the derive writes one function:
//!
//! ```text
//! fn codec() -> impl FieldCodec<FieldType> {
//!     let inner = Probe::<FieldType>::NEW;
//!     let inner = (&&inner).peel(); // as often as the type can nest: see `Probe`
//!     inner.codec::<FieldType, _>()
//! }
//! ```
//!
//! The call to [`Probe::codec`] is the one obligation on the field type that
//! can fail: `FieldType: StoredField<M, Inner>`, reported on the turbofish,
//! which the derive spans on the field's type. `StoredField` has two impls,
//! the serde one and one that no type can meet, so when both fail rustc
//! reports the unmet `StoredField` itself (this trait's message, once)
//! instead of each unmet serde bound (`Serialize`, then `Deserialize`).
//!
//! Everything else reaches serde through the marker `M` that this call infers:
//! `Codec<M>` implements [`FieldCodec<T>`] when `M: Via<T>`. When the field
//! type fails, `M` stays unknown, so `M: Via<T>` (needed by the opaque return
//! type) is ambiguous rather than false, and rustc drops ambiguities once an
//! error is reported. Bounding the codec by `T: StoredField<M>` instead would
//! fail a second time, and the two errors have the same span, so rustc merges
//! them only when it builds without incremental compilation: with it (the
//! default of `cargo build` and `cargo check`) every span also records its
//! parent item, the spans differ, and the user saw the error twice.
//!
//! `Inner` only names a type in the error's note: the innermost element of
//! the std containers that serde supports (`Item` in `Vec<Option<Item>>`),
//! found by [`Probe`], so that the note names the type to derive serde on.
//!
//! `Send` (the schema trait requires `Send + 'static`) is checked by a
//! `FieldType: Send` bound in the impl's `where` clause, spanned on the field's
//! type: the struct's own `Send` then follows from it, so the struct name gets
//! no second error.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use crate::flash::{FlashField, flash_field};
pub use crate::index::Index;
pub use crate::record::Fields;
pub use crate::schema::{FieldVisitor, decode_field};

/// Marks the serde impl of [`StoredField`] and encodes through serde.
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

/// A field type that can be stored in a session: serde's `Serialize` and
/// `Deserialize`. `Inner` is the type the note tells to derive them on.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a session: it does not implement serde's `Serialize` and `Deserialize`",
    label = "this field's type is not serializable",
    note = "derive `serde::Serialize` and `serde::Deserialize` on `{Inner}` (serde with its `derive` feature), \
            store a type that implements them (`String`, numbers, `Vec`, `Option`, maps, ...), \
            or mark the field `#[session(skip)]`"
)]
pub trait StoredField<M, Inner: ?Sized> {}

impl<T: Serialize + DeserializeOwned, Inner: ?Sized> StoredField<Serde, Inner> for T {}

impl<T: Never, Inner: ?Sized> StoredField<Unreachable, Inner> for T {}

/// How the marker `Self`, inferred by [`Probe::codec`], encodes and decodes `T`.
pub trait Via<T>: Sized {
    /// Encodes `value`.
    fn serialize_field<S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error>;
    /// Decodes a value.
    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error>;
}

impl<T: Serialize + DeserializeOwned> Via<T> for Serde {
    fn serialize_field<S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        T::deserialize(deserializer)
    }
}

impl<T: Never> Via<T> for Unreachable {
    fn serialize_field<S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize_never(serializer)
    }

    fn deserialize_field<'de, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
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

/// The codec whose marker `M` [`Probe::codec`] inferred.
pub struct Codec<M>(PhantomData<fn() -> M>);

// Bounded by `M: Via<T>`, not `T: StoredField<M, _>`: see the module docs.
impl<T, M: Via<T>> FieldCodec<T> for Codec<M> {
    fn decode(
        &self,
        fields: &Fields,
        schema: &'static str,
        field: &'static str,
        keys: &[&'static str],
        default: fn() -> T,
    ) -> T {
        decode_field(fields, schema, field, keys, || {
            Decode::<T, M>(default(), PhantomData)
        })
        .0
    }

    fn encode<S: Serializer>(&self, value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        M::serialize_field(value, serializer)
    }
}

/// A stored field as [`Deserialize`], for [`decode_field`].
struct Decode<T, M>(T, PhantomData<fn() -> M>);

impl<'de, T, M: Via<T>> Deserialize<'de> for Decode<T, M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        M::deserialize_field(deserializer).map(|value| Decode(value, PhantomData))
    }
}

/// A stored field as [`Serialize`], for [`FieldVisitor::field`].
pub struct Encode<'a, T, C>(pub &'a T, pub C);

impl<T, C: FieldCodec<T>> Serialize for Encode<'_, T, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.1.encode(self.0, serializer)
    }
}

/// A type, carried to find the innermost element of a field type.
///
/// `(&&probe).peel()` picks by method resolution, which tries `&&Probe<T>`
/// before `&Probe<T>` (dtolnay's autoref specialization): on a std container
/// that serde supports, [`PeelContainer`] gives the probe of its element; on
/// any other type, [`PeelLeaf`] gives the same probe back. The derive peels
/// as often as the field type's tokens can nest (plus two, for aliases).
pub struct Probe<T: ?Sized>(PhantomData<fn() -> PhantomData<T>>);

impl<Inner: ?Sized> Probe<Inner> {
    /// The probe of `Inner`.
    pub const NEW: Self = Probe(PhantomData);

    /// The codec of the field type `T`, whose innermost element is `Inner`:
    /// the one place a field type's bound is checked.
    ///
    /// A method, so that `Inner` is known from the receiver when the bound is
    /// registered: rustc reports an unmet bound as soon as it sees one, and a
    /// type still to be inferred from an argument would print as `_`.
    #[must_use]
    pub fn codec<T: StoredField<M, Inner>, M>(&self) -> Codec<M> {
        Codec(PhantomData)
    }
}

/// Peels a std container; see [`Probe`].
pub trait PeelContainer {
    /// The element type.
    type Element: ?Sized;
    /// The probe of the element type.
    #[must_use]
    fn peel(&self) -> Probe<Self::Element> {
        Probe::NEW
    }
}

/// Keeps any other type; see [`Probe`].
pub trait PeelLeaf {
    /// The probe itself.
    #[must_use]
    fn peel(&self) -> Self;
}

impl<T: ?Sized> PeelLeaf for Probe<T> {
    fn peel(&self) -> Self {
        Probe::NEW
    }
}

macro_rules! peel_containers {
    ($([$($params:tt)*] $container:ty => $element:ty;)*) => {
        $(impl<$($params)*> PeelContainer for &Probe<$container> {
            type Element = $element;
        })*
    };
}

// Each is `Serialize + Deserialize` exactly when its element is (string-keyed
// maps: when the value is), so the element is the type to derive serde on.
peel_containers! {
    [T] Option<T> => T;
    [T: ?Sized] Box<T> => T;
    [T] Vec<T> => T;
    [T] VecDeque<T> => T;
    [T, const N: usize] [T; N] => T;
    [T, S] HashSet<T, S> => T;
    [T] BTreeSet<T> => T;
    [V, S] HashMap<String, V, S> => V;
    [V] BTreeMap<String, V> => V;
    [T] crate::Flash<T> => T;
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

/// What a `#[serde(...)]` attribute on a schema finds: serde's derive, or nothing.
///
/// `(&&&Probe::<Schema>::NEW).serde_derive()` picks by autoref specialization
/// (see [`Probe`]): [`SerdeViaSerialize`] when the schema also derives
/// `Serialize`, [`SerdeViaDeserialize`] when it derives `Deserialize`, else
/// [`SerdeUnowned`]. The derive then asks for [`SerdeAttributeOwner`], spanned
/// on the attribute's `serde`: the macro cannot see a `Serialize` listed in
/// the same `#[derive(...)]` as `Session`, the type system can.
pub enum SerdeDerive {}

/// No serde derive owns the `#[serde(...)]` attributes of this schema.
pub enum SerdeUnowned {}

/// Serde's derive owns `#[serde(...)]`; see [`SerdeDerive`].
#[diagnostic::on_unimplemented(
    message = "`#[serde(...)]` has no effect on a session schema",
    label = "`Session` reads only `#[session(...)]`",
    note = "store the field under another key with `#[session(rename = \"key\")]`, \
            also read an older key with `#[session(alias = \"old\")]`, \
            keep it out of the store with `#[session(skip)]`, \
            or give it a start value with `#[session(default = expr)]`; \
            `#[serde(...)]` is for a struct that also derives serde's `Serialize` or `Deserialize`"
)]
pub trait SerdeAttributeOwner {}

impl SerdeAttributeOwner for SerdeDerive {}

/// Requires that serde's derive owns a `#[serde(...)]` attribute.
pub fn serde_attribute<Owner: SerdeAttributeOwner>(owner: Probe<Owner>) {
    let _ = owner;
}

/// The schema derives `Serialize`; see [`SerdeDerive`].
pub trait SerdeViaSerialize {
    /// [`SerdeDerive`].
    #[must_use]
    fn serde_derive(&self) -> Probe<SerdeDerive> {
        Probe::NEW
    }
}

impl<T: Serialize> SerdeViaSerialize for &&Probe<T> {}

/// The schema derives `Deserialize`; see [`SerdeDerive`].
pub trait SerdeViaDeserialize {
    /// [`SerdeDerive`].
    #[must_use]
    fn serde_derive(&self) -> Probe<SerdeDerive> {
        Probe::NEW
    }
}

impl<T: DeserializeOwned> SerdeViaDeserialize for &Probe<T> {}

/// The schema derives neither; see [`SerdeDerive`].
pub trait SerdeViaNothing {
    /// [`SerdeUnowned`].
    #[must_use]
    fn serde_derive(&self) -> Probe<SerdeUnowned> {
        Probe::NEW
    }
}

impl<T> SerdeViaNothing for Probe<T> {}
