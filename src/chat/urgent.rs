//! Urgent matters in a chat message, answered before anything else: emergencies go to
//! 112, threats of self-harm to Självmordslinjen, crime to Polisen, health to 1177.
//!
//! Terms match at the start of a word ("självmord" in "självmordstankar"), lowercase, in
//! Swedish, English, Ukrainian and Arabic. They are phrased so that ordinary municipal
//! questions ("eldningsförbud", "sjukanmäla barnet", "brandsyn") do not match.

use super::ChatLanguage;
use serde::Serialize;

/// What kind of urgent matter a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UrgentMatter {
    /// Thoughts of suicide or self-harm.
    SelfHarm,
    /// Danger to life or property now: fire, accident, someone not breathing.
    Emergency,
    /// A crime to report.
    Crime,
    /// A question about one's health.
    Health,
}

/// Checked in this order: the first that matches wins.
const TERMS: &[(UrgentMatter, &[&str])] = &[
    (
        UrgentMatter::SelfHarm,
        &[
            "ta livet av mig",
            "ta mitt liv",
            "självmord",
            "vill inte leva",
            "orkar inte leva",
            "vill dö",
            "skada mig själv",
            "skadar mig själv",
            "kill myself",
            "suicid",
            "end my life",
            "want to die",
            "hurt myself",
            "self-harm",
            "self harm",
            "harm myself",
            "самогуб",
            "покінчити з собою",
            "не хочу жити",
            "вбити себе",
            "انتحار",
            "أنتحر",
            "اقتل نفسي",
            "أقتل نفسي",
            "لا أريد أن أعيش",
            "إيذاء نفسي",
        ],
    ),
    (
        UrgentMatter::Emergency,
        &[
            "brinner",
            "brand i ",
            "livsfara",
            "akut fara",
            "nödläge",
            "nödsituation",
            "medvetslös",
            "andas inte",
            "hjärtstopp",
            "drunkn",
            "ambulans",
            "ring 112",
            "har hänt en olycka",
            "olycka har hänt",
            "gasläck",
            "on fire",
            "is burning",
            "emergency",
            "unconscious",
            "not breathing",
            "heart attack",
            "drowning",
            "ambulance",
            "life-threatening",
            "gas leak",
            "пожеж",
            "горить",
            "швидку допомогу",
            "без свідомості",
            "не дихає",
            "надзвичайн",
            "حريق",
            "إسعاف",
            "اسعاف",
            "حالة طارئة",
            "طوارئ",
            "فاقد الوعي",
            "لا يتنفس",
        ],
    ),
    (
        UrgentMatter::Crime,
        &[
            "stöld",
            "stulen",
            "stulit",
            "stulna",
            "inbrott",
            "polisanm",
            "misshand",
            "rånad",
            "rånet",
            "bedrägeri",
            "bedragen",
            "hotad",
            "hotar mig",
            "hotade mig",
            "våldtäkt",
            "theft",
            "stolen",
            "burglar",
            "robbed",
            "assault",
            "police report",
            "fraud",
            "threatened",
            "threatening me",
            "крадіжк",
            "вкрали",
            "поліці",
            "пограбув",
            "шахрайств",
            "погрожу",
            "سرقة",
            "سرق",
            "شرطة",
            "احتيال",
            "تهديد",
        ],
    ),
    (
        UrgentMatter::Health,
        &[
            "feber",
            "symtom",
            "ont i ",
            "vårdcentral",
            "läkare",
            "1177",
            "förkyl",
            "kräks",
            "jag är sjuk",
            "är sjuk och",
            "blöder",
            "utslag",
            "fever",
            "symptom",
            "doctor",
            "i feel sick",
            "i am sick",
            "i'm sick",
            "pain in",
            "bleeding",
            "rash",
            "температур",
            "лікар",
            "симптом",
            "хворі",
            "хворий",
            "хвора",
            "حمى",
            "طبيب",
            "مريض",
            "أعراض",
            "اعراض",
        ],
    ),
];

/// The urgent matter a message is about, if any.
pub fn urgent_matter(message: &str) -> Option<UrgentMatter> {
    let text = format!(
        " {} ",
        message
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    );
    TERMS.iter().find_map(|(matter, terms)| {
        terms
            .iter()
            .any(|term| starts_a_word(&text, term))
            .then_some(*matter)
    })
}

