//! Mail templates (`templates/<kind>.<language>.txt`, minijinja): a `Subject:` line, a
//! blank line, and the body. Staff can edit them without a rebuild; a variable that a
//! template uses but Brevduva does not provide is an error, never an empty hole in a mail.

use crate::diagnostics::{Problem, Problems};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Errors from rendering a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// No template of that kind in Swedish, the fallback language.
    #[error("no template {0}.sv")]
    Missing(String),
    /// Rendering failed (for example an undefined variable).
    #[error("template {name}: {source}")]
    Render {
        /// The template.
        name: String,
        /// What minijinja said.
        source: minijinja::Error,
    },
    /// The first line is not `Subject: ...`.
    #[error("template {0}: the first line must be 'Subject: ...'")]
    NoSubject(String),
}

/// A rendered mail text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedText {
    /// Subject line.
    pub subject: String,
    /// Body, with a trailing newline.
    pub body: String,
}

/// The kinds of template Brevduva needs, each at least in Swedish.
pub const REQUIRED: &[&str] = &[
    "acknowledgement",
    "forward",
    "followup",
    "reply",
    "out-of-hours",
];

/// Loaded templates.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    names: BTreeSet<String>,
}

impl Templates {
    /// Loads `(file, text)` pairs; the template name is the file name without `.txt`.
    /// Checks the syntax of each, that each starts with a subject line, and that every
    /// required kind exists in Swedish.
    pub fn parse_files(files: &[(PathBuf, String)]) -> Result<Self, Problems> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        let mut problems = Problems::default();
        let mut names = BTreeSet::new();
        for (path, text) in files {
            let Some(name) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".txt"))
            else {
                continue;
            };
            if !text.starts_with("Subject:") {
                problems.push(Problem {
                    file: path.clone(),
                    line: Some(1),
                    message: "the first line must be 'Subject: ...'".into(),
                });
                continue;
            }
            if let Err(e) = env.add_template_owned(name.to_owned(), text.clone()) {
                problems.push(Problem {
                    file: path.clone(),
                    line: e.line(),
                    message: e.to_string(),
                });
                continue;
            }
            names.insert(name.to_owned());
        }
        for kind in REQUIRED {
            if !names.contains(&format!("{kind}.sv")) {
                problems.push(Problem::in_file(
                    Path::new("templates"),
                    format!("missing template {kind}.sv.txt"),
                ));
            }
        }
        problems.into_result(Self { env, names })
    }

    /// Renders a template in a language, falling back to Swedish.
    pub fn render(
        &self,
        kind: &str,
        language: &str,
        context: &impl Serialize,
    ) -> Result<RenderedText, TemplateError> {
        let localised = format!("{kind}.{language}");
        let name = if self.names.contains(&localised) {
            localised
        } else if self.names.contains(&format!("{kind}.sv")) {
            format!("{kind}.sv")
        } else {
            return Err(TemplateError::Missing(kind.to_owned()));
        };
        let template = self
            .env
            .get_template(&name)
            .map_err(|source| TemplateError::Render {
                name: name.clone(),
                source,
            })?;
        let text = template
            .render(context)
            .map_err(|source| TemplateError::Render {
                name: name.clone(),
                source,
            })?;
        let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .ok_or_else(|| TemplateError::NoSubject(name.clone()))?;
        // Header injection: a subject is one line whatever the variables hold.
        let subject = subject.replace(['\r', '\n'], " ").trim().to_owned();
        let body = rest.trim_start_matches(['\r', '\n']).to_owned();
        Ok(RenderedText { subject, body })
    }

    /// Renders a department's own version of a template when there is one
    /// (`reply.bygg-miljo.sv.txt`), else the common one; in the language, falling back to
    /// Swedish.
    pub fn render_for_department(
        &self,
        kind: &str,
        department: Option<&str>,
        language: &str,
        context: &impl Serialize,
    ) -> Result<RenderedText, TemplateError> {
        if let Some(department) = department {
            let own = format!("{kind}.{department}");
            for candidate in [language, "sv"] {
                if self.names.contains(&format!("{own}.{candidate}")) {
                    return self.render(&own, candidate, context);
                }
            }
        }
        self.render(kind, language, context)
    }

    /// Every loaded template name (`acknowledgement.sv`).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// Renders every template of a kind with a context, reporting each failure with its
    /// file (for `check-config`: a variable a template needs but Brevduva does not give).
    pub fn check_kind(&self, kind: &str, context: &impl Serialize) -> Problems {
        let mut problems = Problems::default();
        let prefix = format!("{kind}.");
        for name in self.names.iter().filter(|n| n.starts_with(&prefix)) {
            let language = &name[prefix.len()..];
            if let Err(e) = self.render(kind, language, context) {
                let line = match &e {
                    TemplateError::Render { source, .. } => source.line(),
                    _ => None,
                };
                problems.push(Problem {
                    file: PathBuf::from(format!("templates/{name}.txt")),
                    line,
                    message: e.to_string(),
                });
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(extra: &[(&str, &str)]) -> Vec<(PathBuf, String)> {
        let mut v: Vec<(PathBuf, String)> = REQUIRED
            .iter()
            .map(|k| {
                (
                    PathBuf::from(format!("templates/{k}.sv.txt")),
                    format!("Subject: {k} {{{{ n }}}}\n\nHej {{{{ n }}}}\n"),
                )
            })
            .collect();
        v.extend(
            extra
                .iter()
                .map(|(n, t)| (PathBuf::from(*n), t.to_string())),
        );
        v
    }

    #[test]
    fn renders_in_the_language_and_falls_back_to_swedish() {
        let t = Templates::parse_files(&files(&[(
            "templates/acknowledgement.en.txt",
            "Subject: Hi {{ n }}\n\nHello\n",
        )]))
        .unwrap();
        let en = t.render("acknowledgement", "en", &json!({"n": 1})).unwrap();
        assert_eq!(en.subject, "Hi 1");
        let uk = t.render("acknowledgement", "uk", &json!({"n": 2})).unwrap();
        assert_eq!(
            uk,
            RenderedText {
                subject: "acknowledgement 2".into(),
                body: "Hej 2\n".into()
            }
        );
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_hole() {
        let t = Templates::parse_files(&files(&[])).unwrap();
        assert!(t.render("forward", "sv", &json!({})).is_err());
        let problems = t.check_kind("forward", &json!({"other": 1}));
        assert_eq!(problems.0.len(), 1);
        assert!(
            problems.to_string().starts_with("templates/forward.sv.txt"),
            "{problems}"
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let t = Templates::parse_files(&files(&[])).unwrap();
        let r = t
            .render("forward", "sv", &json!({"n": "x\r\nBcc: evil@example.com"}))
            .unwrap();
        assert!(!r.subject.contains('\n') && !r.subject.contains('\r'));
    }

    #[test]
    fn broken_templates_name_file_and_line() {
        let err = Templates::parse_files(&files(&[(
            "templates/forward.en.txt",
            "Subject: x\n\n{% if %}\n",
        )]))
        .unwrap_err();
        assert_eq!(err.0[0].line, Some(3), "{err}");
        let err = Templates::parse_files(&[]).unwrap_err();
        assert_eq!(err.0.len(), REQUIRED.len());
    }

    #[test]
    fn a_department_may_have_its_own_reply() {
        let t = Templates::parse_files(&files(&[(
            "templates/reply.bygg-miljo.sv.txt",
            "Subject: Bygg {{ n }}\n\nFrån bygg\n",
        )]))
        .unwrap();
        let ctx = json!({"n": 1});
        let own = t
            .render_for_department("reply", Some("bygg-miljo"), "en", &ctx)
            .unwrap();
        assert_eq!(own.subject, "Bygg 1");
        let common = t
            .render_for_department("reply", Some("gata-park"), "sv", &ctx)
            .unwrap();
        assert_eq!(common.subject, "reply 1");
        assert!(t.check_kind("reply", &ctx).is_empty());
    }
}
