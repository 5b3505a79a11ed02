//! Where routing is decided: text analysis, department rules, the knowledge index of past
//! answers, and the classifier that combines them.

pub mod analysis;
mod classifier;
pub mod knowledge;
mod language;
mod model;
pub mod rules;

pub use classifier::{Classification, Classifier, ClassifierSettings, Enquiry};
pub use knowledge::{KnowledgeEntry, KnowledgeError, KnowledgeIndex, Neighbour};
pub use language::detect_language;
pub use rules::{Department, RoutingRules, RuleMatch, RuleVerdict};
