//! The admin panel: server-rendered pages for Kontaktcenter and the departments, served by
//! axum. Every asset comes from Brevduva itself; every page carries a strict
//! Content-Security-Policy; everything a citizen wrote is escaped or sanitised before it
//! reaches a page; every route but log-in, health and the static assets needs a session.
//!
//! request -> auth (session, rights, form token) -> store / triage -> view

mod auth;
mod cases;
mod chart;
mod chat;
mod knowledge;
mod login;
mod operations;
mod ops;
mod privacy;
mod reads;
mod rules;
mod sanitise;
mod stats;
mod tenants;
mod view;

pub use auth::token_hash;
pub use tenants::{request_host, serve_tenants, tenant_router, TenantPanel};

pub use auth::{generate_password, hash_password, verify_password};
pub use sanitise::sanitise_mail_html;
pub use view::PanelLanguage;

use crate::config::Config;
use crate::store::{QueueCounts, Store};
use crate::triage::Triage;
use auth::{RateLimiter, Staff};
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use view::{Frame, Me, Views};

/// What a request can fail with. Details go to the log, never to the page.
#[derive(Debug, thiserror::Error)]
pub enum PanelError {
    /// No session: go and log in (for page reads).
    #[error("no session")]
    SignIn,
    /// No session (for anything but page reads).
    #[error("no session")]
    Unauthorised,
    /// Signed in, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// Not there, or not for this person.
    #[error("not found")]
    NotFound,
    /// The form's token was wrong or it came from another site.
    #[error("form token rejected")]
    Expired,
    /// The request could not be read.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The pipeline failed.
    #[error(transparent)]
    Triage(#[from] crate::triage::TriageError),
    /// A page could not be rendered.
    #[error(transparent)]
    View(#[from] view::ViewError),
    /// The chat page could not be rendered.
    #[error("rendering the chat page: {0}")]
    Page(#[from] minijinja::Error),
    /// A worker thread died.
    #[error("task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Writing a file failed.
    #[error("writing: {0}")]
    Io(#[from] std::io::Error),
    /// The knowledge index failed.
    #[error(transparent)]
    Knowledge(#[from] crate::routing::KnowledgeError),
    /// The routing rules in use could not be read or put in use.
    #[error("routing rules: {0}")]
    Rules(String),
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            Self::SignIn => return Redirect::to("/login").into_response(),
            Self::Unauthorised => (
                StatusCode::UNAUTHORIZED,
                "Logga in / Log in",
                "Du behöver logga in. / Please log in.",
            ),
            Self::Forbidden => (
                StatusCode::FORBIDDEN,
                "Ingen behörighet / No access",
                "Du har inte behörighet till detta. / You do not have access to this.",
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "Finns inte / Not found",
                "Sidan eller ärendet finns inte, eller så har du inte behörighet till det. / \
                 The page or case does not exist, or you do not have access to it.",
            ),
            Self::Expired => (
                StatusCode::FORBIDDEN,
                "Formuläret har gått ut / The form has expired",
                "Ladda om sidan och försök igen. / Reload the page and try again.",
            ),
            Self::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "Felaktig begäran / Bad request",
                "Uppgifterna kunde inte läsas. / The request could not be read.",
            ),
            _ => {
                tracing::error!(error = %self, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Något gick fel / Something went wrong",
                    "Ett internt fel inträffade. Inget har gått förlorat. / An internal error \
                     occurred. Nothing was lost.",
                )
            }
        };
        let page = format!(
            "<!doctype html><html lang=\"sv\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
             <title>{heading} – Brevduva</title><link rel=\"stylesheet\" href=\"/assets/panel.css\"></head>\
             <body><main id=\"main\"><h1>{heading}</h1><p>{message}</p><p><a href=\"/\">Brevduva</a></p></main></body></html>"
        );
        (status, Html(page)).into_response()
    }
}

/// Settings of the panel, from `[web]` and `[routing]`.
#[derive(Debug, Clone)]
pub struct PanelSettings {
    /// Mark cookies `Secure`.
    pub secure_cookies: bool,
    /// Sessions end after this long without use.
    pub session_idle_seconds: i64,
    /// Failed log-ins in a row that lock an account...
    pub lockout_after_failures: i64,
    /// ...for this long.
    pub lockout_seconds: i64,
    /// Log-in attempts per client address per 10 minutes.
    pub login_attempts_per_client: u32,
    /// The folder of rule files; `None` when the embedded ones are in use. Edits made in
    /// the panel are kept in the database and take the place of their departments' files.
    pub rules_dir: Option<PathBuf>,
    /// The department that handles what needs a person.
    pub fallback_department: String,
    /// The citizen chat, when it is on.
    pub chat: Option<crate::config::ChatConfig>,
    /// The bearer token for `/metrics` (without one: loopback clients only).
    pub metrics_token: Option<crate::config::Secret>,
    /// How long a session found in the database is trusted from memory.
    pub session_cache: Duration,
}

impl PanelSettings {
    /// From the configuration.
    pub fn from_config(config: &Config) -> Self {
        Self {
            secure_cookies: config.web.secure_cookies,
            session_idle_seconds: (config.web.session_idle_minutes * 60) as i64,
            lockout_after_failures: i64::from(config.web.lockout_after_failures.max(1)),
            lockout_seconds: (config.web.lockout_minutes * 60) as i64,
            login_attempts_per_client: config.web.login_attempts_per_client.max(1),
            rules_dir: config.routing.rules_dir.clone(),
            fallback_department: config.routing.fallback_department.clone(),
            chat: config.chat.enabled.then(|| config.chat.clone()),
            metrics_token: config.web.metrics_token.clone(),
            session_cache: Duration::from_secs(config.cluster.session_cache_seconds.unwrap_or(
                // Several instances share PostgreSQL: a log-out anywhere counts at once.
                if config.database_url().expose().starts_with("sqlite:") {
                    5
                } else {
                    0
                },
            )),
        }
    }
}

/// How long the queue's counts are reused before they are counted again.
const COUNTS_TTL: Duration = Duration::from_secs(5);

/// Queue counts as last counted.
struct CachedCounts {
    counts: Arc<QueueCounts>,
    /// When, for reuse.
    counted: Instant,
    /// When, for the page (unix seconds).
    at_unix: i64,
    /// Something changed since.
    stale: bool,
    /// A background task is counting again.
    refreshing: bool,
}

impl CachedCounts {
    fn fresh(counts: QueueCounts) -> Self {
        Self {
            counts: Arc::new(counts),
            counted: Instant::now(),
            at_unix: crate::store::now(),
            stale: false,
            refreshing: false,
        }
    }
}

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct PanelState(Arc<Panel>);

/// See [`PanelState`].
pub struct Panel {
    triage: Triage,
    views: Views,
    settings: PanelSettings,
    login_limiter: RateLimiter,
    chat: Option<chat::ChatService>,
    reads: reads::ReadLog,
    sessions: auth::SessionCache,
    suggestions: cases::SuggestionCache,
    counts: Mutex<HashMap<String, CachedCounts>>,
}

impl PanelState {
    /// Assembles the panel around the pipeline. Call it inside a tokio runtime: it starts
    /// the background writers of the read audit and of the chat's questions.
    pub fn new(triage: Triage, settings: PanelSettings) -> Self {
        let chat = settings.chat.clone().map(|c| {
            chat::ChatService::new(Arc::clone(triage.classifier()), c, triage.store().clone())
        });
        let reads = reads::ReadLog::start(triage.store().clone());
        Self(Arc::new(Panel {
            reads,
            sessions: auth::SessionCache::new(settings.session_cache),
            suggestions: cases::SuggestionCache::default(),
            login_limiter: RateLimiter::new(
                settings.login_attempts_per_client,
                Duration::from_secs(600),
            ),
            chat,
            triage,
            views: Views::new(),
            settings,
            counts: Mutex::new(HashMap::new()),
        }))
    }

    fn store(&self) -> &Store {
        self.0.triage.store()
    }

    fn triage(&self) -> &Triage {
        &self.0.triage
    }

    fn settings(&self) -> &PanelSettings {
        &self.0.settings
    }

    fn views(&self) -> &Views {
        &self.0.views
    }

    /// The queue's counts for a scope, with the moment they were counted (unix seconds).
    /// Counting scans every case of the scope, so counts are reused: once they are older
    /// than a few seconds (or something changed), one background task counts again while
    /// requests keep getting the last counts. Only the very first request waits.
    async fn queue_counts(
        &self,
        scope: Option<&[String]>,
    ) -> Result<(Arc<QueueCounts>, i64), PanelError> {
        let key = scope.map(|s| s.join(",")).unwrap_or_else(|| "*".into());
        {
            let mut cache = self.0.counts.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = cache.get_mut(&key) {
                if (c.stale || c.counted.elapsed() >= COUNTS_TTL) && !c.refreshing {
                    c.refreshing = true;
                    let state = self.clone();
                    let scope = scope.map(<[String]>::to_vec);
                    let key = key.clone();
                    tokio::spawn(async move {
                        let counted = state.store().queue_counts(scope.as_deref()).await;
                        let mut cache = state.0.counts.lock().unwrap_or_else(|e| e.into_inner());
                        match counted {
                            Ok(counts) => {
                                cache.insert(key, CachedCounts::fresh(counts));
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "counting the queue failed");
                                if let Some(c) = cache.get_mut(&key) {
                                    c.refreshing = false;
                                }
                            }
                        }
                    });
                }
                return Ok((Arc::clone(&c.counts), c.at_unix));
            }
        }
        let fresh = CachedCounts::fresh(self.store().queue_counts(scope).await?);
        let out = (Arc::clone(&fresh.counts), fresh.at_unix);
        self.0
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, fresh);
        Ok(out)
    }

