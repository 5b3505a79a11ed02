//! The rule files in use: the shipped or configured files, with the files edited in the
//! admin panel in place of their departments' own. Pure: the caller reads the files and
//! the edits.

use super::RoutingRules;
use std::path::{Path, PathBuf};

/// A rule file: where it came from and its text.
pub type RuleFile = (PathBuf, String);

/// The department a rule file is for: its name without `.toml` (`bygg-miljo.toml`).
pub fn department_of(path: &Path) -> Option<&str> {
    path.file_stem().and_then(|s| s.to_str())
}

/// The position of a department's file.
pub fn file_of(files: &[RuleFile], department: &str) -> Option<usize> {
    files
        .iter()
        .position(|(p, _)| department_of(p) == Some(department))
}

/// The files with an edited department's text in place of its file's. An edit of a
/// department that has no file (any more) is returned as not applied.
pub fn with_edits<'a>(
    mut files: Vec<RuleFile>,
    edits: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (Vec<RuleFile>, Vec<&'a str>) {
    let mut orphans = Vec::new();
    for (department, source) in edits {
        match file_of(&files, department) {
            Some(i) => files[i].1 = source.to_owned(),
            None => orphans.push(department),
        }
    }
    (files, orphans)
}

/// Checks a set of rule files as a whole: every file parses (and defines the department
/// it is named after) and the fallback department has rules. Returns the rules, or every
/// problem as a line a person can act on.
pub fn check(files: &[RuleFile], fallback: &str) -> Result<RoutingRules, Vec<String>> {
    let rules = RoutingRules::parse_files(files)
        .map_err(|p| p.0.iter().map(|p| p.to_string()).collect::<Vec<_>>())?;
    if rules.department(fallback).is_none() {
        return Err(vec![format!(
            "no rules for the fallback department {fallback:?}"
        )]);
    }
    Ok(rules)
}

/// The rules in use given valid base files and the panel's edits. Edits that no longer fit
/// (the base files changed under them, or their department is gone) are left out, and
/// their departments returned, so the base files' rules apply there and a person is told.
pub fn effective<'a>(
    base: &[RuleFile],
    edits: &[(&'a str, &'a str)],
    fallback: &str,
) -> Result<(RoutingRules, Vec<&'a str>), Vec<String>> {
    let (files, mut left_out) = with_edits(base.to_vec(), edits.iter().copied());
    if let Ok(rules) = check(&files, fallback) {
        return Ok((rules, left_out));
    }
    // Something does not fit: keep each edit only if the base files accept it.
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for &(department, source) in edits {
        if left_out.contains(&department) {
            continue;
        }
        let mut trial = kept.clone();
        trial.push((department, source));
        let (files, _) = with_edits(base.to_vec(), trial.iter().copied());
        if check(&files, fallback).is_ok() {
            kept = trial;
        } else {
            left_out.push(department);
        }
    }
    let (files, _) = with_edits(base.to_vec(), kept);
    check(&files, fallback).map(|rules| (rules, left_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, keyword: &str) -> RuleFile {
        (
            PathBuf::from(format!("{id}.toml")),
            format!(
                "id = \"{id}\"\nname = \"{id}\"\nforward_to = \"{id}@kommun.se\"\n\n\
                 [[keywords]]\nterm = \"{keyword}\"\nweight = 2.0\n"
            ),
        )
    }

    fn base() -> Vec<RuleFile> {
        vec![
            file("kontaktcenter", "fråga"),
            file("gata-park", "gata"),
            file("bygg-miljo", "bygglov"),
        ]
    }

    fn routes(rules: &RoutingRules, text: &str) -> Option<String> {
        rules
            .evaluate(text, None, &[])
            .matches
            .first()
            .map(|m| m.department.to_string())
    }

    #[test]
    fn an_edit_takes_the_place_of_its_departments_file() {
        let edited = file("gata-park", "gungställning").1;
        let (rules, left_out) =
            effective(&base(), &[("gata-park", &edited)], "kontaktcenter").unwrap();
        assert!(left_out.is_empty());
        assert_eq!(
            routes(&rules, "trasig gungställning").as_deref(),
            Some("gata-park")
        );
        assert_eq!(
            routes(&rules, "trasig gata"),
            None,
            "the file's word is gone"
        );
        assert_eq!(
            routes(&rules, "bygglov").as_deref(),
            Some("bygg-miljo"),
            "other files stay"
        );
    }

    #[test]
    fn edits_that_no_longer_fit_are_left_out_and_named() {
        let broken = "id = \"gata-park\"\nname = [\n";
        let other_id = file("park", "gunga").1;
        let good = file("bygg-miljo", "strandskydd").1;
        let (rules, left_out) = effective(
            &base(),
            &[
                ("gata-park", broken),
                ("bygg-miljo", &good),
                ("nedlagd", "id = \"nedlagd\""),
                ("kontaktcenter", &other_id),
            ],
            "kontaktcenter",
        )
        .unwrap();
        assert_eq!(left_out, vec!["nedlagd", "gata-park", "kontaktcenter"]);
        assert_eq!(routes(&rules, "strandskydd").as_deref(), Some("bygg-miljo"));
        assert_eq!(routes(&rules, "gata").as_deref(), Some("gata-park"));
        assert!(rules.department("kontaktcenter").is_some());
    }

    #[test]
    fn a_check_names_what_is_wrong() {
        let mut files = base();
        files[1].1 = "id = \"gata-park\"\nname = [\n".into();
        let problems = check(&files, "kontaktcenter").unwrap_err();
        assert!(problems[0].starts_with("gata-park.toml:"), "{problems:?}");
        let files = vec![file("gata-park", "gata")];
        assert_eq!(
            check(&files, "kontaktcenter").unwrap_err(),
            vec!["no rules for the fallback department \"kontaktcenter\"".to_owned()]
        );
        let mut renamed = vec![file("kontaktcenter", "fråga"), file("park", "gata")];
        renamed[1].0 = PathBuf::from("gata-park.toml");
        let problems = check(&renamed, "kontaktcenter").unwrap_err();
        assert!(
            problems[0].starts_with("gata-park.toml:1:") && problems[0].contains("\"park\""),
            "{problems:?}"
        );
    }
}
