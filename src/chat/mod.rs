//! The citizen chat: answers from the municipality's approved knowledge entries only (never
//! a sensitive department's, never an unapproved one), urgent matters first, and, when it is
//! not sure, the closest topics and an offer to pass the question to Kontaktcenter.
//!
//! question -> urgent? -> nearest approved entries (the shared tantivy index) -> answer or
//! "not sure"; the handoff becomes a case through the same pipeline as mail.

mod urgent;

pub use urgent::{urgent_matter, UrgentMatter};

use crate::routing::{Classifier, KnowledgeEntry, KnowledgeError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// The chat's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatLanguage {
    /// Swedish, the default.
    Sv,
    /// English.
    En,
    /// Ukrainian.
    Uk,
    /// Arabic (right to left).
    Ar,
}

impl ChatLanguage {
    /// Every language, Swedish first.
    pub const ALL: [ChatLanguage; 4] = [Self::Sv, Self::En, Self::Uk, Self::Ar];

    /// From an ISO 639-1 code.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "sv" => Some(Self::Sv),
            "en" => Some(Self::En),
            "uk" => Some(Self::Uk),
            "ar" => Some(Self::Ar),
            _ => None,
        }
    }

    /// ISO 639-1.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sv => "sv",
            Self::En => "en",
            Self::Uk => "uk",
            Self::Ar => "ar",
        }
    }
}

/// Settings of the chat (`[chat]`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatSettings {
    /// The share of the question's words an approved entry must cover to be given as the
    /// answer; below it the chat says it is not sure.
    pub min_confidence: f64,
    /// How many nearest entries are looked at.
    pub candidates: usize,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            min_confidence: 0.5,
            candidates: 40,
        }
    }
}

/// What kind of reply the chat gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyKind {
    /// An approved answer.
    Answer,
    /// Not sure: closest topics and the offer of a handoff.
    NotSure,
    /// An urgent matter: where to turn, before anything else.
    Urgent,
}

/// A topic the chat can answer (an approved entry), offered as a next question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// The entry's id (ask about it with `topic`).
    pub id: String,
    /// A short title.
    pub title: String,
}

/// The chat's reply to one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatReply {
    /// What kind of reply this is.
    pub kind: ReplyKind,
    /// The text to show.
    pub text: String,
    /// The entry the answer comes from.
    pub source: Option<Topic>,
    /// How sure the chat is (the share of the question's words the entry covers).
    pub confidence: f64,
    /// Up to three follow-up topics.
    pub suggestions: Vec<Topic>,
    /// The language of `text`.
    pub language: ChatLanguage,
    /// The language the question was read as.
    pub asked_in: ChatLanguage,
    /// Set when the answer is in Swedish because none exists in the language asked.
    pub note: Option<String>,
    /// The urgent matter, for urgent replies.
    pub urgent: Option<UrgentMatter>,
    /// The department of the answer's entry (for statistics; not shown).
    #[serde(skip)]
    pub department: Option<String>,
}

/// An approved entry as the chat keeps it.
#[derive(Debug, Clone)]
struct ApprovedAnswer {
    entry: Arc<KnowledgeEntry>,
    language: ChatLanguage,
    title: String,
}

/// The approved entries, rebuilt when the index changes.
struct Approved {
    generation: u64,
    by_id: HashMap<String, ApprovedAnswer>,
}

/// Answers chat questions from the shared knowledge index.
pub struct ChatBot {
    classifier: Arc<Classifier>,
    settings: ChatSettings,
    approved: RwLock<Arc<Approved>>,
}

impl ChatBot {
    /// A chat on the classifier's knowledge index.
    pub fn new(classifier: Arc<Classifier>, settings: ChatSettings) -> Self {
        let bot = Self {
            classifier,
            settings,
            approved: RwLock::new(Arc::new(Approved {
                generation: u64::MAX,
                by_id: HashMap::new(),
            })),
        };
        bot.approved();
        bot
    }

    /// The approved entries, rebuilt if the knowledge base changed since.
    fn approved(&self) -> Arc<Approved> {
        let generation = self.classifier.index().generation();
        {
            let current = self.approved.read().unwrap_or_else(|e| e.into_inner());
            if current.generation == generation {
                return Arc::clone(&current);
            }
        }
        let by_id = self
            .classifier
            .index()
            .entries()
            .into_iter()
            .filter(|e| {
                e.approved
                    && !e.answer.trim().is_empty()
                    && !self.classifier.is_sensitive(e.department.as_deref())
            })
            .map(|e| {
                let language =
                    ChatLanguage::from_code(crate::routing::detect_language(&e.answer).code())
                        .unwrap_or(ChatLanguage::Sv);
                let title = title_of(&e);
                (
                    e.id.clone(),
                    ApprovedAnswer {
                        entry: e,
                        language,
                        title,
                    },
                )
            })
            .collect();
        let fresh = Arc::new(Approved { generation, by_id });
        *self.approved.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        fresh
    }

