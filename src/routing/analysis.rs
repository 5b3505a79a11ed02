//! Text analysis shared by the rules, the knowledge index and the classifier: words,
//! stems without stop words, and character grams that let compounds meet their parts
//! ("bygglovsansökan" meets "bygglov", "sophämtning" meets "sopor").

use rust_stemmers::{Algorithm, Stemmer};

/// Lowercased word tokens of a text: runs of letters and digits. Tokens with digits that
/// are longer than four characters (phone numbers, personnummer, invoice numbers) are
/// dropped, so they never reach the index.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .filter(|w| !(w.len() > 4 && w.chars().any(|c| c.is_ascii_digit())))
        .map(str::to_lowercase)
}

const SWEDISH_STOP_WORDS: &[&str] = &[
    "och",
    "det",
    "att",
    "i",
    "en",
    "jag",
    "hon",
    "som",
    "han",
    "på",
    "den",
    "med",
    "var",
    "sig",
    "för",
    "så",
    "till",
    "är",
    "men",
    "ett",
    "om",
    "hade",
    "de",
    "av",
    "icke",
    "mig",
    "du",
    "henne",
    "då",
    "sin",
    "nu",
    "har",
    "inte",
    "hans",
    "honom",
    "skulle",
    "hennes",
    "där",
    "min",
    "man",
    "ej",
    "vid",
    "kunde",
    "något",
    "från",
    "ut",
    "när",
    "efter",
    "upp",
    "vi",
    "dem",
    "vara",
    "vad",
    "över",
    "än",
    "dig",
    "kan",
    "sina",
    "här",
    "ha",
    "mot",
    "alla",
    "under",
    "någon",
    "eller",
    "allt",
    "mycket",
    "sedan",
    "ju",
    "denna",
    "själv",
    "detta",
    "åt",
    "utan",
    "varit",
    "hur",
    "ingen",
    "mitt",
    "ni",
    "bli",
    "blev",
    "oss",
    "din",
    "dessa",
    "några",
    "deras",
    "blir",
    "mina",
    "samma",
    "vilken",
    "er",
    "sådan",
    "vår",
    "blivit",
    "dess",
    "inom",
    "mellan",
    "sådant",
    "varför",
    "varje",
    "vilka",
    "ditt",
    "vem",
    "vilket",
    "sitt",
    "sådana",
    "vart",
    "dina",
    "vars",
    "vårt",
    "våra",
    "ert",
    "era",
    "vilkas",
    "hej",
    "tack",
    "mvh",
    "vänliga",
    "hälsningar",
    "också",
    "bara",
    "få",
    "finns",
    "vill",
    "ska",
    "måste",
    "skall",
    "får",
];

const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "the", "and", "or", "but", "if", "of", "at", "by", "for", "with", "about", "to",
    "from", "in", "on", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had",
    "do", "does", "did", "i", "me", "my", "we", "our", "you", "your", "he", "him", "his", "she",
    "her", "it", "its", "they", "them", "their", "what", "which", "who", "whom", "this", "that",
    "these", "those", "am", "as", "so", "than", "too", "very", "can", "will", "just", "should",
    "would", "could", "there", "here", "when", "where", "why", "how", "all", "any", "both", "each",
    "some", "such", "no", "not", "only", "own", "same", "into", "then", "please", "hi", "hello",
    "thanks", "thank", "regards", "dear",
];

/// Whether a lowercased word is a Swedish or English stop word.
pub fn is_stop_word(word: &str) -> bool {
    SWEDISH_STOP_WORDS.contains(&word) || ENGLISH_STOP_WORDS.contains(&word)
}

/// The analysed form of a text, as the knowledge index stores and searches it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalysedText {
    /// Stems of the words that carry meaning.
    pub stems: Vec<String>,
    /// Every word, stop words included, lowercased (for the linear model: "how do i" matters
    /// to an intent).
    pub words: Vec<String>,
    /// Character 3-grams of those words (and `_` with the first three), for compounds
    /// and misspellings.
    pub grams: Vec<String>,
}

/// Stems and grams for text in Swedish and English.
pub struct Analyser {
    swedish: Stemmer,
    english: Stemmer,
}

impl Default for Analyser {
    fn default() -> Self {
        Self::new()
    }
}

impl Analyser {
    /// Creates an analyser.
    pub fn new() -> Self {
        Self {
            swedish: Stemmer::create(Algorithm::Swedish),
            english: Stemmer::create(Algorithm::English),
        }
    }

    /// Analyses a text. `english` picks the English stemmer; everything else is stemmed as
    /// Swedish (words in other scripts pass through unchanged).
    pub fn analyse(&self, text: &str, english: bool) -> AnalysedText {
        let stemmer = if english {
            &self.english
        } else {
            &self.swedish
        };
        let mut out = AnalysedText::default();
        for word in words(text) {
            out.words.push(word.clone());
            if word.chars().count() < 2 || is_stop_word(&word) {
                continue;
            }
            let stem = stemmer.stem(&word).into_owned();
            push_grams(&word, &mut out.grams);
            out.stems.push(stem);
        }
        out
    }
}

/// Character 3-grams of a word of four or more characters, the first marked with `_`
/// as well, so word starts weigh a little more.
fn push_grams(word: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 4 {
        return;
    }
    let mut start = String::from("_");
    start.extend(&chars[..3]);
    out.push(start);
    for window in chars.windows(3) {
        out.push(window.iter().collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_lowercased_and_long_numbers_dropped() {
        let w: Vec<String> =
            words("Bygglov för ALTAN, pnr 19121212-1212 tel 0701234567 år 2026").collect();
        assert_eq!(
            w,
            ["bygglov", "för", "altan", "pnr", "1212", "tel", "år", "2026"]
        );
    }

    #[test]
    fn compounds_share_grams_with_their_parts() {
        let a = Analyser::new();
        let long = a.analyse("bygglovsansökan", false);
        let short = a.analyse("bygglov", false);
        let shared = short
            .grams
            .iter()
            .filter(|g| long.grams.contains(g))
            .count();
        assert_eq!(
            shared,
            short.grams.len(),
            "{:?} vs {:?}",
            short.grams,
            long.grams
        );
        let stop = a.analyse("och det är", false);
        assert!(stop.stems.is_empty());
        assert_eq!(stop.words, ["och", "det", "är"]);
        assert_eq!(a.analyse("parkeringen", false).stems, ["parkering"]);
        assert_eq!(a.analyse("parking tickets", true).stems, ["park", "ticket"]);
    }
}
