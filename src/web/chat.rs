//! The citizen chat on the web: the page at `/chat`, the embeddable script, `POST
//! /api/chat`, `POST /api/chat/handoff` and the OpenAPI document. Public, no cookies;
//! limited per client address; questions recorded (redacted) by one background writer.

use super::auth::{client_address, RateLimiter};
use super::{PanelError, PanelState};
use crate::chat::{valid_conversation_id, ChatBot, ChatLanguage, ChatReply, ReplyKind};
use crate::config::ChatConfig;
use crate::store::{ChatQuestion, Store};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The chat's page, words and script, embedded.
const PAGE: &str = include_str!("../../templates/chat/chat.html");
const STYLE_SHEET: &str = include_str!("../../templates/chat/chat.css");
const SCRIPT: &str = include_str!("../../templates/chat/chat.js");
const EMBED: &str = include_str!("../../templates/chat/embed.js");
const OPENAPI: &str = include_str!("../../templates/chat/openapi.json");
const WORDS: &str = include_str!("../../templates/chat/strings.toml");

/// Everything the chat needs besides the panel's state.
pub struct ChatService {
    bot: Arc<ChatBot>,
    settings: ChatConfig,
    per_minute: RateLimiter,
    handoffs: RateLimiter,
    log: tokio::sync::mpsc::Sender<ChatRecord>,
    page: minijinja::Environment<'static>,
    words: BTreeMap<String, BTreeMap<String, String>>,
}

impl ChatService {
    /// The chat on a classifier, recording questions into `store` (a background writer
    /// is started; it stops when the service is dropped).
    pub fn new(
        classifier: Arc<crate::routing::Classifier>,
        settings: ChatConfig,
        store: Store,
    ) -> Self {
        let bot = Arc::new(ChatBot::new(
            classifier,
            crate::chat::ChatSettings {
                min_confidence: settings.min_confidence,
                ..Default::default()
            },
        ));
        let (log, rx) = tokio::sync::mpsc::channel(10_000);
        tokio::spawn(write_questions(store, rx));
        let mut page = minijinja::Environment::new();
        page.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        page.add_template("chat.html", PAGE)
            .expect("embedded chat page");
        let words = toml::from_str(WORDS).expect("embedded chat strings");
        Self {
            bot,
            per_minute: RateLimiter::new(
                settings.requests_per_minute_per_client,
                Duration::from_secs(60),
            ),
            handoffs: RateLimiter::new(
                settings.handoffs_per_hour_per_client,
                Duration::from_secs(3600),
            ),
            settings,
            log,
            page,
            words,
        }
    }

    fn word(&self, language: ChatLanguage, key: &str) -> String {
        self.words
            .get(language.code())
            .and_then(|w| w.get(key))
            .cloned()
            .unwrap_or_else(|| key.to_owned())
    }

    /// The Content-Security-Policy of the chat's page: like the panel's, but it may call
    /// its own API and be framed by the configured websites.
    pub fn content_security_policy(&self) -> String {
        let mut ancestors = String::from("'self'");
        for origin in &self.settings.embed_origins {
            ancestors.push(' ');
            ancestors.push_str(origin);
        }
        format!(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors {ancestors}; base-uri 'none'"
        )
    }
}

/// What the chat's one writer records, in the order it happened.
enum ChatRecord {
    /// A question and the kind of reply it got.
    Question(ChatQuestion),
    /// A conversation became a case (applied after every question queued before it).
    HandedOff {
        /// The conversation.
        conversation_id: String,
        /// The case number.
        case: String,
    },
}

/// Writes recorded questions in batches (whatever has arrived, at most five times a
/// second) and links handed-off conversations to their cases, in order.
async fn write_questions(store: Store, mut rx: tokio::sync::mpsc::Receiver<ChatRecord>) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(record) = next.take() {
            match record {
                ChatRecord::Question(q) => batch.push(q),
                ChatRecord::HandedOff {
                    conversation_id,
                    case,
                } => {
                    flush(&store, &mut batch).await;
                    if let Err(e) = store.chat_handed_off(&conversation_id, &case).await {
                        tracing::error!(error = %e, "linking a chat to its case failed");
                    }
                }
            }
            if batch.len() < 500 {
                next = rx.try_recv().ok();
            }
        }
        flush(&store, &mut batch).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn flush(store: &Store, batch: &mut Vec<ChatQuestion>) {
    if let Err(e) = store.record_chat_questions(batch).await {
        tracing::error!(error = %e, questions = batch.len(), "recording chat questions failed");
    }
    batch.clear();
}