    /// The classifier the chat answers with.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// How many entries the chat may answer from.
    pub fn approved_count(&self) -> usize {
        self.approved().by_id.len()
    }

    /// The reply to a message. `hint` is the reader's interface language, used when the
    /// message is too short to tell its language.
    pub fn reply(
        &self,
        message: &str,
        hint: Option<ChatLanguage>,
    ) -> Result<ChatReply, KnowledgeError> {
        let asked_in = language_of(message, hint);
        if let Some(matter) = urgent_matter(message) {
            return Ok(ChatReply {
                kind: ReplyKind::Urgent,
                text: matter.advice(asked_in).to_owned(),
                source: None,
                confidence: 1.0,
                suggestions: Vec::new(),
                language: asked_in,
                asked_in,
                note: None,
                urgent: Some(matter),
                department: None,
            });
        }
        let approved = self.approved();
        let query = self.classifier.analyse(message);
        let found: Vec<(&ApprovedAnswer, f32)> = self
            .classifier
            .index()
            .nearest(&query, self.settings.candidates)?
            .into_iter()
            .filter_map(|n| approved.by_id.get(&n.entry.id).map(|a| (a, n.score)))
            .collect();
        let Some(&(best, best_score)) = found.first() else {
            return Ok(not_sure(asked_in, Vec::new()));
        };
        // Prefer an answer in the language asked among those nearly as close as the best.
        let chosen = found
            .iter()
            .take(5)
            .find(|(a, score)| a.language == asked_in && *score >= best_score * 0.85)
            .map(|(a, _)| *a)
            .unwrap_or(best);
        let confidence = self.classifier.coverage_by(&query, &chosen.entry);
        let others: Vec<Topic> = found
            .iter()
            .filter(|(a, _)| a.entry.id != chosen.entry.id)
            .map(|(a, _)| topic(a))
            .take(3)
            .collect();
        if confidence < self.settings.min_confidence {
            let mut closest = vec![topic(chosen)];
            closest.extend(others.into_iter().take(2));
            return Ok(not_sure(asked_in, closest));
        }
        Ok(self.answer_with(chosen, confidence, others, asked_in))
    }

    /// The answer of one approved entry (a follow-up topic the reader chose).
    pub fn topic(&self, id: &str, hint: Option<ChatLanguage>) -> Option<ChatReply> {
        let approved = self.approved();
        let chosen = approved.by_id.get(id)?;
        let asked_in = hint.unwrap_or(chosen.language);
        Some(self.answer_with(chosen, 1.0, Vec::new(), asked_in))
    }

    fn answer_with(
        &self,
        chosen: &ApprovedAnswer,
        confidence: f64,
        suggestions: Vec<Topic>,
        asked_in: ChatLanguage,
    ) -> ChatReply {
        let note = (chosen.language != asked_in).then(|| note_in(asked_in, chosen.language));
        ChatReply {
            kind: ReplyKind::Answer,
            text: chosen.entry.answer.trim().to_owned(),
            source: Some(topic(chosen)),
            confidence,
            suggestions,
            language: chosen.language,
            asked_in,
            note,
            urgent: None,
            department: chosen.entry.department.clone(),
        }
    }
}

fn topic(a: &ApprovedAnswer) -> Topic {
    Topic {
        id: a.entry.id.clone(),
        title: a.title.clone(),
    }
}

/// A short title: the entry's subject, its question, or the start of its answer.
fn title_of(e: &KnowledgeEntry) -> String {
    let source = [&e.subject, &e.text, &e.answer]
        .into_iter()
        .find(|s| !s.trim().is_empty())
        .map(|s| s.trim())
        .unwrap_or("");
    let first_line = source.lines().next().unwrap_or("");
    let words: Vec<&str> = first_line.split_whitespace().collect();
    if words.len() <= 10 {
        words.join(" ")
    } else {
        format!("{} …", words[..10].join(" "))
    }
}