    /// Marks the counts as out of date after a change (they are counted again at the next
    /// look at the queue).
    fn counts_changed(&self) {
        for c in self
            .0
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
        {
            c.stale = true;
        }
    }

    /// Renders a page for a signed-in person (or the log-in page).
    fn page(
        &self,
        template: &'static str,
        ctx: &PageContext<'_>,
        page: impl serde::Serialize,
    ) -> Result<Response, PanelError> {
        let title = self.views().word(ctx.language, ctx.title_key);
        let flash = ctx.notice.done.map(|k| self.views().word(ctx.language, k));
        let error = ctx.notice.error.map(|k| self.views().word(ctx.language, k));
        let frame = Frame {
            title: &title,
            nav: ctx.nav,
            me: ctx.staff.map(|s| Me::of(&s.member)),
            csrf: ctx.csrf,
            flash: flash.as_deref(),
            error: error.as_deref(),
        };
        let html = self.views().render(template, ctx.language, &frame, page)?;
        Ok(Html(html).into_response())
    }

    fn word(&self, language: PanelLanguage, key: &str) -> String {
        self.views().word(language, key)
    }
}

/// A form that carries nothing but the session's token (a button).
#[derive(serde::Deserialize)]
pub(crate) struct TokenForm {
    csrf: String,
}

