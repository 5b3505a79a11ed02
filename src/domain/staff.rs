//! The people who use the panel and what each may see and do.
//!
//! Kontaktcenter (and admins, who are Kontaktcenter staff with the keys to settings) see
//! every case, sensitive ones included; a department's staff see only the cases of their
//! own departments. These rules are the only place rights are decided.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Database id of a person with an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a person does at the municipality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Kontaktcenter staff who also manage rules, mailboxes and accounts.
    Admin,
    /// Kontaktcenter staff: triage, replies, the knowledge base.
    Kontaktcenter,
    /// A department's staff: their own department's cases.
    Department,
}

impl Role {
    /// The value as stored and typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Kontaktcenter => "kontaktcenter",
            Self::Department => "department",
        }
    }

    /// Parses the stored value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "kontaktcenter" => Some(Self::Kontaktcenter),
            "department" => Some(Self::Department),
            _ => None,
        }
    }
}

/// A signed-in person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffMember {
    /// Account id.
    pub id: UserId,
    /// Log-in name (shown in the audit log).
    pub username: String,
    /// Name shown in the panel and under replies.
    pub display_name: String,
    /// What they do.
    pub role: Role,
    /// For department staff: the departments whose cases they handle.
    pub departments: Vec<String>,
}

impl StaffMember {
    /// Kontaktcenter and admins see every case.
    pub fn sees_every_case(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Kontaktcenter)
    }

    /// Whether a case of this department may be shown to this person.
    pub fn may_see(&self, department: Option<&str>) -> bool {
        self.sees_every_case()
            || department.is_some_and(|d| self.departments.iter().any(|own| own == d))
    }

    /// Confirm, reroute, merge, register, and edit the knowledge base.
    pub fn may_triage(&self) -> bool {
        self.sees_every_case()
    }

    /// Edit rules, see mailboxes and the outbox, discard mail.
    pub fn may_administer(&self) -> bool {
        self.role == Role::Admin
    }

    /// The departments this person's view is limited to, or `None` for all.
    pub fn case_scope(&self) -> Option<&[String]> {
        (!self.sees_every_case()).then_some(self.departments.as_slice())
    }
}

/// Checks a new account: a plain log-in name, and departments exactly for department
/// staff, each one that exists.
pub fn check_account(
    username: &str,
    role: Role,
    departments: &[String],
    known_departments: &[String],
) -> Result<(), String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if username.is_empty() || username.len() > 100 || !username.chars().all(plain) {
        return Err(format!(
            "{username:?} is not a log-in name: use 1-100 letters, digits, '.', '_', '-' or '@'"
        ));
    }
    match role {
        Role::Department if departments.is_empty() => {
            return Err("department staff need at least one --department".into())
        }
        Role::Admin | Role::Kontaktcenter if !departments.is_empty() => {
            return Err(
                "only department staff have --department: Kontaktcenter sees every case".into(),
            )
        }
        _ => {}
    }
    for d in departments {
        if !known_departments.contains(d) {
            return Err(format!(
                "no department has the id {d:?}; see routing-rules/"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(role: Role, departments: &[&str]) -> StaffMember {
        StaffMember {
            id: UserId(1),
            username: "u".into(),
            display_name: "U".into(),
            role,
            departments: departments.iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn department_staff_see_only_their_departments() {
        let bygg = member(Role::Department, &["bygg-miljo"]);
        assert!(bygg.may_see(Some("bygg-miljo")));
        assert!(!bygg.may_see(Some("socialtjanst")));
        assert!(
            !bygg.may_see(None),
            "cases without a department are Kontaktcenter's"
        );
        assert!(!bygg.may_triage());
        assert_eq!(bygg.case_scope(), Some(&["bygg-miljo".to_string()][..]));
    }

    #[test]
    fn accounts_are_checked() {
        let known = vec!["bygg-miljo".to_string()];
        let ok = |u: &str, r, d: &[&str]| {
            let d: Vec<String> = d.iter().map(|s| s.to_string()).collect();
            check_account(u, r, &d, &known)
        };
        assert!(ok("anna.k", Role::Kontaktcenter, &[]).is_ok());
        assert!(ok("bo@kommun.se", Role::Department, &["bygg-miljo"]).is_ok());
        assert!(ok("", Role::Admin, &[]).is_err());
        assert!(ok("anna k", Role::Admin, &[]).is_err());
        assert!(ok("bo", Role::Department, &[]).is_err());
        assert!(ok("bo", Role::Department, &["skola"]).is_err());
        assert!(ok("anna", Role::Kontaktcenter, &["bygg-miljo"]).is_err());
    }

    #[test]
    fn kontaktcenter_sees_everything_but_does_not_administer() {
        let kc = member(Role::Kontaktcenter, &[]);
        assert!(kc.may_see(Some("socialtjanst")) && kc.may_see(None));
        assert!(kc.may_triage() && !kc.may_administer());
        assert_eq!(kc.case_scope(), None);
        assert!(member(Role::Admin, &[]).may_administer());
        for r in [Role::Admin, Role::Kontaktcenter, Role::Department] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
