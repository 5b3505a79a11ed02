//! The routing decision: department rules and the nearest past answers combined into a
//! ranking of departments, a confidence in [0, 1] and an explanation a person can check.
//!
//! Pure computation over an in-memory index; no database, no network.

use super::analysis::AnalysedText;
use super::calibration::Calibration;
use super::knowledge::{looks_english, KnowledgeEntry, KnowledgeError, KnowledgeIndex, Neighbour};
use super::language::detect_language;
use super::model::{DepartmentModel, ModelKind};
use super::rules::{RoutingRules, RuleVerdict};
use crate::domain::{DecisionSource, EmailAddress, Language};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Tunable settings of the classifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassifierSettings {
    /// At or above this confidence a case is routed without a person.
    pub auto_route_threshold: f64,
    /// How many past answers vote.
    pub neighbours: usize,
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        Self {
            auto_route_threshold: 0.9,
            neighbours: 12,
        }
    }
}

/// One enquiry to classify.
#[derive(Debug, Clone, Copy)]
pub struct Enquiry<'a> {
    /// Subject and the citizen's own words.
    pub text: &'a str,
    /// The sender, for sender patterns.
    pub sender: Option<&'a EmailAddress>,
    /// The recipients, for plus-address patterns.
    pub recipients: &'a [EmailAddress],
}

impl<'a> Enquiry<'a> {
    /// An enquiry with text only.
    pub fn text(text: &'a str) -> Self {
        Self {
            text,
            sender: None,
            recipients: &[],
        }
    }
}

/// What the classifier concluded.
#[derive(Debug, Clone)]
pub struct Classification {
    /// Departments (classes) with their combined score, best first; scores sum to 1.
    pub ranking: Vec<(String, f64)>,
    /// How sure the classifier is of the first department, in [0, 1]: calibrated, so
    /// that of decisions at 0.9 about nine in ten are right.
    pub confidence: f64,
    /// The score before calibration.
    pub raw_score: f64,
    /// Words of the enquiry that spoke most for the first department.
    pub telling_words: Vec<String>,
    /// Whether the case may be forwarded without a person: the confidence reaches the
    /// auto-route threshold and no secrecy department is in doubt.
    pub auto_route: bool,
    /// A department under secrecy that the enquiry may well concern, though another
    /// department ranks first: a person decides, because forwarding a social services
    /// matter to the wrong department shows it to staff who may not see it.
    pub secrecy_doubt: Option<String>,
    /// Rules, index, or both.
    pub source: DecisionSource,
    /// The detected language.
    pub language: Language,
    /// The rules' findings.
    pub rules: RuleVerdict,
    /// The nearest past answers, best first.
    pub neighbours: Vec<Neighbour>,
}

impl Classification {
    /// The best department, if any evidence pointed anywhere.
    pub fn department(&self) -> Option<&str> {
        self.ranking.first().map(|(d, _)| d.as_str())
    }

    /// Whether any urgent term was found.
    pub fn urgent(&self) -> bool {
        !self.rules.urgent_terms.is_empty()
    }

    /// A short explanation in Swedish, for staff: which words and rules counted and the
    /// three nearest past cases.
    pub fn explanation(&self) -> String {
        let mut parts = Vec::new();
        if let Some(best) = self.department() {
            if !self.telling_words.is_empty() {
                let words: Vec<String> = self
                    .telling_words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect();
                parts.push(format!("Ord som talade för {best}: {}", words.join(", ")));
            }
            if let Some(m) = self
                .rules
                .matches
                .iter()
                .find(|m| m.department.as_str() == best)
            {
                let mut words: Vec<String> = m
                    .keywords
                    .iter()
                    .take(6)
                    .map(|(t, w)| format!("\"{t}\" ({w})"))
                    .collect();
                words.extend(m.patterns.iter().cloned());
                if !words.is_empty() {
                    parts.push(format!("Regler för {best}: {}", words.join(", ")));
                }
            }
        } else {
            parts.push("Inget ord eller tidigare ärende pekade ut en avdelning".to_owned());
        }
        if !self.neighbours.is_empty() {
            let near: Vec<String> = self
                .neighbours
                .iter()
                .take(3)
                .map(|n| {
                    format!(
                        "{} ({}, {:.1})",
                        n.entry.id,
                        n.entry.department.as_deref().unwrap_or("-"),
                        n.score
                    )
                })
                .collect();
            parts.push(format!("Liknande tidigare ärenden: {}", near.join(", ")));
        }
        if let Some(department) = &self.secrecy_doubt {
            parts.push(format!(
                "Kan gälla {department} (sekretess): en person avgör"
            ));
        }
        if self.urgent() {
            parts.push(format!(
                "Brådskande: {}",
                self.rules.urgent_terms.join(", ")
            ));
        }
        parts.push(format!("Säkerhet {:.2}", self.confidence));
        parts.join(". ")
    }
}