fn chat(state: &PanelState) -> Result<&ChatService, PanelError> {
    state.0.chat.as_ref().ok_or(PanelError::NotFound)
}

/// The reader's language: `?lang=`, else the browser's first language the chat speaks.
fn reader_language(query: Option<&str>, headers: &HeaderMap) -> ChatLanguage {
    if let Some(l) = query.and_then(ChatLanguage::from_code) {
        return l;
    }
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .filter_map(|part| part.split(';').next())
        .filter_map(|tag| {
            ChatLanguage::from_code(tag.trim().get(..2)?.to_ascii_lowercase().as_str())
        })
        .next()
        .unwrap_or(ChatLanguage::Sv)
}

#[derive(Deserialize, Default)]
pub(super) struct PageParams {
    lang: Option<String>,
    embed: Option<String>,
}

/// The chat page.
pub(super) async fn page(
    State(state): State<PanelState>,
    headers: HeaderMap,
    Query(params): Query<PageParams>,
) -> Result<Response, PanelError> {
    let chat = chat(&state)?;
    let language = reader_language(params.lang.as_deref(), &headers);
    let mut words = chat.words[language.code()].clone();
    if let Some(text) = words.get_mut("consent_text") {
        *text = text.replace("{days}", &chat.settings.keep_text_days.to_string());
    }
    let strings_json = serde_json::to_string(&words)
        .unwrap_or_default()
        .replace('<', "\\u003c");
    let languages: Vec<_> = [
        ("sv", "Svenska"),
        ("en", "English"),
        ("uk", "Українська"),
        ("ar", "العربية"),
    ]
    .iter()
    .map(|(code, name)| json!({ "code": code, "name": name }))
    .collect();
    let html = chat
        .page
        .get_template("chat.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                lang => language.code(),
                dir => if language == ChatLanguage::Ar { "rtl" } else { "ltr" },
                t => &words,
                languages => languages,
                embed => params.embed.is_some(),
                max_chars => chat.settings.max_message_chars,
                strings_json => strings_json,
            })
        })
        .map_err(PanelError::Page)?;
    Ok(Html(html).into_response())
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The chat page's style sheet.
pub(super) async fn style_sheet() -> Response {
    asset("text/css; charset=utf-8", STYLE_SHEET)
}

/// The chat page's script.
pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The script a municipality's website includes with one tag.
pub(super) async fn embed_script() -> Response {
    asset("text/javascript; charset=utf-8", EMBED)
}

/// The API described.
pub(super) async fn openapi() -> Response {
    asset("application/json", OPENAPI)
}

/// A JSON error with a message in the reader's language.
fn refuse(
    chat: &ChatService,
    status: StatusCode,
    code: &'static str,
    language: ChatLanguage,
) -> Response {
    let message = chat.word(
        language,
        if code == "bad_request" || code == "not_found" {
            "error"
        } else {
            code
        },
    );
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        json!({ "error": code, "message": message }).to_string(),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("60"),
        );
    }
    response
}

fn json_response(value: serde_json::Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// A JSON request body of the expected shape.
fn read_request<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_slice(body).ok()
}

/// The language a request names, if the chat speaks it.
fn request_language(code: Option<&str>) -> Option<ChatLanguage> {
    code.and_then(ChatLanguage::from_code)
}

#[derive(Deserialize)]
struct ChatRequest {
    conversation_id: String,
    #[serde(default)]
    message: String,
    topic: Option<String>,
    language: Option<String>,
}

