//! The memory of past answers: knowledge entries in the JSONL format of the eval sets,
//! and a tantivy index over them that finds the nearest past enquiries for a new one.
//!
//! The index holds analysed terms only (stems and character grams of question and answer);
//! the entries themselves live beside it in memory, addressed by their position.

use super::analysis::{AnalysedText, Analyser};
use crate::diagnostics::{Problem, Problems};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED,
};
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Errors of the knowledge index.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// tantivy failed.
    #[error("knowledge index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The index folder could not be prepared.
    #[error("knowledge index folder: {0}")]
    Io(#[from] std::io::Error),
    /// tantivy could not open the folder.
    #[error("knowledge index folder: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
}

/// A past, answered enquiry (one line of a knowledge base JSONL file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeEntry {
    /// Unique id.
    pub id: String,
    /// The department (or, in eval sets, the class) that handled it.
    pub department: Option<String>,
    /// Subject of the enquiry.
    #[serde(default)]
    pub subject: String,
    /// The enquiry; may be empty for an FAQ entry that only has an answer.
    #[serde(default)]
    pub text: String,
    /// The answer given; may be empty.
    #[serde(default)]
    pub answer: String,
    /// Whether a person chose or confirmed its department (a case learned from staff).
    /// Such an entry that says nearly everything a new enquiry says is a precedent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirmed: bool,
    /// Whether its answer is an approved FAQ answer: it may be sent to citizens as it is
    /// (automatic answers, the chat).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
    /// Whether it was written as a hard case at the boundary between two departments (the
    /// starter base has some, to teach what tells neighbours apart). Such entries teach the
    /// model but are never held out to calibrate the confidence: chosen to be hard, they
    /// would make it say "unsure" about ordinary mail.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub boundary: bool,
}

/// Parses knowledge entries from JSON Lines, naming the line of every bad one.
pub fn parse_jsonl(file: &Path, source: &str) -> Result<Vec<KnowledgeEntry>, Problems> {
    let (parsed, mut problems) =
        crate::diagnostics::json_lines::<KnowledgeEntry>(file, source, "a knowledge entry");
    let mut entries = Vec::with_capacity(parsed.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (line, entry) in parsed {
        let problem = |message: String| Problem {
            file: file.to_owned(),
            line: Some(line),
            message,
        };
        if entry.id.trim().is_empty() {
            problems.push(problem("entry has an empty id".into()));
        } else if let Some(first) = seen.insert(entry.id.clone(), line) {
            problems.push(problem(format!(
                "id {:?} was already used on line {first}",
                entry.id
            )));
        } else if [&entry.subject, &entry.text, &entry.answer]
            .iter()
            .all(|t| t.trim().is_empty())
        {
            problems.push(problem(format!(
                "entry {:?} has no subject, text or answer",
                entry.id
            )));
        } else {
            entries.push(entry);
        }
    }
    problems.0.sort_by_key(|p| p.line);
    problems.into_result(entries)
}

/// A past enquiry close to a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// The entry.
    pub entry: Arc<KnowledgeEntry>,
    /// BM25 similarity.
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    ord: Field,
    question_stems: Field,
    question_grams: Field,
    answer_stems: Field,
    answer_grams: Field,
}

const TOKENIZER: &str = "analysed";
/// Weight of character grams against whole stems.
const GRAM_BOOST: f32 = 0.25;
/// Weight of a match in the answer against one in the question.
const ANSWER_BOOST: f32 = 0.5;

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = TextOptions::default().set_indexing_options(indexing);
    let fields = Fields {
        ord: builder.add_u64_field("ord", FAST | STORED | INDEXED),
        question_stems: builder.add_text_field("question_stems", text.clone()),
        question_grams: builder.add_text_field("question_grams", text.clone()),
        answer_stems: builder.add_text_field("answer_stems", text.clone()),
        answer_grams: builder.add_text_field("answer_grams", text),
    };
    (builder.build(), fields)
}

/// The knowledge entries and their search index. Entries learned while running are added
/// through the one writer of the index and searchable at once.
pub struct KnowledgeIndex {
    /// By position in the index; `None` where an entry was retired or replaced by an
    /// edited version (its document stays in the index until the next rebuild but is
    /// never returned).
    entries: RwLock<Vec<Option<Arc<KnowledgeEntry>>>>,
    /// How many positions are `None`: searches ask for that many more hits.
    retired: std::sync::atomic::AtomicUsize,
    /// Counts changes (added, replaced, retired entries), so views built from the
    /// entries know when to build again.
    generation: std::sync::atomic::AtomicU64,
    index: Index,
    reader: IndexReader,
    /// Created on the first learned entry; the only writer of this index.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    fields: Fields,
    analyser: Analyser,
}

