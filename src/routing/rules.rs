//! Per-department routing rules (`routing-rules/<department>.toml`): keywords and phrases
//! with weights, recipient and sender patterns, urgent terms, and whether the department
//! works under secrecy. Loading validates everything and names file and line.

use super::analysis::words;
use crate::diagnostics::{Problem, Problems};
use crate::domain::{DepartmentId, EmailAddress};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A department: who it is and where its cases are forwarded.
#[derive(Debug, Clone, PartialEq)]
pub struct Department {
    /// Its id (`bygg-miljo`).
    pub id: DepartmentId,
    /// Swedish name.
    pub name: String,
    /// English name.
    pub name_en: String,
    /// Where forwards go.
    pub forward_to: EmailAddress,
    /// Works under secrecy (socialtjänst, omsorg).
    pub sensitive: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: Spanned<String>,
    name: String,
    name_en: Option<String>,
    forward_to: Spanned<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    recipient_patterns: Vec<Spanned<String>>,
    #[serde(default)]
    sender_patterns: Vec<Spanned<String>>,
    #[serde(default)]
    urgent_terms: Vec<Spanned<String>>,
    #[serde(default)]
    keywords: Vec<Spanned<KeywordEntry>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeywordEntry {
    term: String,
    weight: f64,
}

/// A word or phrase, as lowercase words.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    text: String,
    words: Vec<TermWord>,
}

/// One word of a term, and whether it is long enough to match inside a compound.
#[derive(Debug, Clone, PartialEq)]
struct TermWord {
    text: String,
    inside_compounds: bool,
}

impl TermWord {
    fn matches(&self, token: &str) -> bool {
        token.starts_with(&self.text) || (self.inside_compounds && token.contains(&self.text))
    }
}

/// The words of an enquiry, in order, and the distinct ones for single-word terms.
pub(crate) struct Tokens {
    sequence: Vec<String>,
    distinct: Vec<String>,
}

impl Tokens {
    pub(crate) fn of(text: &str) -> Self {
        let sequence: Vec<String> = words(text).collect();
        let mut distinct = sequence.clone();
        distinct.sort_unstable();
        distinct.dedup();
        Self { sequence, distinct }
    }
}

/// Every prefix of the distinct words, and every piece of six characters or more inside
/// them, so a single-word term is looked up once instead of compared with every word
/// (thousands of terms in a dozen languages).
struct Fragments<'a> {
    prefixes: HashSet<&'a str>,
    inner: HashSet<&'a str>,
}

/// Pieces longer than this are not looked up inside words (no term is that long).
const LONGEST_INNER_PIECE: usize = 40;

impl<'a> Fragments<'a> {
    fn of(tokens: &'a Tokens) -> Self {
        let mut prefixes = HashSet::new();
        let mut inner = HashSet::new();
        for token in &tokens.distinct {
            let bounds: Vec<usize> = token
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(token.len()))
                .collect();
            for end in &bounds[1..] {
                prefixes.insert(&token[..*end]);
            }
            for (i, start) in bounds.iter().enumerate() {
                for end in bounds.iter().skip(i + 6).take(LONGEST_INNER_PIECE - 5) {
                    inner.insert(&token[*start..*end]);
                }
            }
        }
        Self { prefixes, inner }
    }

    /// Whether a word of a term matches one of the words.
    fn has(&self, word: &TermWord) -> bool {
        self.prefixes.contains(word.text.as_str())
            || (word.inside_compounds && self.inner.contains(word.text.as_str()))
    }
}