/// `POST /api/chat`.
pub(super) async fn ask(
    State(state): State<PanelState>,
    extensions: Extensions,
    body: Bytes,
) -> Result<Response, PanelError> {
    let chat = chat(&state)?;
    let Some(request) = read_request::<ChatRequest>(&body) else {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "bad_request",
            ChatLanguage::Sv,
        ));
    };
    let hint = request_language(request.language.as_deref());
    let language = hint.unwrap_or(ChatLanguage::Sv);
    if !chat
        .per_minute
        .allow(client_address(&extensions), Instant::now())
    {
        return Ok(refuse(
            chat,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            language,
        ));
    }
    if !valid_conversation_id(&request.conversation_id) {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "bad_request",
            language,
        ));
    }
    if request.message.chars().count() > chat.settings.max_message_chars {
        return Ok(refuse(
            chat,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_long",
            language,
        ));
    }
    let reply = match (&request.topic, request.message.trim()) {
        (Some(topic), _) => match chat.bot.topic(topic, hint) {
            Some(reply) => reply,
            None => return Ok(refuse(chat, StatusCode::NOT_FOUND, "not_found", language)),
        },
        (None, "") => {
            return Ok(refuse(
                chat,
                StatusCode::BAD_REQUEST,
                "bad_request",
                language,
            ))
        }
        // Under a millisecond of work: answered on the request's own thread.
        (None, message) => chat.bot.reply(message, hint)?,
    };
    record(chat, &request, &reply);
    let mut value = serde_json::to_value(&reply).unwrap_or_default();
    value["handoff_offered"] = json!(reply.kind == ReplyKind::NotSure);
    Ok(json_response(value))
}

/// Queues the question for the statistics writer (dropped, with a log line, if the
/// writer is far behind: a chat answer never waits for statistics).
fn record(chat: &ChatService, request: &ChatRequest, reply: &ChatReply) {
    let topic = reply.source.as_ref().or(reply.suggestions.first());
    // A question the chat could not answer that speaks of a sensitive department's matters
    // (its rule words) is counted, never kept as text: such matters appear in statistics
    // only as counts. The rules are cheap enough to ask on every question.
    let sensitive = reply.kind == ReplyKind::NotSure && request.topic.is_none() && {
        let classifier = chat.bot.classifier();
        let rules = classifier.rules();
        rules
            .evaluate(&request.message, None, &[])
            .matches
            .iter()
            .any(|m| classifier.is_sensitive(Some(m.department.as_str())))
    };
    let question = match &request.topic {
        Some(_) => topic.map(|t| t.title.clone()).unwrap_or_default(),
        None if sensitive => String::new(),
        None => crate::privacy::redact(request.message.trim(), &[]),
    };
    let kind = match reply.kind {
        ReplyKind::Answer => "answer",
        ReplyKind::NotSure => "not-sure",
        ReplyKind::Urgent => "urgent",
    };
    let q = ChatQuestion {
        asked_at: crate::store::now(),
        conversation_id: request.conversation_id.clone(),
        language: reply.asked_in.code().to_owned(),
        question,
        kind: kind.to_owned(),
        topic: topic.map(|t| t.id.clone()),
        topic_title: topic.map(|t| t.title.clone()),
        department: reply.department.clone(),
    };
    if chat.log.try_send(ChatRecord::Question(q)).is_err() {
        tracing::warn!("chat statistics writer is behind; a question was not recorded");
    }
}

#[derive(Deserialize)]
struct HandoffRequest {
    conversation_id: String,
    email: String,
    #[serde(default)]
    consent: bool,
    #[serde(default)]
    question: String,
    language: Option<String>,
}