/// Rules plus knowledge index plus the department model, with calibrated confidence.
pub struct Classifier {
    /// Replaced whole when people reload edited rules.
    rules: RwLock<Arc<RoutingRules>>,
    index: KnowledgeIndex,
    /// Written only when a person's decision is learned.
    model: RwLock<DepartmentModel>,
    calibration: Calibration,
    training: TrainingReport,
    settings: ClassifierSettings,
}

/// What became of a learned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Learned {
    /// Added to the index.
    Added,
    /// An entry with its id was there already.
    AlreadyKnown,
    /// Its department is sensitive: it never enters the shared knowledge base.
    NotShared,
}

/// How the model was chosen and the confidence calibrated, for reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TrainingReport {
    /// The shape of model that decides.
    pub model: Option<ModelKind>,
    /// Knowledge entries held out to choose the model and calibrate the confidence.
    pub held_out: usize,
    /// Top-1 accuracy on them of each shape tried.
    pub held_out_accuracy: Vec<(ModelKind, f64)>,
    /// Whether confidence is calibrated (enough entries were held out).
    pub calibrated: bool,
}

/// Weight of the department model against the votes of the nearest past answers.
const MODEL_WEIGHT: f64 = 0.8;

/// A sensitive department with this share of the evidence keeps a case from being forwarded
/// to another department without a person.
const SECRECY_DOUBT: f64 = 0.15;

/// Rule evidence of this total weight counts as much as the index.
const RULE_HALF_WEIGHT: f64 = 4.0;

/// Share of the enquiry's stems the nearest past enquiry must have to count as a precedent.
const PRECEDENT_COVERAGE: f64 = 0.8;

/// Weight of a precedent's department against all other evidence.
const PRECEDENT_WEIGHT: f64 = 0.6;

/// Every n-th entry of each department is held out to choose and calibrate.
const HOLD_OUT_EVERY: usize = 5;

/// Below this many labelled entries nothing is held out: the linear model is trained on
/// all of them and the raw score is the confidence.
const MIN_ENTRIES_TO_HOLD_OUT: usize = 60;

/// The hidden-layer model is tried from this many training entries on.
const MIN_ENTRIES_FOR_HIDDEN_LAYER: usize = 2000;

/// A labelled knowledge entry, analysed for training.
struct Example {
    id: String,
    text: String,
    analysed: AnalysedText,
    department: String,
    /// Written as a hard case between two departments: always trains, never calibrates.
    boundary: bool,
}

/// A sensitive department with at least [`SECRECY_DOUBT`] of the evidence when a
/// department that is not sensitive ranks first.
fn sensitive_in_doubt(rules: &RoutingRules, ranking: &[(String, f64)]) -> Option<String> {
    let sensitive = |d: &str| rules.department(d).is_some_and(|d| d.sensitive);
    let (first, _) = ranking.first()?;
    if sensitive(first) {
        return None;
    }
    ranking
        .iter()
        .skip(1)
        .find(|(d, share)| *share >= SECRECY_DOUBT && sensitive(d))
        .map(|(d, _)| d.clone())
}

/// At most this many entries train the shapes that are compared at start.
const MAX_CHOICE_TRAINING: usize = 20_000;

/// Every k-th item, so that at most `max` remain (spread over the whole list).
fn thin<T>(items: Vec<T>, max: usize) -> Vec<T> {
    if items.len() <= max {
        return items;
    }
    let stride = items.len().div_ceil(max);
    items.into_iter().step_by(stride).collect()
}

/// A held-out decision: its raw score and whether it was right.
type CalibrationPoint = (f64, bool);

/// What the evidence adds up to, before calibration.
struct Blend {
    ranking: Vec<(String, f64)>,
    raw_confidence: f64,
    source: DecisionSource,
}

