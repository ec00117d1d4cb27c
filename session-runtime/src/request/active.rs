//! A session once a handler has asked for it: its record, and what this
//! request did to it.

use serde_json::value::RawValue;

use super::decide::{End, Marks};
use crate::error::{EncodeError, SessionError};
use crate::id::SessionId;
use crate::record::Record;
use crate::schema::SessionSchema;

pub(crate) struct Active {
    /// `None` for a new session until something needs its id (a save, a cookie,
    /// `id()`); always set with a custom `genid`, so that its errors surface early.
    pub(super) id: Option<SessionId>,
    /// The id the session was loaded under; `None` for a new session.
    pub(super) loaded_id: Option<SessionId>,
    pub(crate) record: Record,
    /// Fields changed since the session was loaded or last written.
    pub(super) changed: Vec<&'static str>,
    /// Flash fields a view has seen since then, with the values seen: to be
    /// removed from the store, unless another request stored a newer one.
    pub(super) consumed: Vec<(&'static str, Box<RawValue>)>,
    pub(super) marks: Marks,
    /// The store holds the session under `id`: loaded under it, or created
    /// under it during this request. Decides create or update.
    pub(super) persisted: bool,
    pub(super) ended: Option<End>,
    /// A field that could not be encoded: nothing is saved.
    pub(super) failure: Option<EncodeError>,
    /// The typed views (`Session<T>`) alive in this request.
    views: Vec<View>,
    /// The serial number the next view gets.
    next_view: u64,
}

/// One live `Session<T>`: which schema, and the keys it writes.
struct View {
    serial: u64,
    schema: &'static str,
    keys: &'static [&'static str],
}

/// A view that would write keys a live view of the same request also writes.
pub(crate) struct ViewConflict {
    pub(crate) schema: &'static str,
    pub(crate) other: &'static str,
    pub(crate) key: &'static str,
}

impl Active {
    /// A session loaded from the store under `id`.
    pub(super) fn loaded(id: SessionId, record: Record) -> Self {
        Active {
            id: Some(id.clone()),
            loaded_id: Some(id),
            persisted: true,
            ..Active::new(None, record)
        }
    }

    /// A session that is not in the store yet.
    pub(super) fn new(id: Option<SessionId>, record: Record) -> Self {
        Active {
            id,
            loaded_id: None,
            record,
            changed: Vec::new(),
            consumed: Vec::new(),
            marks: Marks::default(),
            persisted: false,
            ended: None,
            failure: None,
            views: Vec::new(),
            next_view: 0,
        }
    }

    /// Registers a new view of `schema` writing `keys`; refused while a live
    /// view writes one of the same keys, since the later of the two to drop
    /// would overwrite the other's change to it.
    pub(crate) fn open_view(
        &mut self,
        schema: &'static str,
        keys: &'static [&'static str],
    ) -> Result<u64, ViewConflict> {
        for view in &self.views {
            if let Some(key) = keys.iter().find(|key| view.keys.contains(key)) {
                return Err(ViewConflict {
                    schema,
                    other: view.schema,
                    key,
                });
            }
        }
        let serial = self.next_view;
        self.next_view += 1;
        self.views.push(View {
            serial,
            schema,
            keys,
        });
        Ok(serial)
    }

    /// The view `serial` has ended (dropped or consumed).
    pub(crate) fn close_view(&mut self, serial: u64) {
        self.views.retain(|view| view.serial != serial);
    }

    pub(crate) fn id(&mut self) -> &SessionId {
        self.id.get_or_insert_with(SessionId::generate)
    }

    /// express's `cookieId != req.sessionID`: a new session, or one given a new id.
    pub(super) fn is_new(&self) -> bool {
        self.loaded_id.is_none() || self.loaded_id != self.id
    }

    pub(super) fn apply(&mut self, changes: Vec<(&'static str, Box<RawValue>)>) {
        for (key, value) in changes {
            self.record.fields.set_static(key, value);
            if !self.changed.contains(&key) {
                self.changed.push(key);
            }
            self.marks.field_changed();
        }
    }

    /// Decodes a view of `T`, then takes its flash fields out of the record:
    /// this view shows them, and the save removes them from the store (see
    /// [`Update::taken`](crate::store::Update)). A later view of the request
    /// sees what the first one saw.
    pub(crate) fn open<T: SessionSchema>(&mut self) -> T {
        let seen_before = T::FLASH
            .iter()
            .any(|key| self.consumed.iter().any(|(taken, _)| taken == key));
        let value = if seen_before {
            let mut fields = self.record.fields.clone();
            for (key, raw) in &self.consumed {
                if T::FLASH.contains(key) && fields.get(key).is_none() {
                    fields.set(key, raw.clone());
                }
            }
            T::decode_session(&fields)
        } else {
            T::decode_session(&self.record.fields)
        };
        for key in T::FLASH {
            if let Some(raw) = self.record.fields.remove(key) {
                self.consumed.retain(|(taken, _)| taken != key);
                self.consumed.push((key, raw));
                self.marks.field_changed();
            }
        }
        value
    }

    /// The flash values to remove with the next write: those seen and not
    /// set again since (a changed field is written as it is now).
    pub(super) fn taken(&self) -> Vec<(&'static str, Box<RawValue>)> {
        self.consumed
            .iter()
            .filter(|(key, _)| self.still_taken(key))
            .cloned()
            .collect()
    }

    /// Whether the next write removes a flash value: [`taken`](Self::taken)
    /// is not empty, without copying it.
    pub(super) fn takes_any(&self) -> bool {
        self.consumed.iter().any(|(key, _)| self.still_taken(key))
    }

    /// A flash field seen and not set again since.
    fn still_taken(&self, key: &str) -> bool {
        !self.changed.contains(&key)
    }

    /// A cookie-settings change: saved and re-sent at the end of the request.
    pub(crate) fn cookie_changed(&mut self) {
        self.marks.cookie_changed();
    }

    pub(super) fn ensure_live(&self) -> Result<(), SessionError> {
        match self.ended {
            Some(_) => Err(SessionError::Ended),
            None => Ok(()),
        }
    }

    /// The ids the session is stored under: the one it was loaded with, and the
    /// current one if it was created under it during this request.
    pub(super) fn stored_ids(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.loaded_id.iter().cloned().collect();
        if let Some(id) = &self.id
            && self.persisted
            && !ids.contains(id)
        {
            ids.push(id.clone());
        }
        ids
    }
}