/// Memory of the writer used for learned entries (tantivy's smallest budget).
const LEARNING_WRITER_BYTES: usize = 15 << 20;

impl KnowledgeIndex {
    /// Builds an index in memory (for `eval` and tests).
    pub fn build_in_memory(entries: Vec<KnowledgeEntry>) -> Result<Self, KnowledgeError> {
        let (schema, fields) = schema();
        let index = Index::create_in_ram(schema);
        Self::fill(index, fields, entries)
    }

    /// Opens the index kept in `dir` if it was built from exactly these entries, or
    /// rebuilds it there.
    pub fn open_or_build(dir: &Path, entries: Vec<KnowledgeEntry>) -> Result<Self, KnowledgeError> {
        let fingerprint = fingerprint(&entries);
        let stamp = dir.join("SOURCES");
        if std::fs::read_to_string(&stamp).ok().as_deref() == Some(fingerprint.as_str()) {
            if let Ok(index) = Index::open_in_dir(dir) {
                let (_, fields) = schema();
                register_tokenizer(&index);
                let reader = index
                    .reader_builder()
                    .reload_policy(ReloadPolicy::Manual)
                    .try_into()?;
                if reader.searcher().num_docs() as usize == entries.len() {
                    return Ok(Self::assemble(index, reader, fields, entries));
                }
            }
        }
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(dir, schema)?;
        let built = Self::fill(index, fields, entries)?;
        std::fs::write(&stamp, fingerprint)?;
        Ok(built)
    }