impl Classifier {
    /// Creates a classifier: trains the department model on the knowledge base, choosing
    /// its shape and calibrating the confidence on held-out entries.
    pub fn new(rules: RoutingRules, index: KnowledgeIndex, settings: ClassifierSettings) -> Self {
        let analyser = index.analyser();
        let examples: Vec<Example> = index
            .entries()
            .iter()
            .filter_map(|e| {
                let department = e.department.clone()?;
                let question = format!("{}\n{}", e.subject, e.text);
                let text = if question.trim().is_empty() {
                    e.answer.clone()
                } else {
                    question
                };
                Some(Example {
                    id: e.id.clone(),
                    analysed: analyser.analyse(&text, looks_english(&text)),
                    text,
                    department,
                    boundary: e.boundary,
                })
            })
            .collect();
        let mut classifier = Self {
            rules: RwLock::new(Arc::new(rules)),
            index,
            model: RwLock::new(DepartmentModel::default()),
            calibration: Calibration::default(),
            training: TrainingReport::default(),
            settings,
        };
        classifier.train(&examples);
        classifier
    }

    /// Chooses the model shape on held-out entries, fits the calibration on the chosen
    /// shape's held-out decisions, then trains that shape on every entry.
    fn train(&mut self, examples: &[Example]) {
        let all: Vec<(&AnalysedText, &str)> = examples
            .iter()
            .map(|e| (&e.analysed, e.department.as_str()))
            .collect();
        if examples.len() < MIN_ENTRIES_TO_HOLD_OUT {
            let model = DepartmentModel::train(&all, ModelKind::Linear);
            self.training.model = model.is_trained().then(|| model.kind());
            self.model = RwLock::new(model);
            return;
        }
        // Every k-th ordinary entry of each department is held out to choose the shape and
        // calibrate the confidence; entries written as boundary cases always train.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let (mut training, mut held_out) = (Vec::new(), Vec::new());
        for e in examples {
            let n = seen.entry(e.department.as_str()).or_default();
            if !e.boundary {
                *n += 1;
            }
            if !e.boundary && *n % HOLD_OUT_EVERY == 0 {
                held_out.push(e);
            } else {
                training.push((&e.analysed, e.department.as_str()));
            }
        }
        // On a large base the choice and the calibration are made on an even sample, so
        // start-up does not train every shape on everything twice.
        let training = thin(training, MAX_CHOICE_TRAINING);
        let held_out = thin(held_out, MAX_CHOICE_TRAINING / (HOLD_OUT_EVERY - 1));
        let mut kinds = vec![ModelKind::Linear];
        if training.len() >= MIN_ENTRIES_FOR_HIDDEN_LAYER {
            kinds.push(ModelKind::HiddenLayer);
        }
        // The best shape so far: its held-out accuracy and (raw score, right) per entry.
        let mut best: Option<(ModelKind, f64, Vec<CalibrationPoint>)> = None;
        for kind in kinds {
            self.model = RwLock::new(DepartmentModel::train(&training, kind));
            let points: Vec<(f64, bool)> = held_out
                .iter()
                .filter_map(|e| {
                    let blend = self
                        .blend_for(&e.text, &e.analysed, None, &[], Some(&e.id))
                        .ok()?;
                    let right = blend
                        .ranking
                        .first()
                        .is_some_and(|(d, _)| *d == e.department);
                    Some((blend.raw_confidence, right))
                })
                .collect();
            let accuracy = points.iter().filter(|(_, right)| *right).count() as f64
                / points.len().max(1) as f64;
            self.training.held_out_accuracy.push((kind, accuracy));
            if best.as_ref().is_none_or(|(_, a, _)| accuracy > *a) {
                best = Some((kind, accuracy, points));
            }
        }
        let (kind, _, points) = best.expect("at least the linear model was tried");
        self.calibration = Calibration::fit(&points);
        let model = DepartmentModel::train(&all, kind);
        self.training.model = model.is_trained().then(|| model.kind());
        self.model = RwLock::new(model);
        self.training.held_out = held_out.len();
        self.training.calibrated = self.calibration.is_fitted();
    }

