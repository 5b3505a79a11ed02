//! `brevduva eval`: the real classifier, in memory, on labelled enquiries in the JSONL
//! format of `shared/eval` — routing accuracy, abstention, answer ranking and latency.

use crate::diagnostics::Problems;
use crate::routing::{
    Classifier, ClassifierSettings, Enquiry, KnowledgeEntry, KnowledgeIndex, RoutingRules,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

/// One test enquiry.
#[derive(Debug, Clone, Deserialize)]
pub struct EvalItem {
    /// Id.
    pub id: String,
    /// The right department, or `None` when no department fits (abstaining is right).
    pub department: Option<String>,
    /// Subject.
    #[serde(default)]
    pub subject: String,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// The knowledge entry whose answer is the right reply, if any.
    #[serde(default)]
    pub answer_id: Option<String>,
}

/// Parses test items from JSON Lines, naming the line of every bad one.
pub fn parse_items(file: &Path, source: &str) -> Result<Vec<EvalItem>, Problems> {
    let (items, problems) = crate::diagnostics::json_lines::<EvalItem>(file, source, "a test item");
    problems.into_result(items.into_iter().map(|(_, item)| item).collect())
}

/// Per-department figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClassFigures {
    /// Test items of this department.
    pub support: usize,
    /// Of the predictions for this department, the share that was right.
    pub precision: f64,
    /// Of this department's items, the share predicted right.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
}

/// The result of an evaluation; serialised as the last line of `eval`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Test items.
    pub n: usize,
    /// Knowledge entries.
    pub kb: usize,
    /// Top-1 accuracy of the suggested department on items that have one.
    pub accuracy: f64,
    /// Share of those items whose department is among the first three suggested.
    pub top3: f64,
    /// Mean F1 over departments.
    pub macro_f1: f64,
    /// Share of all items below the auto-route threshold (left for a person).
    pub abstain_rate: f64,
    /// Share of out-of-scope items abstained on; null when there are none.
    pub oos_recall: Option<f64>,
    /// Share of items routed automatically (at or above the threshold).
    pub auto_share: f64,
    /// Accuracy within the automatically routed in-scope items; null when none.
    pub auto_accuracy: Option<f64>,
    /// Items of a department under secrecy (socialtjänst, omsorg) that would have been
    /// forwarded without a person to another department.
    pub secret_forwarded_elsewhere: usize,
    /// The threshold used.
    pub threshold: f64,
    /// Share of items with an `answer_id` whose best suggested answer is that one.
    pub answer_hit1: Option<f64>,
    /// Mean reciprocal rank of the right answer within the first five.
    pub answer_mrr5: Option<f64>,
    /// Median classification time per item, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile classification time, milliseconds.
    pub p99_ms: f64,
    /// Time to build the index, milliseconds.
    pub index_build_ms: f64,
    /// Time to train the department model (held-out choice and calibration included),
    /// milliseconds.
    pub model_train_ms: f64,
    /// Top-1 accuracy on the in-scope items of the second half of the test set (with
    /// `learn`, after the first half was fed back).
    pub second_half_accuracy: f64,
    /// Whether each item was fed back after its prediction (`eval --learn`).
    pub learn: bool,
    /// Share of all items decided with confidence of at least 0.9.
    pub confident_share: f64,
    /// Of those, the share routed to the right department (an out-of-scope item counts as
    /// wrong); null when there are none.
    pub confident_accuracy: Option<f64>,
    /// The model shape chosen on held-out knowledge entries.
    pub model: Option<crate::routing::ModelKind>,
    /// Knowledge entries held out to choose the model and calibrate the confidence.
    pub held_out: usize,
    /// Top-1 accuracy on the held-out entries of each model shape tried.
    pub held_out_accuracy: Vec<(crate::routing::ModelKind, f64)>,
    /// Whether the confidence is calibrated.
    pub calibrated: bool,
    /// Per department.
    #[serde(skip)]
    pub per_class: BTreeMap<String, ClassFigures>,
    /// The in-scope items routed to the wrong department, in the order of the test set.
    #[serde(skip)]
    pub misses: Vec<Miss>,
}

/// An in-scope item routed to the wrong department: what to read when rules or the
/// knowledge base are improved.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// The item's id.
    pub id: String,
    /// Its department.
    pub expected: String,
    /// The department suggested (`None`: nothing pointed anywhere).
    pub suggested: Option<String>,
    /// The suggestion's confidence.
    pub confidence: f64,
    /// The explanation a person would have seen.
    pub explanation: String,
}

