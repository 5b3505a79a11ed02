//! Where routing is decided: text analysis, department rules, the knowledge index of past
//! answers, and the classifier that combines them.

pub mod analysis;
mod calibration;
mod classifier;
pub mod edits;
pub mod knowledge;
mod language;
mod model;
pub mod rules;

pub use calibration::Calibration;
pub use classifier::{
    Classification, Classifier, ClassifierSettings, Enquiry, Learned, TrainingReport,
};
pub use knowledge::{KnowledgeEntry, KnowledgeError, KnowledgeIndex, Neighbour};
pub use language::detect_language;
pub use model::ModelKind;
pub use rules::{Department, RoutingRules, RuleMatch, RuleVerdict};