/// The language of a message. Chat messages are short, so the script decides first
/// (Arabic, Cyrillic as Ukrainian); Latin text is English when its function words say so
/// or whatlang is sure, else Swedish; a message with too few letters to tell takes the
/// reader's interface language.
pub fn language_of(message: &str, hint: Option<ChatLanguage>) -> ChatLanguage {
    let letters: Vec<char> = message.chars().filter(|c| c.is_alphabetic()).collect();
    let share = |range: std::ops::RangeInclusive<char>| {
        letters.iter().filter(|c| range.contains(*c)).count() * 2 > letters.len()
    };
    if !letters.is_empty() && share('\u{0600}'..='\u{06FF}') {
        return ChatLanguage::Ar;
    }
    if !letters.is_empty() && share('\u{0400}'..='\u{04FF}') {
        return ChatLanguage::Uk;
    }
    if letters.len() < 8 {
        return hint.unwrap_or(ChatLanguage::Sv);
    }
    let whatlang_says = crate::routing::detect_language(message);
    if crate::routing::knowledge::looks_english(message) || whatlang_says.code() == "en" {
        ChatLanguage::En
    } else if whatlang_says.code() == "sv" && letters.len() >= 20 {
        ChatLanguage::Sv
    } else {
        hint.unwrap_or(ChatLanguage::Sv)
    }
}

fn not_sure(language: ChatLanguage, closest: Vec<Topic>) -> ChatReply {
    let text = match language {
        ChatLanguage::Sv => "Jag är inte säker på att jag har rätt svar på det. Här är de ämnen som ligger närmast. Vill du hellre att Kontaktcenter svarar dig? Då kan jag skicka frågan vidare.",
        ChatLanguage::En => "I am not sure I have the right answer to that. Here are the closest topics. Would you rather have Kontaktcenter answer you? Then I can pass your question on.",
        ChatLanguage::Uk => "Я не впевнений, що маю правильну відповідь на це. Ось найближчі теми. Хочете, щоб вам відповів Kontaktcenter? Тоді я можу передати ваше питання.",
        ChatLanguage::Ar => "لست متأكداً من أن لدي الإجابة الصحيحة على ذلك. إليك أقرب المواضيع. هل تفضل أن يجيبك مركز الاتصال (Kontaktcenter)؟ يمكنني عندها إرسال سؤالك.",
    };
    ChatReply {
        kind: ReplyKind::NotSure,
        text: text.to_owned(),
        source: None,
        confidence: 0.0,
        suggestions: closest,
        language,
        asked_in: language,
        note: None,
        urgent: None,
        department: None,
    }
}

fn note_in(asked_in: ChatLanguage, answer_in: ChatLanguage) -> String {
    match (asked_in, answer_in) {
        (ChatLanguage::En, ChatLanguage::Sv) => "We only have this answer in Swedish.".into(),
        (ChatLanguage::Uk, ChatLanguage::Sv) => "Ця відповідь є лише шведською мовою.".into(),
        (ChatLanguage::Ar, ChatLanguage::Sv) => "هذه الإجابة متوفرة باللغة السويدية فقط.".into(),
        (ChatLanguage::Sv, _) => "Svaret finns bara på ett annat språk.".into(),
        (ChatLanguage::En, _) => "This answer is only available in another language.".into(),
        (ChatLanguage::Uk, _) => "Ця відповідь доступна лише іншою мовою.".into(),
        (ChatLanguage::Ar, _) => "هذه الإجابة متوفرة بلغة أخرى فقط.".into(),
    }
}

