//! The routing decision: department rules and the nearest past answers combined into a
//! ranking of departments, a confidence in [0, 1] and an explanation a person can check.
//!
//! Pure computation over an in-memory index; no database, no network.

use super::analysis::AnalysedText;
use super::knowledge::{looks_english, KnowledgeError, KnowledgeIndex, Neighbour};
use super::language::detect_language;
use super::model::{LinearModel, TrainingSettings};
use super::rules::{RoutingRules, RuleVerdict};
use crate::domain::{DecisionSource, EmailAddress, Language};
use std::collections::HashMap;

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
            auto_route_threshold: 0.5,
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
    /// How sure the classifier is of the first department, in [0, 1].
    pub confidence: f64,
    /// Whether the confidence reaches the auto-route threshold.
    pub auto_route: bool,
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

/// Rules plus knowledge index.
pub struct Classifier {
    rules: RoutingRules,
    index: KnowledgeIndex,
    model: LinearModel,
    settings: ClassifierSettings,
}

/// Weight of the linear model against the votes of the nearest past answers.
const MODEL_WEIGHT: f64 = 0.8;

/// Rule evidence of this total weight counts as much as the index.
const RULE_HALF_WEIGHT: f64 = 4.0;

impl Classifier {
    /// Creates a classifier.
    pub fn new(rules: RoutingRules, index: KnowledgeIndex, settings: ClassifierSettings) -> Self {
        let analyser = index.analyser();
        let examples: Vec<(AnalysedText, String)> = index
            .entries()
            .iter()
            .filter_map(|e| {
                let department = e.department.clone()?;
                let question = format!("{}\n{}", e.subject, e.text);
                let text = if question.trim().is_empty() {
                    e.answer.as_str()
                } else {
                    question.as_str()
                };
                Some((analyser.analyse(text, looks_english(text)), department))
            })
            .collect();
        let model = LinearModel::train(&examples, TrainingSettings::default());
        Self {
            rules,
            index,
            model,
            settings,
        }
    }

    /// The rules in use.
    pub fn rules(&self) -> &RoutingRules {
        &self.rules
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
        let rules = self
            .rules
            .evaluate(enquiry.text, enquiry.sender, enquiry.recipients);
        let query = self.analyse(enquiry.text);
        let neighbours = self.index.nearest(&query, self.settings.neighbours)?;

        // Votes of the nearest past answers, weighted by their similarity relative to the best.
        let mut index_votes: HashMap<&str, f64> = HashMap::new();
        let best_score = neighbours.first().map(|n| n.score as f64).unwrap_or(0.0);
        for n in &neighbours {
            if let Some(d) = n.entry.department.as_deref() {
                let relative = n.score as f64 / best_score;
                *index_votes.entry(d).or_default() += relative * relative;
            }
        }
        let index_total: f64 = index_votes.values().sum();
        let rule_total: f64 = rules.matches.iter().map(|m| m.score).sum();
        let rule_weight = if index_total > 0.0 || self.model.is_trained() {
            rule_total / (rule_total + RULE_HALF_WEIGHT)
        } else if rule_total > 0.0 {
            1.0
        } else {
            0.0
        };

        let model = self.model.predict(&query);
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
        let mut ranking: Vec<(String, f64)> = combined.into_iter().collect();
        ranking.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        let coverage = self.coverage(&query, neighbours.first());
        let confidence = match ranking.first() {
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
        Ok(Classification {
            auto_route: confidence >= self.settings.auto_route_threshold && !ranking.is_empty(),
            ranking,
            confidence,
            source,
            language,
            rules,
            neighbours,
        })
    }

    /// The share of the query's stems that the best past answer's question also has.
    fn coverage(&self, query: &AnalysedText, best: Option<&Neighbour>) -> f64 {
        let Some(best) = best else { return 0.0 };
        if query.stems.is_empty() {
            return 0.0;
        }
        let text = format!(
            "{}\n{}\n{}",
            best.entry.subject, best.entry.text, best.entry.answer
        );
        let found = self.analyse(&text);
        let shared = query
            .stems
            .iter()
            .filter(|s| found.stems.contains(s))
            .count();
        shared as f64 / query.stems.len() as f64
    }
}