/// Whether `term` occurs in `text` where a word starts.
fn starts_a_word(text: &str, term: &str) -> bool {
    // Arabic joins the article and some prepositions to the word ("الانتحار"): anywhere.
    if term.starts_with(|c: char| ('\u{0600}'..='\u{06FF}').contains(&c)) {
        return text.contains(term);
    }
    text.match_indices(term).any(|(at, _)| {
        text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

impl UrgentMatter {
    /// Where to turn, in the reader's language.
    pub fn advice(self, language: ChatLanguage) -> &'static str {
        use ChatLanguage::*;
        use UrgentMatter::*;
        match (self, language) {
            (SelfHarm, Sv) => "Om du tänker på att ta ditt liv eller skada dig själv: ring 112 om det är akut. Du kan också ringa Självmordslinjen på 90101 (alla dagar, dygnet runt) eller chatta på mind.se. Du behöver inte vara ensam med det här.",
            (SelfHarm, En) => "If you are thinking about ending your life or harming yourself: call 112 if it is acute. You can also call Självmordslinjen (the suicide helpline) on 90101, every day, around the clock, or chat at mind.se. You do not have to be alone with this.",
            (SelfHarm, Uk) => "Якщо ви думаєте про самогубство або про те, щоб заподіяти собі шкоду: телефонуйте 112, якщо це гостро. Ви також можете зателефонувати на лінію Självmordslinjen 90101 (цілодобово) або написати в чат на mind.se. Ви не повинні бути з цим наодинці.",
            (SelfHarm, Ar) => "إذا كنت تفكر في إنهاء حياتك أو إيذاء نفسك: اتصل بالرقم 112 إذا كان الأمر عاجلاً. يمكنك أيضاً الاتصال بخط المساعدة Självmordslinjen على الرقم 90101 على مدار الساعة، أو الدردشة عبر mind.se. لست مضطراً لمواجهة هذا وحدك.",
            (Emergency, Sv) => "Är det en nödsituation – ring 112 nu. Kommunens chatt kan inte ta emot larm.",
            (Emergency, En) => "If this is an emergency, call 112 now. The municipality's chat cannot take emergency calls.",
            (Emergency, Uk) => "Якщо це надзвичайна ситуація, негайно телефонуйте 112. Чат муніципалітету не приймає екстрені виклики.",
            (Emergency, Ar) => "إذا كانت هذه حالة طارئة، اتصل بالرقم 112 الآن. لا تستطيع دردشة البلدية استقبال نداءات الطوارئ.",
            (Crime, Sv) => "Vill du anmäla ett brott? Ring Polisen på 114 14 eller gå till polisen.se. Pågår brottet just nu – ring 112.",
            (Crime, En) => "Do you want to report a crime? Call the police on 114 14 or go to polisen.se. If the crime is happening now, call 112.",
            (Crime, Uk) => "Хочете повідомити про злочин? Зателефонуйте в поліцію за номером 114 14 або перейдіть на polisen.se. Якщо злочин відбувається зараз, телефонуйте 112.",
            (Crime, Ar) => "هل تريد الإبلاغ عن جريمة؟ اتصل بالشرطة على الرقم 114 14 أو ادخل إلى polisen.se. إذا كانت الجريمة تحدث الآن، اتصل بالرقم 112.",
            (Health, Sv) => "Har du frågor om din hälsa? Ring 1177 eller gå till 1177.se för råd om vård. Vid fara för liv – ring 112.",
            (Health, En) => "Questions about your health? Call 1177 or go to 1177.se for medical advice. If a life is in danger, call 112.",
            (Health, Uk) => "Маєте питання щодо здоров'я? Телефонуйте 1177 або перейдіть на 1177.se, щоб отримати медичну пораду. Якщо життя в небезпеці, телефонуйте 112.",
            (Health, Ar) => "هل لديك أسئلة عن صحتك؟ اتصل بالرقم 1177 أو ادخل إلى 1177.se للحصول على المشورة الطبية. إذا كانت هناك حياة في خطر، اتصل بالرقم 112.",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use UrgentMatter::*;

    #[test]
    fn urgent_matters_are_found_in_four_languages() {
        for (text, matter) in [
            ("Det brinner i trapphuset!", Emergency),
            ("Min granne är medvetslös och andas inte", Emergency),
            ("There is a gas leak in our building", Emergency),
            ("У нас пожежа в будинку", Emergency),
            ("يوجد حريق في المبنى", Emergency),
            ("Jag vill inte leva längre", SelfHarm),
            ("jag har självmordstankar", SelfHarm),
            ("I want to kill myself", SelfHarm),
            ("Я думаю про самогубство", SelfHarm),
            ("أفكر في الانتحار", SelfHarm),
            ("Min cykel blev stulen vid stationen", Crime),
            ("Någon hotar mig på nätet", Crime),
            ("My car was stolen", Crime),
            ("У мене вкрали телефон", Crime),
            ("تعرضت للسرقة", Crime),
            ("Mitt barn har hög feber", Health),
            ("I have a fever and a rash", Health),
            ("Мені потрібен лікар", Health),
            ("أحتاج إلى طبيب", Health),
        ] {
            assert_eq!(urgent_matter(text), Some(matter), "{text}");
        }
    }

    #[test]
    fn ordinary_municipal_questions_are_not_urgent() {
        for text in [
            "Råder det eldningsförbud i kommunen?",
            "Hur sjukanmäler jag mitt barn i skolan?",
            "När kommer brandskyddskontrollen (sotning)?",
            "Hur ansöker jag om bygglov för en altan?",
            "Var kan jag hotellboka inför festivalen?",
            "Hur söker jag bostadsanpassning?",
            "When is the library open?",
            "Коли працює бібліотека?",
            "متى تفتح المكتبة؟",
        ] {
            assert_eq!(urgent_matter(text), None, "{text}");
        }
    }

    #[test]
    fn every_matter_has_advice_in_every_language_with_its_number() {
        for (matter, number) in [
            (SelfHarm, "90101"),
            (Emergency, "112"),
            (Crime, "114 14"),
            (Health, "1177"),
        ] {
            for language in ChatLanguage::ALL {
                assert!(
                    matter.advice(language).contains(number),
                    "{matter:?} {language:?}"
                );
            }
        }
    }
}