/// Whether a conversation id is acceptable: 8 to 64 letters, digits and dashes (the
/// widget makes a random one per page; it is not stored in a cookie).
pub fn valid_conversation_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::{ClassifierSettings, KnowledgeIndex, RoutingRules};

    fn entry(
        id: &str,
        department: &str,
        text: &str,
        answer: &str,
        approved: bool,
    ) -> KnowledgeEntry {
        KnowledgeEntry {
            id: id.into(),
            department: Some(department.into()),
            subject: String::new(),
            text: text.into(),
            answer: answer.into(),
            confirmed: false,
            approved,
            boundary: false,
        }
    }

    fn bot(entries: Vec<KnowledgeEntry>) -> ChatBot {
        bot_with(entries, ChatSettings::default())
    }

    fn bot_with(entries: Vec<KnowledgeEntry>, settings: ChatSettings) -> ChatBot {
        let rules = RoutingRules::parse_files(&crate::defaults::routing_rules()).unwrap();
        let index = KnowledgeIndex::build_in_memory(entries).unwrap();
        let classifier = Classifier::new(rules, index, ClassifierSettings::default());
        ChatBot::new(Arc::new(classifier), settings)
    }

    fn base() -> Vec<KnowledgeEntry> {
        vec![
            entry(
                "sop",
                "vatten-avfall",
                "När töms soptunnan?",
                "Soptunnan töms varannan vecka på tisdagar. Se tömningsschemat på webben.",
                true,
            ),
            entry(
                "sop-en",
                "vatten-avfall",
                "When is the bin emptied?",
                "The bin is emptied every other week on Tuesdays. See the schedule on the website.",
                true,
            ),
            entry(
                "bib",
                "kultur-fritid",
                "När har biblioteket öppet?",
                "Biblioteket har öppet 10–19 på vardagar och 11–15 på lördagar.",
                true,
            ),
            entry(
                "bygg",
                "bygg-miljo",
                "Behöver jag bygglov för en altan?",
                "En altan som är högre än 1,2 meter kräver oftast bygglov.",
                false,
            ),
            entry(
                "soc",
                "socialtjanst",
                "Hur ansöker jag om ekonomiskt bistånd?",
                "Du ansöker om ekonomiskt bistånd hos socialtjänsten.",
                true,
            ),
        ]
    }

    #[test]
    fn answers_only_from_approved_entries_of_shared_departments() {
        let bot = bot(base());
        assert_eq!(
            bot.approved_count(),
            3,
            "unapproved and sensitive entries never answer"
        );
        let r = bot.reply("När töms soptunnan hos oss?", None).unwrap();
        assert_eq!(r.kind, ReplyKind::Answer);
        assert_eq!(r.source.as_ref().unwrap().id, "sop");
        assert!(r.text.starts_with("Soptunnan töms"));
        for q in [
            "Behöver jag bygglov för en altan?",
            "Hur ansöker jag om ekonomiskt bistånd?",
        ] {
            let r = bot.reply(q, None).unwrap();
            assert_ne!(r.kind, ReplyKind::Answer, "{q}: {r:?}");
            assert!(r
                .suggestions
                .iter()
                .all(|t| t.id != "bygg" && t.id != "soc"));
        }
    }

    #[test]
    fn answers_in_the_language_asked_or_in_swedish_with_a_note() {
        let bot = bot(base());
        let r = bot
            .reply("When is the bin emptied at our house?", None)
            .unwrap();
        assert_eq!(
            (r.kind, r.source.unwrap().id.as_str()),
            (ReplyKind::Answer, "sop-en")
        );
        assert_eq!(r.language, ChatLanguage::En);
        assert!(r.note.is_none());
        // A question in English that only a Swedish answer meets.
        let lenient = bot_with(
            base(),
            ChatSettings {
                min_confidence: 0.1,
                ..Default::default()
            },
        );
        let r = lenient
            .reply("When is biblioteket open on lördagar?", None)
            .unwrap();
        assert_eq!(
            r.source.as_ref().map(|s| s.id.as_str()),
            Some("bib"),
            "{r:?}"
        );
        assert_eq!(
            (r.language, r.asked_in),
            (ChatLanguage::Sv, ChatLanguage::En)
        );
        assert_eq!(
            r.note.as_deref(),
            Some("We only have this answer in Swedish.")
        );
    }

    #[test]
    fn urgent_matters_come_before_any_answer() {
        let bot = bot(base());
        let r = bot.reply("Det brinner i soptunnan!", None).unwrap();
        assert_eq!(r.kind, ReplyKind::Urgent);
        assert!(r.text.contains("112"));
        assert!(r.source.is_none());
    }

    #[test]
    fn unknown_questions_get_the_closest_topics_and_the_offer() {
        let bot = bot(base());
        let r = bot
            .reply("Kan jag hyra en kanot av kommunen till midsommar?", None)
            .unwrap();
        assert_eq!(r.kind, ReplyKind::NotSure);
        assert!(r.text.contains("Kontaktcenter"));
        let r = bot.reply("qwxz", Some(ChatLanguage::Uk)).unwrap();
        assert_eq!((r.kind, r.language), (ReplyKind::NotSure, ChatLanguage::Uk));
    }

    #[test]
    fn edits_and_retirements_reach_the_chat_at_once() {
        let bot = bot(base());
        bot.classifier.retire_entry("sop");
        let r = bot
            .reply("När töms soptunnan hos oss?", Some(ChatLanguage::Sv))
            .unwrap();
        assert_ne!(r.source.map(|s| s.id), Some("sop".into()));
        let mut bygg = base().remove(3);
        bygg.approved = true;
        bot.classifier.update_entry(bygg).unwrap();
        let r = bot
            .reply("Behöver jag bygglov för en altan?", None)
            .unwrap();
        assert_eq!(r.source.map(|s| s.id), Some("bygg".into()));
    }

    #[test]
    fn conversation_ids_are_plain() {
        assert!(valid_conversation_id("3f2a9c1e-77aa-4b1c"));
        assert!(!valid_conversation_id("short"));
        assert!(!valid_conversation_id("<script>alert(1)</script>"));
    }
}