    /// Learns from a person's decision: the entry (already redacted) joins the index at
    /// once, so its nearest-neighbour vote counts for the next similar enquiry; a
    /// hidden-layer model takes it in at once too, a linear one at the next start (see
    /// [`DepartmentModel::learn`]). Entries of sensitive departments are never shared.
    pub fn learn(&self, entry: KnowledgeEntry) -> Result<Learned, KnowledgeError> {
        if self.is_sensitive(entry.department.as_deref()) {
            return Ok(Learned::NotShared);
        }
        let text = format!("{}\n{}", entry.subject, entry.text);
        let department = entry.department.clone();
        if !self.index.add(entry)? {
            return Ok(Learned::AlreadyKnown);
        }
        if let Some(department) = department {
            let analysed = self.analyse(&text);
            self.model
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .learn(&analysed, &department);
        }
        Ok(Learned::Added)
    }

    /// Puts a person's edit of an entry in place at once (answers, suggestions, the
    /// chat); the model takes the new text in at the next start. Entries of sensitive
    /// departments are refused.
    pub fn update_entry(&self, entry: KnowledgeEntry) -> Result<Learned, KnowledgeError> {
        if self.is_sensitive(entry.department.as_deref()) {
            return Ok(Learned::NotShared);
        }
        self.index.replace(entry)?;
        Ok(Learned::Added)
    }

    /// Takes a retired entry out of every answer at once.
    pub fn retire_entry(&self, id: &str) -> bool {
        self.index.retire(id)
    }

    /// Whether this department's cases must stay out of shared knowledge.
    pub fn is_sensitive(&self, department: Option<&str>) -> bool {
        department
            .and_then(|d| self.rules().department(d).cloned())
            .is_some_and(|d| d.sensitive)
    }