/// `POST /api/chat/handoff`: the question becomes a case through the same pipeline as
/// mail (channel `chat`); the citizen gets the acknowledgement by mail.
pub(super) async fn handoff(
    State(state): State<PanelState>,
    extensions: Extensions,
    body: Bytes,
) -> Result<Response, PanelError> {
    let chat = chat(&state)?;
    let Some(request) = read_request::<HandoffRequest>(&body) else {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "bad_request",
            ChatLanguage::Sv,
        ));
    };
    let language = request_language(request.language.as_deref()).unwrap_or(ChatLanguage::Sv);
    if !valid_conversation_id(&request.conversation_id) || request.question.trim().is_empty() {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "bad_request",
            language,
        ));
    }
    if request.question.chars().count() > chat.settings.max_message_chars {
        return Ok(refuse(
            chat,
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_long",
            language,
        ));
    }
    if !request.consent {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "consent_required",
            language,
        ));
    }
    let Ok(email) = crate::domain::EmailAddress::parse(request.email.trim()) else {
        return Ok(refuse(chat, StatusCode::BAD_REQUEST, "bad_email", language));
    };
    if !chat
        .handoffs
        .allow(client_address(&extensions), Instant::now())
    {
        return Ok(refuse(
            chat,
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            language,
        ));
    }
    let (message_id, raw) = handoff_mail(&state, &request, &email, language);
    let outcome = state
        .triage()
        .process_batch(vec![raw], crate::triage::CHAT_SOURCE)
        .await?;
    let number = match outcome.first() {
        Some(crate::triage::Outcome::NewCase { number, .. })
        | Some(crate::triage::Outcome::Joined { number, .. }) => Some(number.to_string()),
        Some(crate::triage::Outcome::Duplicate) => {
            state.store().case_of_message(&message_id).await?
        }
        _ => None,
    };
    let Some(number) = number else {
        return Ok(refuse(
            chat,
            StatusCode::BAD_REQUEST,
            "bad_request",
            language,
        ));
    };
    // Through the writer, so the questions queued before are linked too.
    if chat
        .log
        .send(ChatRecord::HandedOff {
            conversation_id: request.conversation_id.clone(),
            case: number.clone(),
        })
        .await
        .is_err()
    {
        tracing::error!("the chat writer has stopped; a handoff was not linked to its questions");
    }
    state.counts_changed();
    Ok(json_response(json!({ "case_number": number })))
}

/// The question as a mail from the citizen to Kontaktcenter, with a Message-ID that is
/// the same for the same question, so a repeated handoff finds the same case.
fn handoff_mail(
    state: &PanelState,
    request: &HandoffRequest,
    email: &crate::domain::EmailAddress,
    language: ChatLanguage,
) -> (String, Vec<u8>) {
    use sha2::Digest;
    let question = request.question.trim().replace("\r\n", "\n");
    let digest = sha2::Sha256::digest(
        format!("{}\n{}\n{}", request.conversation_id, email, question).as_bytes(),
    );
    let id: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    let message_id = format!("chat-{id}@brevduva.chat");
    let first_line: String = question
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(60)
        .collect();
    let to = state.triage().kontaktcenter_address();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let raw = format!(
        "From: {email}\r\nTo: {to}\r\nSubject: Chatt: {first_line}\r\nMessage-ID: <{message_id}>\r\nDate: {date}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Language: {}\r\n\r\n{}\r\n",
        language.code(),
        question.replace('\n', "\r\n"),
    );
    (message_id, raw.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reader_language_comes_from_the_query_or_the_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,uk;q=0.9,en;q=0.8".parse().unwrap(),
        );
        assert_eq!(reader_language(None, &headers), ChatLanguage::Uk);
        assert_eq!(reader_language(Some("ar"), &headers), ChatLanguage::Ar);
        assert_eq!(
            reader_language(Some("xx"), &HeaderMap::new()),
            ChatLanguage::Sv
        );
    }

    #[test]
    fn every_chat_word_exists_in_all_four_languages() {
        let words: BTreeMap<String, BTreeMap<String, String>> = toml::from_str(WORDS).unwrap();
        let sv: Vec<&String> = words["sv"].keys().collect();
        for l in ["en", "uk", "ar"] {
            assert_eq!(words[l].keys().collect::<Vec<_>>(), sv, "{l}");
        }
        for (key, _) in words["sv"].iter() {
            // Error codes are looked up by name, by the server and by the script.
            let error_code = include_str!("chat.rs").contains(&format!("\"{key}\""));
            assert!(
                SCRIPT.contains(&format!("strings.{key}"))
                    || PAGE.contains(&format!("t.{key}"))
                    || error_code,
                "{key} is used nowhere"
            );
        }
    }
}