/// What frames a page.
pub(crate) struct PageContext<'a> {
    language: PanelLanguage,
    staff: Option<&'a Staff>,
    csrf: &'a str,
    title_key: &'static str,
    nav: &'static str,
    notice: Notice,
}

impl<'a> PageContext<'a> {
    fn new(
        language: PanelLanguage,
        staff: &'a Staff,
        title_key: &'static str,
        nav: &'static str,
        notice: Notice,
    ) -> Self {
        Self {
            language,
            staff: Some(staff),
            csrf: &staff.csrf,
            title_key,
            nav,
            notice,
        }
    }
}

/// The reader's language, from the preference cookie.
pub(crate) struct Lang(PanelLanguage);

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(PanelLanguage::from_code(auth::cookie(
            &parts.headers,
            auth::LANGUAGE_COOKIE,
        ))))
    }
}

/// What was just done or went wrong, named by the `done` / `error` query parameters of a
/// redirect. Only known words are shown; nothing from the URL reaches the page.
#[derive(Default, Clone, Copy)]
pub(crate) struct Notice {
    done: Option<&'static str>,
    error: Option<&'static str>,
}

/// The notices a redirect may name (`done=confirm` shows the word `done_confirm`).
const DONE: &[&str] = &[
    "done_confirm",
    "done_reroute",
    "done_reply",
    "done_reply_again",
    "done_note",
    "done_merge",
    "done_register",
    "done_close",
    "done_reopen",
    "done_saved",
    "done_retired",
    "done_retry",
    "done_discard",
    "done_rules_saved",
    "done_rules_reverted",
    "done_hold",
];
/// See [`DONE`] (`error=empty_reply` shows `err_empty_reply`).
const ERRORS: &[&str] = &[
    "err_empty_reply",
    "err_empty_note",
    "err_merge_target",
    "err_unknown_department",
    "err_no_address",
    "err_nothing_to_confirm",
    "err_entry_empty",
    "err_sensitive_entry",
    "err_bad_date",
    "err_login_failed",
    "err_login_locked",
    "err_rate_limited",
    "err_not_sent",
    "err_bad_email",
    "err_not_sure",
];