impl Term {
    fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<String> = words(text).collect();
        if words.is_empty() {
            return Err(format!("term {text:?} has no words"));
        }
        if words.iter().any(|w| w.chars().count() < 3) && words.len() == 1 {
            return Err(format!("term {text:?} is shorter than 3 characters"));
        }
        Ok(Self {
            text: words.join(" "),
            words: words
                .into_iter()
                .map(|w| TermWord {
                    inside_compounds: w.chars().count() >= 6,
                    text: w,
                })
                .collect(),
        })
    }

    /// Whether the term occurs in the tokens: each word of the term matches a token that
    /// starts with it, or (for words of six or more characters) contains it.
    fn occurs_in(&self, tokens: &Tokens, fragments: &Fragments<'_>) -> bool {
        if let [word] = self.words.as_slice() {
            return fragments.has(word);
        }
        // Every word of a phrase must occur somewhere before its order is checked.
        if !self.words.iter().all(|w| fragments.has(w)) {
            return false;
        }
        let n = self.words.len();
        tokens.sequence.len() >= n
            && tokens
                .sequence
                .windows(n)
                .any(|window| self.words.iter().zip(window).all(|(w, t)| w.matches(t)))
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Keyword {
    term: Term,
    weight: f64,
}

/// A `*` wildcard pattern over email addresses, case-insensitive.
#[derive(Debug, Clone, PartialEq)]
struct AddressPattern(String);

impl AddressPattern {
    fn matches(&self, address: &str) -> bool {
        glob_match(&self.0, address)
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

/// One department's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct DepartmentRules {
    /// The department.
    pub department: Department,
    keywords: Vec<Keyword>,
    recipient_patterns: Vec<AddressPattern>,
    sender_patterns: Vec<AddressPattern>,
    urgent_terms: Vec<Term>,
}

/// What the rules found in one enquiry for one department.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleMatch {
    /// The department.
    pub department: DepartmentId,
    /// Sum of the weights of what matched.
    pub score: f64,
    /// Keywords that matched, with their weights.
    pub keywords: Vec<(String, f64)>,
    /// Recipient or sender patterns that matched.
    pub patterns: Vec<String>,
}

/// What the rules say about one enquiry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleVerdict {
    /// Departments with any match, highest score first.
    pub matches: Vec<RuleMatch>,
    /// Urgent terms found, with the department whose rules name them.
    pub urgent_terms: Vec<String>,
}

/// Score that a matching recipient pattern (a plus-address) adds.
pub const RECIPIENT_PATTERN_WEIGHT: f64 = 10.0;
/// Score that a matching sender pattern adds.
pub const SENDER_PATTERN_WEIGHT: f64 = 6.0;

/// All departments' rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoutingRules {
    departments: Vec<DepartmentRules>,
}

impl RoutingRules {
    /// Parses rule files given as (name, text) pairs. Every problem in every file is
    /// reported, with its line.
    pub fn parse_files(files: &[(PathBuf, String)]) -> Result<Self, Problems> {
        let mut problems = Problems::default();
        let mut departments: BTreeMap<String, DepartmentRules> = BTreeMap::new();
        for (path, source) in files {
            match parse_rule_file(path, source) {
                Ok(rules) => {
                    let id = rules.department.id.to_string();
                    match departments.entry(id) {
                        std::collections::btree_map::Entry::Occupied(e) => {
                            problems.push(Problem::in_file(
                                path,
                                format!("department {:?} is defined twice", e.key()),
                            ))
                        }
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(rules);
                        }
                    }
                }
                Err(mut found) => problems.0.append(&mut found.0),
            }
        }
        if files.is_empty() {
            problems.push(Problem::in_file(
                Path::new("routing-rules"),
                "no rule files found",
            ));
        }
        problems.into_result(Self {
            departments: departments.into_values().collect(),
        })
    }

    /// Reads every `*.toml` file in a folder.
    pub fn load_dir(dir: &Path) -> Result<Self, Problems> {
        let files = crate::defaults::read_folder(dir, "toml").map_err(|e| {
            Problems(vec![Problem::in_file(
                dir,
                format!("cannot read rules folder: {e}"),
            )])
        })?;
        Self::parse_files(&files)
    }

    /// The departments, in id order.
    pub fn departments(&self) -> impl Iterator<Item = &Department> {
        self.departments.iter().map(|d| &d.department)
    }

    /// Whether both define the same departments (a classifier's model knows its
    /// departments; others need a restart).
    pub fn same_departments(&self, other: &RoutingRules) -> bool {
        self.departments()
            .map(|d| d.id.as_str())
            .eq(other.departments().map(|d| d.id.as_str()))
    }

    /// One department by id.
    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments().find(|d| d.id.as_str() == id)
    }

    /// Evaluates every department's rules against an enquiry.
    pub fn evaluate(
        &self,
        text: &str,
        sender: Option<&EmailAddress>,
        recipients: &[EmailAddress],
    ) -> RuleVerdict {
        let tokens = Tokens::of(text);
        let fragments = Fragments::of(&tokens);
        let mut verdict = RuleVerdict::default();
        for rules in &self.departments {
            let mut m = RuleMatch {
                department: rules.department.id.clone(),
                score: 0.0,
                keywords: Vec::new(),
                patterns: Vec::new(),
            };
            for kw in &rules.keywords {
                if kw.term.occurs_in(&tokens, &fragments) {
                    m.score += kw.weight;
                    m.keywords.push((kw.term.text.clone(), kw.weight));
                }
            }
            for p in &rules.recipient_patterns {
                if recipients.iter().any(|r| p.matches(r.as_str())) {
                    m.score += RECIPIENT_PATTERN_WEIGHT;
                    m.patterns.push(format!("till {}", p.0));
                }
            }
            if let Some(sender) = sender {
                for p in &rules.sender_patterns {
                    if p.matches(sender.as_str()) {
                        m.score += SENDER_PATTERN_WEIGHT;
                        m.patterns.push(format!("från {}", p.0));
                    }
                }
            }
            for t in &rules.urgent_terms {
                if t.occurs_in(&tokens, &fragments) && !verdict.urgent_terms.contains(&t.text) {
                    verdict.urgent_terms.push(t.text.clone());
                }
            }
            if m.score > 0.0 {
                m.keywords.sort_by(|a, b| b.1.total_cmp(&a.1));
                verdict.matches.push(m);
            }
        }
        verdict.matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.department.cmp(&b.department))
        });
        verdict
    }
}

