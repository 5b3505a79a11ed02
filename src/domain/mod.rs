//! The words of the domain: cases, departments, addresses, routing decisions.
//!
//! Plain data with no I/O; every other module speaks in these types.

mod case;
mod ids;
mod staff;
pub mod working_days;

pub use case::{CaseFlags, CaseStatus, Channel, DecisionSource, OutboxKind, OutboxStatus};
pub use ids::{
    CaseId, CaseNumber, DepartmentId, DomainError, EmailAddress, Language, OutboxId,
    StoredMessageId,
};
pub use staff::{check_account, Role, StaffMember, UserId};