fn notice_word(list: &[&'static str], prefix: &str, value: &str) -> Option<&'static str> {
    list.iter()
        .find(|k| k.strip_prefix(prefix) == Some(value))
        .copied()
}

impl<S: Send + Sync> FromRequestParts<S> for Notice {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let mut notice = Notice::default();
        for pair in parts.uri.query().unwrap_or("").split('&') {
            match pair.split_once('=') {
                Some(("done", v)) => notice.done = notice_word(DONE, "done_", v),
                Some(("error", v)) => notice.error = notice_word(ERRORS, "err_", v),
                _ => {}
            }
        }
        Ok(notice)
    }
}

/// Who may use a route without a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: log-in, health, static assets, the language switch.
    Public,
    /// Only with a session.
    Session,
}

/// One path of the panel with its methods and who may use it. The router is built from
/// this table, and the security test walks the same table.
pub struct PanelRoute {
    /// The path, with `{parameters}`.
    pub path: &'static str,
    /// The methods it answers.
    pub methods: &'static [Method],
    /// Who may use it.
    pub access: Access,
    handler: MethodRouter<PanelState>,
}

fn route(
    path: &'static str,
    methods: &'static [Method],
    access: Access,
    handler: MethodRouter<PanelState>,
) -> PanelRoute {
    PanelRoute {
        path,
        methods,
        access,
        handler,
    }
}

const GET: &[Method] = &[Method::GET];
const POST: &[Method] = &[Method::POST];
const GET_POST: &[Method] = &[Method::GET, Method::POST];

/// Every route of the panel.
pub fn panel_routes() -> Vec<PanelRoute> {
    use Access::{Public, Session};
    vec![
        route("/healthz", GET, Public, get(|| async { "ok" })),
        route("/readyz", GET, Public, get(ops::ready)),
        route("/metrics", GET, Public, get(ops::metrics)),
        route("/assets/panel.css", GET, Public, get(style_sheet)),
        route("/assets/panel.js", GET, Public, get(script)),
        route("/language", GET, Public, get(login::switch_language)),
        route(
            "/login",
            GET_POST,
            Public,
            get(login::login_page).post(login::log_in),
        ),
        route("/logout", POST, Session, post(login::log_out)),
        route(
            "/logout-everywhere",
            POST,
            Session,
            post(login::log_out_everywhere),
        ),
        route("/", GET, Session, get(cases::queue)),
        route("/search", GET, Session, get(cases::search)),
        route("/cases/{number}", GET, Session, get(cases::case_page)),
        route(
            "/cases/{number}/messages/{message}/attachments/{index}",
            GET,
            Session,
            get(cases::attachment),
        ),
        route(
            "/cases/{number}/confirm",
            POST,
            Session,
            post(cases::confirm),
        ),
        route(
            "/cases/{number}/reroute",
            POST,
            Session,
            post(cases::reroute),
        ),
        route("/cases/{number}/reply", POST, Session, post(cases::reply)),
        route("/cases/{number}/note", POST, Session, post(cases::note)),
        route("/cases/{number}/merge", POST, Session, post(cases::merge)),
        route(
            "/cases/{number}/register",
            POST,
            Session,
            post(cases::register),
        ),
        route("/cases/{number}/close", POST, Session, post(cases::close)),
        route("/cases/{number}/reopen", POST, Session, post(cases::reopen)),
        route(
            "/knowledge",
            GET_POST,
            Session,
            get(knowledge::list).post(knowledge::create),
        ),
        route("/knowledge/new", GET, Session, get(knowledge::new_entry)),
        route(
            "/knowledge/{id}",
            GET_POST,
            Session,
            get(knowledge::edit).post(knowledge::update),
        ),
        route(
            "/knowledge/{id}/retire",
            POST,
            Session,
            post(knowledge::retire),
        ),
        route("/rules", GET, Session, get(rules::overview)),
        route(
            "/rules/{department}",
            GET_POST,
            Session,
            get(rules::rule_file).post(rules::save_rule_file),
        ),
        route(
            "/rules/{department}/revert",
            POST,
            Session,
            post(rules::revert_rule_file),
        ),
        route("/outbox", GET, Session, get(operations::outbox)),
        route("/outbox/{id}/retry", POST, Session, post(operations::retry)),
        route(
            "/outbox/{id}/discard",
            POST,
            Session,
            post(operations::discard),
        ),
        route("/stats", GET, Session, get(stats::page)),
        route("/stats.csv", GET, Session, get(stats::csv)),
        route("/privacy", GET, Session, get(privacy::page)),
        route("/privacy/export", POST, Session, post(privacy::export)),
        route("/privacy/erase", POST, Session, post(privacy::erase)),
        route("/audit", GET, Session, get(privacy::audit)),
        route("/cases/{number}/hold", POST, Session, post(privacy::hold)),
        route("/chat", GET, Public, get(chat::page)),
        route("/chat/chat.css", GET, Public, get(chat::style_sheet)),
        route("/chat/chat.js", GET, Public, get(chat::script)),
        route("/chat/embed.js", GET, Public, get(chat::embed_script)),
        route("/api/chat", POST, Public, post(chat::ask)),
        route("/api/chat/handoff", POST, Public, post(chat::handoff)),
        route("/api/openapi.json", GET, Public, get(chat::openapi)),
    ]
}

