//! Campaigns: social posts and notices that point people to a plus-address
//! (`kontaktcenter+ukraina@`) or ask them to write a word in the subject. Each case
//! remembers the campaign that brought it in, for `brevduva stats`.

use crate::config::CampaignConfig;
use crate::domain::EmailAddress;

/// The configured campaigns.
#[derive(Debug, Clone, Default)]
pub struct Campaigns(Vec<CampaignConfig>);

impl Campaigns {
    /// The campaigns of the configuration.
    pub fn new(campaigns: Vec<CampaignConfig>) -> Self {
        Self(campaigns)
    }

    /// The campaign of a mail: the first whose plus tag one of the recipients carries, or
    /// else the first whose subject tag the subject contains as a word (any case).
    pub fn recognise(&self, recipients: &[EmailAddress], subject: &str) -> Option<&str> {
        let tags: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.plus_tag())
            .map(str::to_lowercase)
            .collect();
        let by_address = self.0.iter().find(|c| {
            c.plus_tags
                .iter()
                .any(|t| tags.iter().any(|tag| tag.eq_ignore_ascii_case(t)))
        });
        let subject = subject.to_lowercase();
        let words: Vec<&str> = subject
            .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == '-'))
            .filter(|w| !w.is_empty())
            .collect();
        let in_subject = |tag: &String| {
            let tag = tag.trim().to_lowercase();
            if tag.contains(char::is_whitespace) {
                subject.contains(&tag)
            } else {
                words.contains(&tag.as_str())
            }
        };
        by_address
            .or_else(|| {
                self.0
                    .iter()
                    .find(|c| c.subject_tags.iter().any(in_subject))
            })
            .map(|c| c.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaigns() -> Campaigns {
        Campaigns::new(vec![
            CampaignConfig {
                id: "ukraina".into(),
                name: "Stöd till Ukraina".into(),
                plus_tags: vec!["ukraina".into()],
                subject_tags: vec!["#ukraina".into()],
            },
            CampaignConfig {
                id: "vintervag".into(),
                name: "Vinterväghållning".into(),
                plus_tags: vec![],
                subject_tags: vec!["vinterväg".into(), "snö på cykelbanan".into()],
            },
        ])
    }

    #[test]
    fn campaigns_are_recognised_by_plus_address_or_subject_word() {
        let c = campaigns();
        let to = |a: &str| vec![EmailAddress::parse(a).unwrap()];
        let table: &[(&str, &str, Option<&str>)] = &[
            ("kontaktcenter+ukraina@kommun.se", "Hjälp", Some("ukraina")),
            ("Kontaktcenter+UKRAINA@kommun.se", "Hjälp", Some("ukraina")),
            (
                "kontaktcenter@kommun.se",
                "Fråga #Ukraina boende",
                Some("ukraina"),
            ),
            (
                "kontaktcenter@kommun.se",
                "VINTERVÄG: Storgatan",
                Some("vintervag"),
            ),
            (
                "kontaktcenter@kommun.se",
                "Snö på cykelbanan igen",
                Some("vintervag"),
            ),
            ("kontaktcenter@kommun.se", "Vintervägen till skolan", None),
            ("kontaktcenter@kommun.se", "Ukraina", None),
            ("kontaktcenter+bygglov@kommun.se", "Bygglov", None),
        ];
        for (address, subject, expected) in table {
            assert_eq!(
                c.recognise(&to(address), subject),
                *expected,
                "{address} {subject}"
            );
        }
    }
}
