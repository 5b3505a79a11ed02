//! Pages: the panel's templates (embedded, HTML auto-escaped) and its words in Swedish
//! and English.

use crate::domain::StaffMember;
use minijinja::Environment;
use serde::Serialize;
use std::collections::BTreeMap;

/// The panel's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelLanguage {
    /// Swedish, the default.
    Sv,
    /// English.
    En,
}

impl PanelLanguage {
    /// From a cookie value; Swedish unless it says English.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            Some("en") => Self::En,
            _ => Self::Sv,
        }
    }

    /// ISO 639-1.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
        }
    }
}

/// Errors of rendering (a template or word is missing: a bug, caught by tests).
#[derive(Debug, thiserror::Error)]
#[error("rendering {template}: {source}")]
pub struct ViewError {
    template: &'static str,
    #[source]
    source: minijinja::Error,
}

/// The templates and the words.
pub struct Views {
    env: Environment<'static>,
    words: BTreeMap<&'static str, BTreeMap<String, String>>,
    /// The words again, as template values made once (every page uses them).
    word_values: BTreeMap<&'static str, minijinja::Value>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/panel/base.html")),
    (
        "login.html",
        include_str!("../../templates/panel/login.html"),
    ),
    (
        "queue.html",
        include_str!("../../templates/panel/queue.html"),
    ),
    (
        "search.html",
        include_str!("../../templates/panel/search.html"),
    ),
    ("case.html", include_str!("../../templates/panel/case.html")),
    (
        "knowledge.html",
        include_str!("../../templates/panel/knowledge.html"),
    ),
    (
        "knowledge_entry.html",
        include_str!("../../templates/panel/knowledge_entry.html"),
    ),
    (
        "rules.html",
        include_str!("../../templates/panel/rules.html"),
    ),
    (
        "rule_file.html",
        include_str!("../../templates/panel/rule_file.html"),
    ),
    (
        "outbox.html",
        include_str!("../../templates/panel/outbox.html"),
    ),
    (
        "stats.html",
        include_str!("../../templates/panel/stats.html"),
    ),
    (
        "error.html",
        include_str!("../../templates/panel/error.html"),
    ),
    (
        "privacy.html",
        include_str!("../../templates/panel/privacy.html"),
    ),
    (
        "audit.html",
        include_str!("../../templates/panel/audit.html"),
    ),
];

/// The panel's style sheet and script, served by Brevduva itself.
pub const STYLE_SHEET: &str = include_str!("../../templates/panel/panel.css");
/// See [`STYLE_SHEET`].
pub const SCRIPT: &str = include_str!("../../templates/panel/panel.js");
const WORDS: &str = include_str!("../../templates/panel/strings.toml");

/// What every page gets besides its own values.
#[derive(Serialize)]
pub struct Frame<'a> {
    /// Page title.
    pub title: &'a str,
    /// Which menu item is current.
    pub nav: &'a str,
    /// The signed-in person, if any.
    pub me: Option<Me<'a>>,
    /// The session's form token.
    pub csrf: &'a str,
    /// A message about what was just done.
    pub flash: Option<&'a str>,
    /// A message about what went wrong.
    pub error: Option<&'a str>,
}

/// The signed-in person as pages see them.
#[derive(Serialize)]
pub struct Me<'a> {
    /// Shown in the header.
    pub display_name: &'a str,
    /// May confirm, reroute, edit knowledge.
    pub may_triage: bool,
    /// May edit rules and discard mail.
    pub may_administer: bool,
}

impl<'a> Me<'a> {
    /// For a signed-in person.
    pub fn of(member: &'a StaffMember) -> Self {
        Self {
            display_name: &member.display_name,
            may_triage: member.may_triage(),
            may_administer: member.may_administer(),
        }
    }
}

impl Views {
    /// Loads the embedded templates and words.
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("embedded template {name}: {e}"));
        }
        let parsed: BTreeMap<String, BTreeMap<String, String>> =
            toml::from_str(WORDS).expect("embedded strings.toml parses");
        let mut words = BTreeMap::new();
        for (code, table) in parsed {
            let code: &'static str = match code.as_str() {
                "sv" => "sv",
                "en" => "en",
                _ => continue,
            };
            words.insert(code, table);
        }
        let word_values = words
            .iter()
            .map(|(code, table)| (*code, minijinja::Value::from_serialize(table)))
            .collect();
        Self {
            env,
            words,
            word_values,
        }
    }

    /// A word in a language (the key itself if missing, which a test forbids).
    pub fn word(&self, language: PanelLanguage, key: &str) -> String {
        self.words
            .get(language.code())
            .and_then(|w| w.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// Renders a page: the frame's values and the page's own.
    pub fn render(
        &self,
        template: &'static str,
        language: PanelLanguage,
        frame: &Frame<'_>,
        page: impl Serialize,
    ) -> Result<String, ViewError> {
        let t = self.word_values[language.code()].clone();
        let context = minijinja::value::merge_maps([
            minijinja::context! { lang => language.code(), t => t },
            minijinja::Value::from_serialize(frame),
            minijinja::Value::from_serialize(page),
        ]);
        self.env
            .get_template(template)
            .and_then(|tpl| tpl.render(context))
            .map_err(|source| ViewError { template, source })
    }
}

impl Default for Views {
    fn default() -> Self {
        Self::new()
    }
}

pub use crate::domain::working_days::local_time;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_exists_in_both_languages() {
        let views = Views::new();
        let sv: Vec<&String> = views.words["sv"].keys().collect();
        let en: Vec<&String> = views.words["en"].keys().collect();
        assert_eq!(
            sv, en,
            "strings.toml: [sv] and [en] must have the same keys"
        );
        assert!(sv.len() > 200);
    }

    #[test]
    fn every_word_a_template_names_exists() {
        let views = Views::new();
        let keys = &views.words["sv"];
        for (name, source) in TEMPLATES {
            let mut rest = *source;
            while let Some(at) = rest.find("t.") {
                let before = rest[..at].chars().last();
                rest = &rest[at + 2..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let key: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    keys.contains_key(&key),
                    "{name} uses t.{key}, missing in strings.toml"
                );
            }
        }
    }

    #[test]
    fn text_from_mail_is_escaped_in_pages() {
        let views = Views::new();
        let frame = Frame {
            title: "<script>",
            nav: "search",
            me: None,
            csrf: "x",
            flash: None,
            error: Some("<img src=x onerror=alert(1)>"),
        };
        let html = views
            .render(
                "search.html",
                PanelLanguage::Sv,
                &frame,
                minijinja::context! { q => "\"><script>alert(1)</script>", cases => Vec::<()>::new() },
            )
            .unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn local_time_is_swedish() {
        // 2026-11-27 09:00 UTC is 10:00 in Stockholm.
        assert_eq!(local_time(1_795_770_000), "2026-11-27 10:00");
    }
}