/// The confidence from which the calibration promises at least 95% right decisions.
pub const CONFIDENT: f64 = 0.9;

/// Evaluates a knowledge base and rules on test items.
pub fn evaluate(
    kb: Vec<KnowledgeEntry>,
    rules: RoutingRules,
    items: &[EvalItem],
    settings: ClassifierSettings,
    learn: bool,
) -> Result<EvalReport, crate::routing::KnowledgeError> {
    let kb_len = kb.len();
    let started = Instant::now();
    let index = KnowledgeIndex::build_in_memory(kb)?;
    let index_build_ms = started.elapsed().as_secs_f64() * 1000.0;
    let started = Instant::now();
    let classifier = Classifier::new(rules, index, settings);
    let model_train_ms = started.elapsed().as_secs_f64() * 1000.0;

    let mut latencies = Vec::with_capacity(items.len());
    let (mut in_scope, mut correct, mut top3) = (0usize, 0usize, 0usize);
    let (mut oos, mut oos_abstained, mut abstained) = (0usize, 0usize, 0usize);
    let (mut auto_in_scope, mut auto_correct, mut auto_total) = (0usize, 0usize, 0usize);
    let (mut answer_items, mut hit1, mut rr_sum) = (0usize, 0usize, 0.0f64);
    let mut confusion: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new(); // (tp, fp, fn)
    let (mut confident, mut confident_right) = (0usize, 0usize);
    let mut secret_forwarded_elsewhere = 0usize;

    let (mut second_half, mut second_half_right) = (0usize, 0usize);
    let mut misses = Vec::new();
    for (position, item) in items.iter().enumerate() {
        let text = if item.subject.is_empty() {
            item.text.clone()
        } else {
            format!("{}\n{}", item.subject, item.text)
        };
        let t = Instant::now();
        let c = classifier.classify(Enquiry::text(&text))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        let predicted = c.department().map(str::to_owned);
        if c.confidence >= CONFIDENT {
            confident += 1;
            confident_right +=
                usize::from(item.department.is_some() && predicted == item.department);
        }
        if c.auto_route {
            auto_total += 1;
        } else {
            abstained += 1;
        }
        match &item.department {
            Some(truth) => {
                in_scope += 1;
                let right = predicted.as_deref() == Some(truth.as_str());
                if right {
                    correct += 1;
                    confusion.entry(truth.clone()).or_default().0 += 1;
                } else {
                    misses.push(Miss {
                        id: item.id.clone(),
                        expected: truth.clone(),
                        suggested: predicted.clone(),
                        confidence: c.confidence,
                        explanation: c.explanation(),
                    });
                    confusion.entry(truth.clone()).or_default().2 += 1;
                    if let Some(p) = &predicted {
                        confusion.entry(p.clone()).or_default().1 += 1;
                    }
                }
                if c.ranking.iter().take(3).any(|(d, _)| d == truth) {
                    top3 += 1;
                }
                if c.auto_route {
                    auto_in_scope += 1;
                    auto_correct += usize::from(right);
                    if !right && classifier.is_sensitive(Some(truth)) {
                        secret_forwarded_elsewhere += 1;
                    }
                }
                if position >= items.len() / 2 {
                    second_half += 1;
                    second_half_right += usize::from(right);
                }
                if learn {
                    classifier.learn(KnowledgeEntry {
                        id: format!("learned:{}", item.id),
                        department: Some(truth.clone()),
                        subject: item.subject.clone(),
                        text: item.text.clone(),
                        answer: String::new(),
                        confirmed: true,
                        approved: false,
                        boundary: false,
                    })?;
                }
            }
            None => {
                oos += 1;
                oos_abstained += usize::from(!c.auto_route);
            }
        }
        if let Some(answer_id) = &item.answer_id {
            answer_items += 1;
            let mut seen = HashSet::new();
            let ranked: Vec<&str> = c
                .neighbours
                .iter()
                .filter(|n| !n.entry.answer.trim().is_empty())
                .map(|n| n.entry.id.as_str())
                .filter(|id| seen.insert(*id))
                .take(5)
                .collect();
            if let Some(pos) = ranked.iter().position(|id| id == answer_id) {
                rr_sum += 1.0 / (pos + 1) as f64;
                hit1 += usize::from(pos == 0);
            }
        }
    }

    let mut per_class = BTreeMap::new();
    for (class, (tp, fp, fn_)) in &confusion {
        let support = tp + fn_;
        if support == 0 {
            continue;
        }
        let precision = if tp + fp > 0 {
            *tp as f64 / (tp + fp) as f64
        } else {
            0.0
        };
        let recall = *tp as f64 / support as f64;
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.insert(
            class.clone(),
            ClassFigures {
                support,
                precision,
                recall,
                f1,
            },
        );
    }
    let macro_f1 = if per_class.is_empty() {
        0.0
    } else {
        per_class.values().map(|c| c.f1).sum::<f64>() / per_class.len() as f64
    };
    latencies.sort_by(f64::total_cmp);
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    Ok(EvalReport {
        n: items.len(),
        kb: kb_len,
        accuracy: ratio(correct, in_scope),
        top3: ratio(top3, in_scope),
        macro_f1,
        abstain_rate: ratio(abstained, items.len()),
        oos_recall: (oos > 0).then(|| ratio(oos_abstained, oos)),
        auto_share: ratio(auto_total, items.len()),
        auto_accuracy: (auto_in_scope > 0).then(|| ratio(auto_correct, auto_in_scope)),
        secret_forwarded_elsewhere,
        threshold: settings.auto_route_threshold,
        answer_hit1: (answer_items > 0).then(|| ratio(hit1, answer_items)),
        answer_mrr5: (answer_items > 0).then(|| rr_sum / answer_items as f64),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        index_build_ms,
        model_train_ms,
        second_half_accuracy: ratio(second_half_right, second_half),
        learn,
        confident_share: ratio(confident, items.len()),
        confident_accuracy: (confident > 0).then(|| ratio(confident_right, confident)),
        model: classifier.training().model,
        held_out: classifier.training().held_out,
        held_out_accuracy: classifier.training().held_out_accuracy.clone(),
        calibrated: classifier.training().calibrated,
        per_class,
        misses,
    })
}