    fn model(&self) -> std::sync::RwLockReadGuard<'_, DepartmentModel> {
        self.model.read().unwrap_or_else(|e| e.into_inner())
    }

    /// How the model was chosen and calibrated.
    pub fn training(&self) -> &TrainingReport {
        &self.training
    }

    /// The rules in use.
    pub fn rules(&self) -> Arc<RoutingRules> {
        Arc::clone(&self.rules.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Puts reloaded rules in use. The departments must be the same ones (the model knows
    /// them); a new or removed department needs a restart.
    pub fn replace_rules(&self, rules: RoutingRules) -> Result<(), String> {
        if !rules.same_departments(&self.rules()) {
            return Err("departments were added or removed: restart Brevduva to use them".into());
        }
        *self.rules.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(rules);
        Ok(())
    }

    /// The knowledge index in use.
    pub fn index(&self) -> &KnowledgeIndex {
        &self.index
    }

    /// The settings in use.
    pub fn settings(&self) -> ClassifierSettings {
        self.settings
    }

    /// Analyses an enquiry's text the way the index does.
    pub fn analyse(&self, text: &str) -> AnalysedText {
        self.index.analyser().analyse(text, looks_english(text))
    }

    /// Classifies one enquiry.
    pub fn classify(&self, enquiry: Enquiry<'_>) -> Result<Classification, KnowledgeError> {
        let language = detect_language(enquiry.text);
        let query = self.analyse(enquiry.text);
        let rules = self
            .rules()
            .evaluate(enquiry.text, enquiry.sender, enquiry.recipients);
        let neighbours = self.index.nearest(&query, self.settings.neighbours)?;
        let blend = self.blend(&query, &rules, &neighbours);
        let confidence = if blend.ranking.is_empty() {
            0.0
        } else {
            self.calibration.apply(blend.raw_confidence)
        };
        let telling_words = blend
            .ranking
            .first()
            .map(|(d, _)| self.model().telling_words(&query, d, 5))
            .unwrap_or_default();
        let secrecy_doubt = sensitive_in_doubt(&self.rules(), &blend.ranking);
        Ok(Classification {
            auto_route: confidence >= self.settings.auto_route_threshold
                && !blend.ranking.is_empty()
                && secrecy_doubt.is_none(),
            secrecy_doubt,
            ranking: blend.ranking,
            confidence,
            raw_score: blend.raw_confidence,
            source: blend.source,
            language,
            telling_words,
            rules,
            neighbours,
        })
    }

    /// The blend for a text, leaving out one entry's own vote (when it is held out).
    fn blend_for(
        &self,
        text: &str,
        query: &AnalysedText,
        sender: Option<&EmailAddress>,
        recipients: &[EmailAddress],
        leave_out: Option<&str>,
    ) -> Result<Blend, KnowledgeError> {
        let rules = self.rules().evaluate(text, sender, recipients);
        let limit = self.settings.neighbours;
        let mut neighbours = self.index.nearest(query, limit + 1)?;
        neighbours.retain(|n| Some(n.entry.id.as_str()) != leave_out);
        neighbours.truncate(limit);
        Ok(self.blend(query, &rules, &neighbours))
    }

    /// Combines the department model, the votes of the nearest past answers and the rules
    /// into a ranking of departments and a raw score for the first.
    fn blend(&self, query: &AnalysedText, rules: &RuleVerdict, neighbours: &[Neighbour]) -> Blend {
        // Votes of the nearest past answers, weighted by their similarity relative to the best.
        let mut index_votes: HashMap<&str, f64> = HashMap::new();
        let best_score = neighbours.first().map(|n| n.score as f64).unwrap_or(0.0);
        for n in neighbours {
            if let Some(d) = n.entry.department.as_deref() {
                let relative = n.score as f64 / best_score;
                *index_votes.entry(d).or_default() += relative * relative;
            }
        }
        let index_total: f64 = index_votes.values().sum();
        let rule_total: f64 = rules.matches.iter().map(|m| m.score).sum();
        let model = self.model().predict(query);
        let rule_weight = if index_total > 0.0 || !model.is_empty() {
            rule_total / (rule_total + RULE_HALF_WEIGHT)
        } else if rule_total > 0.0 {
            1.0
        } else {
            0.0
        };

        let model_weight = if model.is_empty() {
            0.0
        } else if index_total > 0.0 {
            MODEL_WEIGHT
        } else {
            1.0
        };
        let mut combined: HashMap<String, f64> = HashMap::new();
        if index_total > 0.0 {
            for (d, v) in &index_votes {
                *combined.entry((*d).to_owned()).or_default() +=
                    (1.0 - rule_weight) * (1.0 - model_weight) * v / index_total;
            }
        }
        for (d, p) in &model {
            *combined.entry(d.clone()).or_default() += (1.0 - rule_weight) * model_weight * p;
        }
        if rule_total > 0.0 {
            for m in &rules.matches {
                *combined.entry(m.department.to_string()).or_default() +=
                    rule_weight * m.score / rule_total;
            }
        }
        // A past enquiry that says nearly everything the new one says is a precedent: its
        // department (often one a person chose) outweighs keywords and the model.
        let coverage = self.coverage(query, neighbours.first());
        if let Some(precedent) = neighbours
            .first()
            .filter(|n| n.entry.confirmed && coverage >= PRECEDENT_COVERAGE)
            .and_then(|n| n.entry.department.as_deref())
        {
            for share in combined.values_mut() {
                *share *= 1.0 - PRECEDENT_WEIGHT;
            }
            *combined.entry(precedent.to_owned()).or_default() += PRECEDENT_WEIGHT;
        }
        let mut ranking: Vec<(String, f64)> = combined.into_iter().collect();
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        let raw_confidence = match ranking.first() {
            None => 0.0,
            Some((_, share)) => {
                let index_strength = 0.35 + 0.65 * coverage;
                let rule_strength = rule_total / (rule_total + 2.0);
                let strength = (1.0 - rule_weight) * index_strength + rule_weight * rule_strength;
                (share * strength).clamp(0.0, 1.0)
            }
        };
        let source = match (rule_total > 0.0, index_total > 0.0) {
            (true, true) => DecisionSource::Combined,
            (true, false) => DecisionSource::Rules,
            _ => DecisionSource::Index,
        };
        Blend {
            ranking,
            raw_confidence,
            source,
        }
    }

    /// The nearest past enquiries that have an answer, best first, at most `limit`.
    pub fn nearest_answers(
        &self,
        text: &str,
        limit: usize,
    ) -> Result<Vec<Neighbour>, KnowledgeError> {
        let query = self.analyse(text);
        let mut found = self.index.nearest(&query, limit * 4)?;
        found.retain(|n| !n.entry.answer.trim().is_empty());
        found.truncate(limit);
        Ok(found)
    }

    /// The best approved FAQ entry among the nearest past answers for the routed
    /// department, if it covers at least `min_similarity` of the enquiry's words.
    pub fn approved_answer(
        &self,
        c: &Classification,
        text: &str,
        min_similarity: f64,
    ) -> Option<std::sync::Arc<KnowledgeEntry>> {
        let department = c.department()?;
        let query = self.analyse(text);
        c.neighbours
            .iter()
            .take(3)
            .filter(|n| {
                n.entry.approved
                    && !n.entry.answer.trim().is_empty()
                    && n.entry.department.as_deref() == Some(department)
            })
            .find(|n| self.coverage(&query, Some(n)) >= min_similarity)
            .map(|n| std::sync::Arc::clone(&n.entry))
    }

    /// The share of the query's stems that the best past answer's question also has.
    fn coverage(&self, query: &AnalysedText, best: Option<&Neighbour>) -> f64 {
        best.map_or(0.0, |best| self.coverage_by(query, &best.entry))
    }

    /// The share of the query's stems that an entry (subject, question and answer) has.
    pub fn coverage_by(&self, query: &AnalysedText, entry: &KnowledgeEntry) -> f64 {
        if query.stems.is_empty() {
            return 0.0;
        }
        let text = format!("{}\n{}\n{}", entry.subject, entry.text, entry.answer);
        let found = self.analyse(&text);
        let shared = query
            .stems
            .iter()
            .filter(|s| found.stems.contains(s))
            .count();
        shared as f64 / query.stems.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{KnowledgeEntry, KnowledgeIndex, RoutingRules};

    #[test]
    fn a_department_under_secrecy_with_a_fair_share_of_the_evidence_holds_the_case() {
        let rules = RoutingRules::parse_files(&crate::defaults::routing_rules()).unwrap();
        type Ranking = &'static [(&'static str, f64)];
        let table: &[(Ranking, Option<&str>)] = &[
            (
                &[("ekonomi", 0.7), ("socialtjanst", 0.2)],
                Some("socialtjanst"),
            ),
            (
                &[("ekonomi", 0.6), ("kansli", 0.25), ("socialtjanst", 0.15)],
                Some("socialtjanst"),
            ),
            (&[("utbildning", 0.8), ("omsorg", 0.2)], Some("omsorg")),
            (&[("ekonomi", 0.9), ("socialtjanst", 0.1)], None),
            (&[("socialtjanst", 0.6), ("ekonomi", 0.4)], None),
            (&[("socialtjanst", 0.6), ("omsorg", 0.4)], None),
            (&[("ekonomi", 0.6), ("kansli", 0.4)], None),
            (&[], None),
        ];
        for (ranking, expected) in table {
            let ranking: Vec<(String, f64)> =
                ranking.iter().map(|(d, s)| ((*d).to_owned(), *s)).collect();
            assert_eq!(
                sensitive_in_doubt(&rules, &ranking).as_deref(),
                *expected,
                "{ranking:?}"
            );
        }
    }

    #[test]
    fn boundary_entries_train_but_are_never_held_out_to_calibrate() {
        let words = ["soptunna", "bygglov", "förskola", "faktura"];
        let departments = ["vatten-avfall", "bygg-miljo", "utbildning", "ekonomi"];
        let entries = |half_boundary: bool| -> Vec<KnowledgeEntry> {
            (0..200)
                .map(|i| KnowledgeEntry {
                    id: format!("e{i}"),
                    department: Some(departments[i % 4].into()),
                    subject: String::new(),
                    text: format!("Fråga {i} om {} och annat", words[i % 4]),
                    answer: String::new(),
                    confirmed: false,
                    approved: false,
                    boundary: half_boundary && (i / 4) % 2 == 0,
                })
                .collect()
        };
        let held_out = |entries: Vec<KnowledgeEntry>| {
            let rules = RoutingRules::parse_files(&crate::defaults::routing_rules()).unwrap();
            let index = KnowledgeIndex::build_in_memory(entries).unwrap();
            Classifier::new(rules, index, ClassifierSettings::default())
                .training()
                .held_out
        };
        // 50 entries per department: every fifth held out.
        assert_eq!(held_out(entries(false)), 40);
        // Half of each department's entries boundary cases: every fifth of the other 25 held out.
        assert_eq!(held_out(entries(true)), 20);
    }

    #[test]
    fn thinning_keeps_at_most_the_maximum_spread_over_the_list() {
        let items: Vec<usize> = (0..100_000).collect();
        let kept = thin(items, 20_000);
        assert_eq!(kept.len(), 20_000);
        assert_eq!(kept[..3], [0, 5, 10]);
        assert!(*kept.last().unwrap() >= 99_990);
        assert_eq!(thin(vec![1, 2, 3], 20_000), [1, 2, 3]);
        assert_eq!(thin((0..25_001).collect::<Vec<_>>(), 20_000).len(), 12_501);
    }
}
