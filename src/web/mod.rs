//! The web server. For now a read-only list of cases (the admin panel grows here), and a
//! health check. Everything a person sent is escaped before it reaches a page.

use crate::store::Store;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::future::Future;

/// Errors a handler can answer with; details go to the log, never to the page.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "request failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internt fel / Internal error",
        )
            .into_response()
    }
}

/// The routes.
pub fn router(store: Store) -> Router {
    Router::new()
        .route("/", get(case_list))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(store)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#1a1a1a}table{border-collapse:collapse;width:100%}\
th,td{border-bottom:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}th{background:#eef2f5}\
.triage{color:#8a4b00;font-weight:600}.urgent{color:#a00000;font-weight:600}td.why{font-size:.85rem;color:#333}.sr-only{position:absolute;left:-9999px}";

async fn case_list(State(store): State<Store>) -> Result<Response, WebError> {
    let cases = store.recent_cases(500).await?;
    let mut rows = String::new();
    for c in &cases {
        let mut flags = Vec::new();
        if c.flags.urgent {
            flags.push("<span class=\"urgent\">brådskande</span>");
        }
        if c.flags.sensitive {
            flags.push("sekretess");
        }
        if c.flags.auto_reply {
            flags.push("automatiskt svar");
        }
        if c.overdue {
            flags.push("<span class=\"urgent\">försenad</span>");
        }
        if c.flags.bulk {
            flags.push("massutskick");
        }
        let subject = if c.flags.sensitive {
            "(sekretess – visas inte här)".to_owned()
        } else {
            escape(&c.subject)
        };
        let status = match c.status {
            crate::domain::CaseStatus::Triage => {
                "<span class=\"triage\">väntar på granskning</span>"
            }
            crate::domain::CaseStatus::Routed => "skickat",
            crate::domain::CaseStatus::Closed => "avslutat",
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"why\">{}</td></tr>\n",
            escape(&c.number.to_string()),
            subject,
            escape(c.department.as_deref().unwrap_or("–")),
            c.confidence.map(|v| format!("{:.0} %", v * 100.0)).unwrap_or_else(|| "–".into()),
            status,
            flags.join(", "),
            escape(c.explanation.as_deref().unwrap_or("")),
        ));
    }
    let page = format!(
        "<!doctype html><html lang=\"sv\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>Brevduva – ärenden</title><style>{STYLE}</style></head><body><main><h1>Ärenden</h1>\
<p>{} ärenden, nyast först. Endast läsning.</p><table><caption class=\"sr-only\">Ärenden</caption><thead><tr><th scope=\"col\">Ärende</th><th scope=\"col\">Ämne</th>\
<th scope=\"col\">Avdelning</th><th scope=\"col\">Säkerhet</th><th scope=\"col\">Status</th><th scope=\"col\">Flaggor</th><th scope=\"col\">Varför</th></tr></thead>\
<tbody>{rows}</tbody></table></main></body></html>",
        cases.len()
    );
    Ok((
        [
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(page),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }
}
