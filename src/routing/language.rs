//! Which language an enquiry is written in (whatlang), with Swedish as the fallback for
//! short or unclear texts.

use crate::domain::Language;
use whatlang::{Detector, Lang};

/// Texts shorter than this (in characters) are taken to be Swedish.
const MIN_CHARS: usize = 20;

/// Detects the language of a text among those a Swedish municipality meets most.
pub fn detect_language(text: &str) -> Language {
    if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_CHARS {
        return Language::swedish();
    }
    let detector = Detector::with_allowlist(vec![
        Lang::Swe,
        Lang::Eng,
        Lang::Ukr,
        Lang::Rus,
        Lang::Ara,
        Lang::Fin,
        Lang::Pol,
        Lang::Deu,
        Lang::Spa,
        Lang::Fra,
        Lang::Pes,
        Lang::Tur,
        Lang::Tha,
        Lang::Amh,
    ]);
    match detector.detect(text) {
        Some(info) if info.is_reliable() || non_latin(info.lang()) => {
            Language::from_code(iso_639_1(info.lang()))
        }
        _ => Language::swedish(),
    }
}

/// Languages written in their own script are reliable even when whatlang is cautious.
fn non_latin(lang: Lang) -> bool {
    matches!(
        lang,
        Lang::Ukr | Lang::Rus | Lang::Ara | Lang::Pes | Lang::Tha | Lang::Amh
    )
}

fn iso_639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Swe => "sv",
        Lang::Eng => "en",
        Lang::Ukr => "uk",
        Lang::Rus => "ru",
        Lang::Ara => "ar",
        Lang::Fin => "fi",
        Lang::Pol => "pl",
        Lang::Deu => "de",
        Lang::Spa => "es",
        Lang::Fra => "fr",
        Lang::Pes => "fa",
        Lang::Tur => "tr",
        Lang::Tha => "th",
        Lang::Amh => "am",
        _ => "sv",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_languages_are_detected_and_short_texts_are_swedish() {
        let table = [
            ("Hej! Jag undrar när soporna hämtas på vår gata i vinter, det har blivit fel flera gånger.", "sv"),
            ("Hello, I would like to know when the garbage is collected on our street this winter.", "en"),
            ("Доброго дня! Я хотів би дізнатися, як записати дитину до школи в вашому місті.", "uk"),
            ("مرحبا، أريد أن أعرف كيف يمكنني تسجيل طفلي في المدرسة في بلديتكم من فضلكم.", "ar"),
            ("Hei! Haluaisin tietää, milloin roskat haetaan meidän kadultamme tänä talvena.", "fi"),
            ("Tack!", "sv"),
            ("", "sv"),
        ];
        for (text, code) in table {
            assert_eq!(detect_language(text).code(), code, "{text}");
        }
    }
}
