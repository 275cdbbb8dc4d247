//! Ids: UUIDs on the wire (strings, as the old service's were) and in the database (`uuid`).
//! Each kind of id is its own type, so a signal id cannot be passed where a position id goes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// What a malformed id is told (FastAPI's wording for a UUID field).
pub const INVALID_UUID: &str = "Input should be a valid UUID";

/// A UUID derived from `input` (the first 16 bytes of its SHA-256): the same input, the same id.
pub fn derived_uuid(input: &[u8]) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id, time-ordered (UUID version 7, monotonic within this process).
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(Uuid::now_v7())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = &'static str;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map($name).map_err(|_| INVALID_UUID)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }

        $crate::domain::sql::stored_as!($name, Uuid, |id| id.0, |uuid| Ok::<_, std::convert::Infallible>($name(uuid)));
    };
}

id_type!(
    /// A user.
    UserId
);
id_type!(
    /// A trading signal.
    SignalId
);
id_type!(
    /// A position.
    PositionId
);
id_type!(
    /// An audit event.
    AuditEventId
);
id_type!(
    /// A login session: the access and refresh tokens one login and its refreshes issued.
    SessionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_hyphenated_strings() {
        let id = SignalId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<SignalId>(), Ok(id));
        assert_eq!(
            serde_json::to_value(id).unwrap(),
            serde_json::Value::String(text.clone())
        );
        assert_eq!(serde_json::from_value::<SignalId>(text.into()).unwrap(), id);
    }

    #[test]
    fn the_old_services_ids_parse_and_print_unchanged() {
        let old = "7d1c2a9e-4b3f-4c8e-9a1d-0f2e3b4c5d6e";
        assert_eq!(old.parse::<UserId>().unwrap().to_string(), old);
        assert_eq!(
            "7D1C2A9E-4B3F-4C8E-9A1D-0F2E3B4C5D6E"
                .parse::<UserId>()
                .unwrap()
                .to_string(),
            old
        );
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in ["", "1", "42", "not-a-uuid", "7d1c2a9e-4b3f-4c8e-9a1d-0f2e3b4c5d6"] {
            assert_eq!(bad.parse::<PositionId>(), Err(INVALID_UUID), "{bad:?}");
        }
        assert!(serde_json::from_value::<PositionId>(serde_json::json!(7)).is_err());
    }

    #[test]
    fn derived_ids_follow_their_input() {
        assert_eq!(derived_uuid(b"host:8001"), derived_uuid(b"host:8001"));
        assert_ne!(derived_uuid(b"host:8001"), derived_uuid(b"host:8002"));
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let first = UserId::new();
        let second = UserId::new();
        assert!(first < second);
        assert_eq!(first.as_uuid().get_version_num(), 7);
    }
}
