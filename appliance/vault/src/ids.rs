//! Server-generated identifiers: 128 random bits, shown as 32 lowercase hex digits. No string
//! from a request ever becomes an id except through [`parse`](UserId::parse), which accepts
//! exactly that shape.

use std::fmt;

use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u128);

        // Not every id type needs every conversion.
        #[allow(dead_code)]
        impl $name {
            pub(crate) fn random() -> Self {
                let mut bytes = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                Self(u128::from_be_bytes(bytes))
            }

            /// Parses the 32-hex-digit form; anything else is `None`.
            pub fn parse(s: &str) -> Option<Self> {
                if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                    return None;
                }
                u128::from_str_radix(s, 16).ok().map(Self)
            }

            pub(crate) fn raw(self) -> u128 {
                self.0
            }

            pub(crate) fn from_raw(raw: u128) -> Self {
                Self(raw)
            }

            pub(crate) fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:032x})", stringify!($name), self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_string())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| serde::de::Error::custom("malformed id"))
            }
        }
    };
}

id_type!(
    /// An account, and the tenant that owns its data.
    UserId
);
impl UserId {
    /// No account: the owner of the appliance's own jobs, e.g. a message to an address no
    /// account holds any more. Never a real account's id (those are random; zero is not drawn
    /// in practice, and no code path creates an account with it).
    pub const APPLIANCE: UserId = UserId(0);
}

id_type!(
    /// A track in one owner's library.
    TrackId
);
id_type!(
    /// An encrypted object on disk; also the name of its file.
    BlobId
);
id_type!(
    /// A share: an owner's playlist for named recipients.
    ShareId
);
id_type!(
    /// One recipient of a share, with an own link and an own watermark.
    RecipientId
);
id_type!(
    /// An enrolled stem worker.
    WorkerId
);
id_type!(
    /// A message of the outbox.
    MessageId
);
id_type!(
    /// An incident in the register.
    IncidentId
);
id_type!(
    /// A legal request from an authority.
    LegalRequestId
);
id_type!(
    /// A comment on a moment of a track.
    CommentId
);
id_type!(
    /// A link through which a client sends audio into an owner's library.
    UploadLinkId
);
id_type!(
    /// One of an owner's notifications.
    NotificationId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_the_canonical_form() {
        let id = TrackId::random();
        assert_eq!(TrackId::parse(&id.to_string()), Some(id));
        for bad in [
            "",
            "../../etc/passwd",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "+123456789abcdef0123456789abcdef",
            "0123456789abcdef%2e23456789abcdef",
            "0123456789abcdef\u{0}123456789abcdef",
        ] {
            assert_eq!(TrackId::parse(bad), None, "{bad:?}");
        }
    }
}