    fn fill(
        index: Index,
        fields: Fields,
        entries: Vec<KnowledgeEntry>,
    ) -> Result<Self, KnowledgeError> {
        register_tokenizer(&index);
        let analyser = Analyser::new();
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 64 << 20)?;
        for (ord, entry) in entries.iter().enumerate() {
            writer.add_document(document(&analyser, fields, ord, entry))?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self::assemble(index, reader, fields, entries))
    }

    fn assemble(
        index: Index,
        reader: IndexReader,
        fields: Fields,
        entries: Vec<KnowledgeEntry>,
    ) -> Self {
        Self {
            entries: RwLock::new(entries.into_iter().map(|e| Some(Arc::new(e))).collect()),
            retired: std::sync::atomic::AtomicUsize::new(0),
            generation: std::sync::atomic::AtomicU64::new(0),
            index,
            reader,
            writer: Mutex::new(None),
            fields,
            analyser: Analyser::new(),
        }
    }

    /// Adds an entry and makes it searchable at once. Returns false (and changes nothing)
    /// when an entry with its id is there already.
    pub fn add(&self, entry: KnowledgeEntry) -> Result<bool, KnowledgeError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if self.position(&entry.id).is_some() {
            return Ok(false);
        }
        self.write_document(&mut writer, entry)?;
        Ok(true)
    }

    /// Puts an edited entry in place of the one with its id (or adds it), searchable at
    /// once.
    pub fn replace(&self, entry: KnowledgeEntry) -> Result<(), KnowledgeError> {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.position(&entry.id);
        self.write_document(&mut writer, entry)?;
        if let Some(old) = old {
            self.entries.write().unwrap_or_else(|e| e.into_inner())[old] = None;
            self.retired
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Takes the entry with this id out of every answer; returns whether it was there.
    pub fn retire(&self, id: &str) -> bool {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = self.position(id) else {
            return false;
        };
        self.entries.write().unwrap_or_else(|e| e.into_inner())[at] = None;
        self.retired
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.changed();
        true
    }

    fn position(&self, id: &str) -> Option<usize> {
        self.read_entries()
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.id == id))
    }

    /// Writes one document through the one writer (created on first use) and commits.
    fn write_document(
        &self,
        writer: &mut Option<IndexWriter<TantivyDocument>>,
        entry: KnowledgeEntry,
    ) -> Result<(), KnowledgeError> {
        let writer = match writer.as_mut() {
            Some(w) => w,
            None => writer.insert(
                self.index
                    .writer_with_num_threads::<TantivyDocument>(1, LEARNING_WRITER_BYTES)?,
            ),
        };
        // The entry is in the list before the index can return its position.
        let ord = {
            let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
            entries.push(Some(Arc::new(entry.clone())));
            entries.len() - 1
        };
        let added = writer
            .add_document(document(&self.analyser, self.fields, ord, &entry))
            .and_then(|_| writer.commit());
        if let Err(e) = added {
            let _ = writer.rollback();
            self.entries
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .truncate(ord);
            return Err(e.into());
        }
        self.reader.reload()?;
        self.changed();
        Ok(())
    }

    fn changed(&self) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::Release);
    }

    /// A number that changes whenever an entry is added, replaced or retired.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    fn read_entries(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<Arc<KnowledgeEntry>>>> {
        self.entries.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.read_entries().iter().flatten().count()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.read_entries().iter().all(Option::is_none)
    }

    /// All entries in use, in index order (a snapshot).
    pub fn entries(&self) -> Vec<Arc<KnowledgeEntry>> {
        self.read_entries().iter().flatten().cloned().collect()
    }

    /// The entry in use with this id.
    pub fn entry(&self, id: &str) -> Option<Arc<KnowledgeEntry>> {
        self.read_entries()
            .iter()
            .flatten()
            .find(|e| e.id == id)
            .cloned()
    }

    /// The analyser used for entries and queries.
    pub fn analyser(&self) -> &Analyser {
        &self.analyser
    }

    /// The `limit` entries nearest to an analysed query, best first.
    pub fn nearest(
        &self,
        query: &AnalysedText,
        limit: usize,
    ) -> Result<Vec<Neighbour>, KnowledgeError> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut push = |field: Field, terms: &[String], boost: f32| {
            let mut seen = std::collections::HashSet::new();
            for t in terms {
                if seen.insert(t.as_str()) {
                    let q = TermQuery::new(
                        Term::from_field_text(field, t),
                        IndexRecordOption::WithFreqs,
                    );
                    clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost))));
                }
            }
        };
        push(f.question_stems, &query.stems, 1.0);
        push(f.question_grams, &query.grams, GRAM_BOOST);
        push(f.answer_stems, &query.stems, ANSWER_BOOST);
        push(f.answer_grams, &query.grams, GRAM_BOOST * ANSWER_BOOST);
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let retired = self.retired.load(std::sync::atomic::Ordering::Relaxed);
        let hits = searcher.search(
            &BooleanQuery::new(clauses),
            &TopDocs::with_limit(limit + retired.min(limit * 4)),
        )?;
        let entries = self.read_entries();
        let mut out = Vec::with_capacity(hits.len());
        for (score, address) in hits {
            let column = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("ord")?;
            if let Some(ord) = column.first(address.doc_id) {
                if out.len() == limit {
                    break;
                }
                if let Some(Some(entry)) = entries.get(ord as usize) {
                    out.push(Neighbour {
                        entry: Arc::clone(entry),
                        score,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The index document of an entry at a position.
fn document(
    analyser: &Analyser,
    fields: Fields,
    ord: usize,
    entry: &KnowledgeEntry,
) -> TantivyDocument {
    let question = analyse_entry_text(analyser, &format!("{}\n{}", entry.subject, entry.text));
    let answer = analyse_entry_text(analyser, &entry.answer);
    doc!(
        fields.ord => ord as u64,
        fields.question_stems => question.stems.join(" "),
        fields.question_grams => question.grams.join(" "),
        fields.answer_stems => answer.stems.join(" "),
        fields.answer_grams => answer.grams.join(" "),
    )
}

/// Entries are written in Swedish or English; the English stemmer is used when an entry
/// reads as English.
fn analyse_entry_text(analyser: &Analyser, text: &str) -> AnalysedText {
    analyser.analyse(text, looks_english(text))
}

/// A cheap test for English text: common English function words outnumber Swedish ones.
pub fn looks_english(text: &str) -> bool {
    const EN: &[&str] = &[
        "the", "is", "my", "i", "to", "and", "of", "what", "how", "can", "do", "you", "for", "a",
        "it",
    ];
    const SV: &[&str] = &[
        "och", "är", "jag", "att", "det", "på", "för", "en", "vad", "hur", "kan", "min", "mitt",
        "som", "med",
    ];
    let (mut en, mut sv) = (0, 0);
    for w in super::analysis::words(text) {
        if EN.contains(&w.as_str()) {
            en += 1;
        }
        if SV.contains(&w.as_str()) {
            sv += 1;
        }
    }
    en > sv
}

fn register_tokenizer(index: &Index) {
    index.tokenizers().register(
        TOKENIZER,
        TextAnalyzer::builder(WhitespaceTokenizer::default()).build(),
    );
}

/// A fingerprint of the entries and of the analysis, so a changed source or a new
/// version of the analyser rebuilds the index.
fn fingerprint(entries: &[KnowledgeEntry]) -> String {
    let mut bytes = format!("analysis-v2;{};", entries.len()).into_bytes();
    for e in entries {
        bytes.extend(serde_json::to_vec(e).unwrap_or_default());
        bytes.push(b'\n');
    }
    crate::ingest::content_hash(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, dept: &str, text: &str) -> KnowledgeEntry {
        KnowledgeEntry {
            id: id.into(),
            department: Some(dept.into()),
            subject: String::new(),
            text: text.into(),
            answer: String::new(),
            confirmed: false,
            approved: false,
            boundary: false,
        }
    }

    #[test]
    fn nearest_entries_share_stems_and_compound_parts() {
        let index = KnowledgeIndex::build_in_memory(vec![
            entry("a", "bygg-miljo", "Behöver jag bygglov för en altan?"),
            entry("b", "vatten-avfall", "När kommer sophämtningen?"),
            entry("c", "gata-park", "Snöröjningen på vår gata är dålig"),
        ])
        .unwrap();
        let q = index
            .analyser()
            .analyse("Hur lång tid tar en bygglovsansökan?", false);
        let hits = index.nearest(&q, 3).unwrap();
        assert_eq!(hits[0].entry.id, "a");
        let q = index.analyser().analyse("sopor hämtas inte", false);
        assert_eq!(index.nearest(&q, 1).unwrap()[0].entry.id, "b");
        assert!(index
            .nearest(&AnalysedText::default(), 3)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_learned_entry_is_found_at_once_and_only_once() {
        let index = KnowledgeIndex::build_in_memory(vec![
            entry("a", "bygg-miljo", "Behöver jag bygglov för en altan?"),
            entry("b", "vatten-avfall", "När kommer sophämtningen?"),
        ])
        .unwrap();
        let q = index
            .analyser()
            .analyse("Kan jag få en parkeringsplats för husbilen?", false);
        let before: Vec<String> = index
            .nearest(&q, 3)
            .unwrap()
            .iter()
            .map(|n| n.entry.id.clone())
            .collect();
        assert!(!before.contains(&"KC-2026-000001".to_owned()));
        let learned = entry("KC-2026-000001", "gata-park", "Parkeringsplats för husbil");
        assert!(index.add(learned.clone()).unwrap());
        assert!(!index.add(learned).unwrap(), "the same id twice");
        assert_eq!(index.len(), 3);
        assert_eq!(index.nearest(&q, 1).unwrap()[0].entry.id, "KC-2026-000001");
    }

    #[test]
    fn bad_jsonl_lines_are_named() {
        let src = "{\"id\":\"a\",\"department\":\"x\",\"text\":\"t\"}\nnot json\n{\"id\":\"a\",\"department\":\"x\",\"text\":\"t\"}\n";
        let err = parse_jsonl(Path::new("kb.jsonl"), src).unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert_eq!(err.0[0].line, Some(2));
        assert!(err.0[1].message.contains("already used on line 1"));
    }

    #[test]
    fn an_index_on_disk_is_reused_and_rebuilt_when_sources_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kb");
        let one = vec![entry("a", "x", "bygglov altan")];
        KnowledgeIndex::open_or_build(&path, one.clone()).unwrap();
        let stamp = std::fs::read_to_string(path.join("SOURCES")).unwrap();
        let again = KnowledgeIndex::open_or_build(&path, one).unwrap();
        assert_eq!(again.len(), 1);
        let two = vec![entry("a", "x", "bygglov altan"), entry("b", "y", "sopor")];
        let rebuilt = KnowledgeIndex::open_or_build(&path, two).unwrap();
        assert_eq!(rebuilt.len(), 2);
        assert_ne!(
            std::fs::read_to_string(path.join("SOURCES")).unwrap(),
            stamp
        );
    }
}
