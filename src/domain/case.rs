//! The states and flags of a case and of what is sent about it.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            /// The value as stored in the database.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the stored value.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// Where a case is in its life.
    CaseStatus {
        /// Waiting for a person at Kontaktcenter to choose the department.
        Triage => "triage",
        /// Routed to a department (forwarded unless the department is Kontaktcenter).
        Routed => "routed",
        /// Answered or otherwise finished.
        Closed => "closed",
    }
);

string_enum!(
    /// How the enquiry reached the municipality.
    Channel {
        /// Mail to the public address.
        Email => "email",
        /// The citizen chat on the website.
        Chat => "chat",
    }
);

string_enum!(
    /// Who or what made a routing decision.
    DecisionSource {
        /// Department routing rules (keywords, addresses) alone.
        Rules => "rules",
        /// The nearest past answers in the knowledge index alone.
        Index => "index",
        /// Rules and the knowledge index together.
        Combined => "combined",
        /// A person at Kontaktcenter.
        Person => "person",
    }
);

string_enum!(
    /// What an outbox entry is.
    OutboxKind {
        /// The case forwarded to its department.
        Forward => "forward",
        /// The receipt sent to the citizen, with the case number.
        Acknowledgement => "acknowledgement",
        /// An answer written by a person.
        Reply => "reply",
    }
);

string_enum!(
    /// Delivery state of an outbox entry.
    OutboxStatus {
        /// Waiting to be sent (again).
        Pending => "pending",
        /// Delivered to the transport.
        Sent => "sent",
        /// Gave up: permanent failure or too old; visible to staff.
        Dead => "dead",
        /// A dead letter a person chose not to send; kept for the record.
        Discarded => "discarded",
    }
);

/// Flags that change how a case is handled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseFlags {
    /// A legal deadline or a risk to someone: handle first.
    pub urgent: bool,
    /// Belongs to a department that works under secrecy.
    pub sensitive: bool,
    /// An automatic message (out of office, bounce): never acknowledged.
    pub auto_reply: bool,
    /// Bulk or list mail: never acknowledged.
    pub bulk: bool,
}

impl CaseFlags {
    /// Whether the citizen may receive an automatic acknowledgement at all.
    pub fn allows_acknowledgement(&self) -> bool {
        !self.auto_reply && !self.bulk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        for s in [CaseStatus::Triage, CaseStatus::Routed, CaseStatus::Closed] {
            assert_eq!(CaseStatus::parse(s.as_str()), Some(s));
        }
        for k in [
            OutboxKind::Forward,
            OutboxKind::Acknowledgement,
            OutboxKind::Reply,
        ] {
            assert_eq!(OutboxKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(OutboxStatus::parse("nonsense"), None);
    }

    #[test]
    fn automatic_and_bulk_mail_is_never_acknowledged() {
        assert!(CaseFlags::default().allows_acknowledgement());
        let auto = CaseFlags {
            auto_reply: true,
            ..Default::default()
        };
        let bulk = CaseFlags {
            bulk: true,
            ..Default::default()
        };
        assert!(!auto.allows_acknowledgement());
        assert!(!bulk.allows_acknowledgement());
    }
}