/// The panel's router.
pub fn router(state: PanelState) -> Router {
    let mut router = Router::new();
    for r in panel_routes() {
        router = router.route(r.path, r.handler);
    }
    router
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_LIMIT_BYTES))
        .with_state(state)
}

/// The largest form accepted (a rule file or a long reply).
const FORM_LIMIT_BYTES: usize = 512 * 1024;

/// The Content-Security-Policy of every response: only Brevduva's own style sheet and
/// script, no frames, no plugins, forms only to itself.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Refuses cross-site form posts and puts the security headers on every response.
async fn guard(
    axum::extract::State(state): axum::extract::State<PanelState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let chat_page = path == "/chat" || path.starts_with("/chat/");
    let policy = match (&state.0.chat, chat_page) {
        (Some(chat), true) => Some(chat.content_security_policy()),
        _ => None,
    };
    if request.method() != Method::GET
        && request.method() != Method::HEAD
        && !same_site(request.headers())
    {
        return with_security_headers(PanelError::Expired.into_response(), None);
    }
    with_security_headers(next.run(request).await, policy)
}

/// Whether a request that changes something comes from Brevduva's own pages. Browsers
/// say so in `Sec-Fetch-Site`; without it (older browsers, tools), an `Origin` must name
/// this host; a request with neither (not a browser) passes to the session and form-token
/// checks.
fn same_site(headers: &axum::http::HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    match (headers.get(header::ORIGIN), headers.get(header::HOST)) {
        (Some(origin), Some(host)) => {
            let origin = origin.to_str().unwrap_or("");
            let host = host.to_str().unwrap_or("");
            origin.split_once("://").map(|(_, h)| h) == Some(host)
        }
        (Some(_), None) => false,
        _ => true,
    }
}
/// Puts the security headers on a response: the panel's policy, or the chat page's (which
/// may be framed by the municipality's website).
fn with_security_headers(mut response: Response, chat_policy: Option<String>) -> Response {
    let h = response.headers_mut();
    match chat_policy.and_then(|p| HeaderValue::from_str(&p).ok()) {
        Some(policy) => {
            h.insert(header::CONTENT_SECURITY_POLICY, policy);
        }
        None => {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn style_sheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        view::STYLE_SHEET,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        view::SCRIPT,
    )
        .into_response()
}

/// A redirect after a form (303, so the browser reads the page again).
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Serves until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: PanelState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serves the panel of a pipeline until `shutdown` completes (for `run` and `demo`).
pub async fn serve_panel(
    listener: tokio::net::TcpListener,
    triage: Triage,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(
        listener,
        PanelState::new(triage, PanelSettings::from_config(config)),
        shutdown,
    )
    .await
}

/// Text made safe for one path segment or query value (percent-encoded).
fn path_segment(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Escapes text for HTML written by hand (templates escape by themselves).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_must_come_from_the_panels_own_pages() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = axum::http::HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        // What Chromium sends for a form on our page (Origin may be "null" under strict
        // referrer policies); and what it sends for a form on another site.
        assert!(same_site(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "null")
        ])));
        assert!(!same_site(&headers(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example")
        ])));
        assert!(!same_site(&headers(&[("sec-fetch-site", "same-site")])));
        // Without Sec-Fetch-Site the Origin must name this host.
        assert!(same_site(&headers(&[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_site(&headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(!same_site(&headers(&[
            ("origin", "null"),
            ("host", "127.0.0.1:8080")
        ])));
        assert!(
            same_site(&headers(&[])),
            "not a browser: the session and form token decide"
        );
    }

    #[test]
    fn notices_name_only_known_words() {
        assert_eq!(notice_word(DONE, "done_", "confirm"), Some("done_confirm"));
        assert_eq!(notice_word(DONE, "done_", "<script>"), None);
        assert_eq!(
            notice_word(ERRORS, "err_", "empty_reply"),
            Some("err_empty_reply")
        );
    }

    #[test]
    fn every_notice_has_words() {
        let views = Views::new();
        for key in DONE.iter().chain(ERRORS) {
            assert_ne!(views.word(PanelLanguage::Sv, key), *key);
            assert_ne!(views.word(PanelLanguage::En, key), *key);
        }
    }
}
