//! Mail HTML made safe to show: ammonia keeps only harmless tags and attributes, drops
//! images (nothing remote ever loads, no tracking pixels), scripts, styles, forms and
//! frames, and allows links only to http, https and mailto. The page's
//! Content-Security-Policy stands behind this as a second wall.

use std::collections::HashSet;

/// Sanitised HTML of a citizen's mail.
pub fn sanitise_mail_html(html: &str) -> String {
    let tags: HashSet<&str> = [
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "code",
        "dd",
        "div",
        "dl",
        "dt",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "li",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "u",
        "ul",
    ]
    .into_iter()
    .collect();
    let schemes: HashSet<&str> = ["http", "https", "mailto"].into_iter().collect();
    ammonia::Builder::default()
        .tags(tags)
        .clean_content_tags(
            [
                "script", "style", "title", "head", "svg", "math", "template", "noscript",
                "iframe", "object",
            ]
            .into_iter()
            .collect(),
        )
        .generic_attributes(HashSet::new())
        .tag_attributes(
            [
                ("a", ["href"].into_iter().collect()),
                ("td", ["colspan", "rowspan"].into_iter().collect()),
                ("th", ["colspan", "rowspan"].into_iter().collect()),
            ]
            .into_iter()
            .collect(),
        )
        .url_schemes(schemes)
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitise_mail_html;

    #[test]
    fn hostile_html_loses_everything_active() {
        let hostile = r#"<p onclick="alert(1)">Hej <b>du</b></p>
<script>alert(1)</script><style>p{background:url(https://evil.example/x)}</style>
<img src="https://tracker.example/pixel.gif" onerror="alert(1)">
<a href="javascript:alert(1)">klick</a><a href="https://kommun.example/sida">sida</a>
<svg onload="alert(1)"><script>alert(2)</script></svg><iframe src="https://evil.example"></iframe>
<form action="https://evil.example"><input name=x></form><a href="/relative">rel</a>
<div style="position:fixed;top:0">overlay</div><math><mi xlink:href="javascript:alert(1)">x</mi></math>"#;
        let clean = sanitise_mail_html(hostile);
        for bad in [
            "onclick",
            "<script",
            "alert(",
            "<style",
            "<img",
            "tracker.example",
            "javascript:",
            "<svg",
            "<iframe",
            "<form",
            "<input",
            "style=",
            "href=\"/relative",
            "<math",
            "evil.example",
        ] {
            assert!(!clean.contains(bad), "{bad} left in {clean}");
        }
        assert!(clean.contains("<b>du</b>"));
        assert!(clean.contains("href=\"https://kommun.example/sida\""));
        assert!(clean.contains("rel=\"noopener noreferrer nofollow\""));
    }
}