fn parse_rule_file(path: &Path, source: &str) -> Result<DepartmentRules, Problems> {
    let file: RuleFile =
        toml::from_str(source).map_err(|e| Problems(vec![Problem::from_toml(path, source, &e)]))?;
    let mut problems = Problems::default();
    let at = |span: std::ops::Range<usize>, msg: String| {
        Problem::at_offset(path, source, span.start, msg)
    };

    let id = match DepartmentId::parse(file.id.get_ref()) {
        Ok(id) => Some(id),
        Err(e) => {
            problems.push(at(file.id.span(), e.to_string()));
            None
        }
    };
    if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
        if stem != file.id.get_ref() {
            problems.push(at(
                file.id.span(),
                format!(
                    "id {:?} must match the file name {stem:?}",
                    file.id.get_ref()
                ),
            ));
        }
    }
    let forward_to = match EmailAddress::parse(file.forward_to.get_ref()) {
        Ok(a) => Some(a),
        Err(_) => {
            problems.push(at(
                file.forward_to.span(),
                "forward_to is not an email address".into(),
            ));
            None
        }
    };
    if file.name.trim().is_empty() {
        problems.push(Problem::in_file(path, "name is empty"));
    }
    let mut keywords = Vec::new();
    for kw in &file.keywords {
        let entry = kw.get_ref();
        if !(0.0..=100.0).contains(&entry.weight) || entry.weight == 0.0 {
            problems.push(at(
                kw.span(),
                format!(
                    "weight {} of {:?} must be above 0 and at most 100",
                    entry.weight, entry.term
                ),
            ));
        }
        match Term::parse(&entry.term) {
            Ok(term) => keywords.push(Keyword {
                term,
                weight: entry.weight,
            }),
            Err(e) => problems.push(at(kw.span(), e)),
        }
    }
    let mut urgent_terms = Vec::new();
    for t in &file.urgent_terms {
        match Term::parse(t.get_ref()) {
            Ok(term) => urgent_terms.push(term),
            Err(e) => problems.push(at(t.span(), e)),
        }
    }
    let patterns = |list: &[Spanned<String>], problems: &mut Problems| -> Vec<AddressPattern> {
        list.iter()
            .filter_map(|p| {
                let text = p.get_ref().trim().to_lowercase();
                if text.is_empty() || !text.contains('@') {
                    problems.push(at(
                        p.span(),
                        format!("pattern {:?} must contain '@'", p.get_ref()),
                    ));
                    None
                } else {
                    Some(AddressPattern(text))
                }
            })
            .collect()
    };
    let recipient_patterns = patterns(&file.recipient_patterns, &mut problems);
    let sender_patterns = patterns(&file.sender_patterns, &mut problems);

    match (id, forward_to) {
        (Some(id), Some(forward_to)) if problems.is_empty() => Ok(DepartmentRules {
            department: Department {
                name_en: file.name_en.unwrap_or_else(|| file.name.clone()),
                name: file.name,
                id,
                forward_to,
                sensitive: file.sensitive,
            },
            keywords,
            recipient_patterns,
            sender_patterns,
            urgent_terms,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYGG: &str = r#"
id = "bygg-miljo"
name = "Bygg och miljö"
forward_to = "bygg@kommun.example"
recipient_patterns = ["kontaktcenter+bygglov@*"]
urgent_terms = ["rasrisk"]

[[keywords]]
term = "bygglov"
weight = 3.0

[[keywords]]
term = "enskilt avlopp"
weight = 4.0
"#;

    fn rules() -> RoutingRules {
        RoutingRules::parse_files(&[(PathBuf::from("bygg-miljo.toml"), BYGG.to_owned())]).unwrap()
    }

    #[test]
    fn keywords_match_compounds_phrases_and_plus_addresses() {
        let r = rules();
        let table: &[(&str, &str, f64)] = &[
            ("Min bygglovsansökan", "x@kommun.example", 3.0),
            ("Vi har ett enskilt avloppssystem", "x@kommun.example", 4.0),
            (
                "Fråga om staket",
                "kontaktcenter+bygglov@kommun.example",
                RECIPIENT_PATTERN_WEIGHT,
            ),
            ("Fråga om staket", "x@kommun.example", 0.0),
            ("Avlopp enskilt", "x@kommun.example", 0.0),
        ];
        for (text, to, score) in table {
            let v = r.evaluate(text, None, &[EmailAddress::parse(to).unwrap()]);
            let got = v.matches.first().map(|m| m.score).unwrap_or(0.0);
            assert_eq!(got, *score, "{text} to {to}");
        }
        let v = r.evaluate("Rasrisk vid släntem", None, &[]);
        assert_eq!(v.urgent_terms, ["rasrisk"]);
    }

    #[test]
    fn broken_rule_files_name_file_and_line() {
        let cases: &[(&str, usize, &str)] = &[
            ("id = \"bygg-miljo\"\nname = \"B\"\nforward_to = \"nope\"\n", 3, "forward_to"),
            ("id = \"bygg-miljo\"\nname = \"B\"\nforward_to = \"a@b.se\"\n[[keywords]]\nterm = \"x\"\nweight = 1.0\n", 4, "shorter"),
            ("id = \"bygg-miljo\"\nname = \"B\"\nforward_to = \"a@b.se\"\ncolour = 1\n", 4, "unknown field"),
            ("id = \"annat\"\nname = \"B\"\nforward_to = \"a@b.se\"\n", 1, "file name"),
            ("id = \"bygg-miljo\"\nname = \"B\"\nforward_to = \"a@b.se\"\n[[keywords]]\nterm = \"bygglov\"\nweight = -2\n", 4, "weight"),
            ("id = \"bygg-miljo\"\nname = \n", 2, ""),
        ];
        for (source, line, needle) in cases {
            let err = RoutingRules::parse_files(&[(
                PathBuf::from("rules/bygg-miljo.toml"),
                source.to_string(),
            )])
            .unwrap_err();
            let p = &err.0[0];
            assert_eq!(p.line, Some(*line), "{source}: {err}");
            assert!(p.message.contains(needle), "{source}: {err}");
            assert!(
                err.to_string()
                    .starts_with(&format!("rules/bygg-miljo.toml:{line}:")),
                "{err}"
            );
        }
    }

    #[test]
    fn glob_patterns_match_like_a_shell() {
        assert!(glob_match(
            "kontaktcenter+bygglov@*",
            "kontaktcenter+bygglov@kommun.se"
        ));
        assert!(glob_match("*@lansstyrelsen.se", "a@lansstyrelsen.se"));
        assert!(!glob_match(
            "*@lansstyrelsen.se",
            "a@lansstyrelsen.se.evil.com"
        ));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXcYYb"));
    }
}