/// The value at a quantile of sorted values (nearest rank).
/// The chat measured on a labelled set: every knowledge entry counts as an approved
/// answer, every test item is a chat message, and the reply's source is compared with
/// the item's `answer_id`.
#[derive(Debug, Clone, Serialize)]
pub struct ChatEvalReport {
    /// Test items with an `answer_id`.
    pub n: usize,
    /// Approved entries the chat could answer from.
    pub approved: usize,
    /// Share of items answered with exactly the right entry (over all items).
    pub answer_hit1: f64,
    /// Share of items the chat answered (the rest got "not sure" and the offer of a handoff).
    pub answered_share: f64,
    /// Among answered items, the share answered with the right entry.
    pub answered_accuracy: Option<f64>,
    /// Share of items whose right entry was the answer or one of the offered topics.
    pub offered_hit: f64,
    /// The confidence threshold used.
    pub min_confidence: f64,
    /// Median milliseconds per reply.
    pub p50_ms: f64,
    /// 99th percentile milliseconds per reply.
    pub p99_ms: f64,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Runs each item with an `answer_id` through the chat's own path.
pub fn evaluate_chat(
    entries: Vec<KnowledgeEntry>,
    rules: RoutingRules,
    items: &[EvalItem],
    settings: ClassifierSettings,
    chat: crate::chat::ChatSettings,
) -> Result<ChatEvalReport, crate::routing::KnowledgeError> {
    let entries: Vec<KnowledgeEntry> = entries
        .into_iter()
        .map(|e| KnowledgeEntry {
            approved: true,
            ..e
        })
        .collect();
    let index = KnowledgeIndex::build_in_memory(entries)?;
    let classifier = std::sync::Arc::new(Classifier::new(rules, index, settings));
    let min_confidence = chat.min_confidence;
    let bot = crate::chat::ChatBot::new(classifier, chat);
    let (mut hit, mut answered, mut answered_hit, mut offered, mut n) = (0, 0, 0, 0, 0);
    let mut times = Vec::new();
    for item in items {
        let Some(expected) = item.answer_id.as_deref() else {
            continue;
        };
        n += 1;
        let message = format!("{}\n{}", item.subject, item.text);
        let started = std::time::Instant::now();
        let reply = bot.reply(message.trim(), None)?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        let source = reply.source.as_ref().map(|s| s.id.as_str());
        if reply.kind == crate::chat::ReplyKind::Answer {
            answered += 1;
            if source == Some(expected) {
                answered_hit += 1;
                hit += 1;
            }
        }
        if source == Some(expected) || reply.suggestions.iter().any(|t| t.id == expected) {
            offered += 1;
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(ChatEvalReport {
        n,
        approved: bot.approved_count(),
        answer_hit1: ratio(hit, n),
        answered_share: ratio(answered, n),
        answered_accuracy: (answered > 0).then(|| ratio(answered_hit, answered)),
        offered_hit: ratio(offered, n),
        min_confidence,
        p50_ms: percentile(&times, 0.5),
        p99_ms: percentile(&times, 0.99),
    })
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The per-department table that `eval` prints before its JSON line.
pub fn table(report: &EvalReport) -> String {
    let mut out = format!(
        "{:<40} {:>7} {:>9} {:>7} {:>6}\n",
        "department", "support", "precision", "recall", "f1"
    );
    for (class, f) in &report.per_class {
        out.push_str(&format!(
            "{:<40} {:>7} {:>9.3} {:>7.3} {:>6.3}\n",
            truncate(class, 40),
            f.support,
            f.precision,
            f.recall,
            f.f1
        ));
    }
    out
}

/// One line per miss: id, expected and suggested department, confidence, explanation.
pub fn misses(report: &EvalReport) -> String {
    let mut out = format!("{} misses\n", report.misses.len());
    for m in &report.misses {
        out.push_str(&format!(
            "{}\t{} -> {}\t{:.2}\t{}\n",
            m.id,
            m.expected,
            m.suggested.as_deref().unwrap_or("-"),
            m.confidence,
            m.explanation.replace('\n', " ")
        ));
    }
    out
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    fn kb(id: &str, d: &str, t: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            id: id.into(),
            department: Some(d.into()),
            subject: String::new(),
            text: t.into(),
            answer: format!("svar {id}"),
            confirmed: false,
            approved: false,
            boundary: false,
        }
    }

    #[test]
    fn figures_count_right_wrong_and_abstained_items() {
        let entries = vec![
            kb("a1", "vatten", "sophämtning soptunna tömning"),
            kb("a2", "vatten", "vattenläcka vattenmätare"),
            kb("b1", "skola", "förskola skolskjuts"),
            kb("b2", "skola", "grundskola skolmat"),
        ];
        let item = |d: Option<&str>, t: &str, a: Option<&str>| EvalItem {
            id: t.into(),
            department: d.map(Into::into),
            subject: String::new(),
            text: t.into(),
            answer_id: a.map(Into::into),
        };
        let items = vec![
            item(Some("vatten"), "soptunna tömning", Some("a1")),
            item(Some("skola"), "skolskjuts förskola", Some("b1")),
            item(Some("skola"), "vattenläcka", None),
            item(None, "xyzzy plugh", None),
        ];
        let r = evaluate(
            entries.clone(),
            RoutingRules::default(),
            &items,
            ClassifierSettings::default(),
            false,
        )
        .unwrap();
        assert_eq!(r.n, 4);
        assert!((r.accuracy - 2.0 / 3.0).abs() < 1e-9, "{r:?}");
        assert_eq!(r.oos_recall, Some(1.0));
        assert_eq!(r.answer_hit1, Some(1.0));
        assert_eq!(r.per_class["skola"].support, 2);
        assert_eq!(r.misses.len(), 1);
        assert_eq!(
            (
                r.misses[0].id.as_str(),
                r.misses[0].expected.as_str(),
                r.misses[0].suggested.as_deref()
            ),
            ("vattenläcka", "skola", Some("vatten"))
        );
        assert!(
            misses(&r).starts_with("1 misses\nvattenläcka\tskola -> vatten\t"),
            "{}",
            misses(&r)
        );
    }

    #[test]
    fn learning_from_the_first_half_helps_the_second() {
        let entries = vec![
            kb("a1", "vatten", "soptunna tömning sophämtning"),
            kb("a2", "vatten", "vattenläcka vattenmätare"),
            kb("b1", "skola", "förskola skolskjuts"),
            kb("b2", "skola", "grundskola skolmat"),
        ];
        // Staff keep routing questions about the school's water to the school.
        let item = |id: &str, t: &str| EvalItem {
            id: id.into(),
            department: Some("skola".into()),
            subject: String::new(),
            text: t.into(),
            answer_id: None,
        };
        let items = vec![
            item("1", "vattenläcka på skolans toalett"),
            item("2", "Vattenläcka på skolans toalett!"),
        ];
        let run = |learn| {
            evaluate(
                entries.clone(),
                RoutingRules::default(),
                &items,
                ClassifierSettings::default(),
                learn,
            )
            .unwrap()
        };
        let without = run(false);
        let with = run(true);
        assert_eq!(without.second_half_accuracy, 0.0, "{without:?}");
        assert_eq!(with.second_half_accuracy, 1.0, "{with:?}");
        assert!(with.learn && !without.learn);
    }
}
