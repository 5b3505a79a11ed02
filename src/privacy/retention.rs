//! Retention (gallring): which cases lose their content, and which are anonymised, today.
//! Pure: the store lists the cases, this decides, the store carries it out.

use crate::config::RetentionRule;
use serde::Serialize;

/// What retention needs to know about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCase {
    /// Database id.
    pub id: i64,
    /// `KC-2026-000123`.
    pub number: String,
    /// Its department.
    pub department: Option<String>,
    /// `email` or `chat`.
    pub channel: String,
    /// Automatic mail (auto-reply or bulk).
    pub automatic: bool,
    /// Last activity (unix seconds).
    pub last_activity: i64,
    /// Kept whatever the rules say.
    pub legal_hold: bool,
    /// Marked as allmän handling to register: its registry metadata stays.
    pub registered: bool,
    /// Content removed already.
    pub content_removed: bool,
    /// Anonymised already.
    pub anonymised: bool,
}

/// What happens to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetentionStep {
    /// Message bodies, attachments, notes and outgoing mail removed.
    RemoveContent,
    /// Content removed and personal data anonymised.
    Anonymise,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionAction {
    /// The case.
    pub case_id: i64,
    /// Its number.
    pub number: String,
    /// What happens.
    pub step: RetentionStep,
    /// Days since its last activity.
    pub age_days: i64,
    /// Whether the registry's metadata stays (registered cases).
    pub keeps_registry_metadata: bool,
}

/// How specific a rule is for a case, or `None` if it does not apply.
fn specificity(rule: &RetentionRule, c: &RetentionCase) -> Option<u8> {
    let department = match rule.department.as_str() {
        "*" => 0,
        d if c.department.as_deref() == Some(d) => 2,
        _ => return None,
    };
    let category = match rule.category.as_str() {
        "*" => 0,
        "automatic" if c.automatic => 1,
        "email" | "chat" if rule.category == c.channel && !c.automatic => 1,
        _ => return None,
    };
    Some(department + category)
}

/// The rule that applies to a case: the most specific; the first of equals.
pub fn rule_for<'r>(rules: &'r [RetentionRule], c: &RetentionCase) -> Option<&'r RetentionRule> {
    let mut best: Option<(u8, &RetentionRule)> = None;
    for r in rules {
        if let Some(s) = specificity(r, c) {
            if best.is_none_or(|(b, _)| s > b) {
                best = Some((s, r));
            }
        }
    }
    best.map(|(_, r)| r)
}

/// What retention does today (`now`, unix seconds) to each case. Cases on legal hold are
/// never touched; nothing is done twice.
pub fn plan(cases: &[RetentionCase], rules: &[RetentionRule], now: i64) -> Vec<RetentionAction> {
    let mut out = Vec::new();
    for c in cases {
        if c.legal_hold || c.anonymised {
            continue;
        }
        let Some(rule) = rule_for(rules, c) else {
            continue;
        };
        let age_days = (now - c.last_activity).div_euclid(86_400);
        let due = |days: Option<u64>| days.is_some_and(|d| age_days >= d as i64);
        let step = if due(rule.anonymise_after_days) {
            RetentionStep::Anonymise
        } else if due(rule.remove_content_after_days) && !c.content_removed {
            RetentionStep::RemoveContent
        } else {
            continue;
        };
        out.push(RetentionAction {
            case_id: c.id,
            number: c.number.clone(),
            step,
            age_days,
            keeps_registry_metadata: c.registered,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn rule(
        department: &str,
        category: &str,
        content: Option<u64>,
        anonymise: Option<u64>,
    ) -> RetentionRule {
        RetentionRule {
            department: department.into(),
            category: category.into(),
            remove_content_after_days: content,
            anonymise_after_days: anonymise,
        }
    }

    fn case(id: i64, department: &str, channel: &str, age_days: i64) -> RetentionCase {
        RetentionCase {
            id,
            number: format!("KC-2026-{id:06}"),
            department: Some(department.into()),
            channel: channel.into(),
            automatic: false,
            last_activity: 1_000 * DAY - age_days * DAY,
            legal_hold: false,
            registered: false,
            content_removed: false,
            anonymised: false,
        }
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let rules = vec![
            rule("*", "*", Some(365), Some(730)),
            rule("socialtjanst", "*", Some(90), Some(180)),
            rule("*", "automatic", Some(7), Some(30)),
            rule("socialtjanst", "chat", Some(30), Some(60)),
        ];
        let mut auto = case(1, "bygg-miljo", "email", 0);
        auto.automatic = true;
        assert_eq!(
            rule_for(&rules, &auto).unwrap().anonymise_after_days,
            Some(30)
        );
        assert_eq!(
            rule_for(&rules, &case(2, "socialtjanst", "email", 0))
                .unwrap()
                .anonymise_after_days,
            Some(180)
        );
        assert_eq!(
            rule_for(&rules, &case(3, "socialtjanst", "chat", 0))
                .unwrap()
                .anonymise_after_days,
            Some(60)
        );
        assert_eq!(
            rule_for(&rules, &case(4, "utbildning", "email", 0))
                .unwrap()
                .anonymise_after_days,
            Some(730)
        );
        assert!(rule_for(
            &[rule("omsorg", "*", Some(1), None)],
            &case(5, "utbildning", "email", 0)
        )
        .is_none());
    }

    #[test]
    fn cases_lose_content_then_personal_data_and_held_cases_nothing() {
        let rules = vec![rule("*", "*", Some(365), Some(1095))];
        let now = 1_000 * DAY;
        let mut held = case(4, "bygg-miljo", "email", 2000);
        held.legal_hold = true;
        let mut done = case(5, "bygg-miljo", "email", 500);
        done.content_removed = true;
        let mut registered = case(6, "kansli", "email", 1200);
        registered.registered = true;
        let cases = vec![
            case(1, "bygg-miljo", "email", 100),
            case(2, "bygg-miljo", "email", 400),
            case(3, "bygg-miljo", "email", 1100),
            held,
            done,
            registered,
        ];
        let plan = plan(&cases, &rules, now);
        let got: Vec<(i64, RetentionStep, bool)> = plan
            .iter()
            .map(|a| (a.case_id, a.step, a.keeps_registry_metadata))
            .collect();
        assert_eq!(
            got,
            [
                (2, RetentionStep::RemoveContent, false),
                (3, RetentionStep::Anonymise, false),
                (6, RetentionStep::Anonymise, true),
            ]
        );
    }
}
