//! Logging in and out, and the language switch.

use super::auth::{
    self, client_address, cookie, decoy_hash, random_token, same_secret, set_cookie, token_hash,
    verify_password, Staff, LANGUAGE_COOKIE, LOGIN_COOKIE, SESSION_COOKIE,
};
use super::{
    see_other, Lang, Notice, PageContext, PanelError, PanelLanguage, PanelState, TokenForm,
};
use axum::extract::{Form, Query, State};
use axum::http::{header, Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Instant;

/// The log-in page, with a fresh form token in a cookie of its own.
pub(super) async fn login_page(
    State(state): State<PanelState>,
    Lang(language): Lang,
    notice: Notice,
    headers: HeaderMap,
) -> Result<Response, PanelError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        if state.store().session(&token_hash(token)).await?.is_some() {
            return Ok(see_other("/"));
        }
    }
    let form_token = random_token();
    let ctx = PageContext {
        language,
        staff: None,
        csrf: &form_token,
        title_key: "login_title",
        nav: "login",
        notice,
    };
    let mut response = state.page("login.html", &ctx, ())?;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &form_token,
            state.settings().secure_cookies,
            None,
        ),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    csrf: String,
    username: String,
    password: String,
}

/// Checks a log-in: the form token, the client's attempts, the account's lock, then the
/// password (off the runtime). Opens a session and sets its cookie.
pub(super) async fn log_in(
    State(state): State<PanelState>,
    headers: HeaderMap,
    extensions: Extensions,
    Form(form): Form<LoginForm>,
) -> Result<Response, PanelError> {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if expected.is_empty() || !same_secret(&form.csrf, expected) {
        return Err(PanelError::Expired);
    }
    let client = client_address(&extensions);
    if !state.0.login_limiter.allow(client, Instant::now()) {
        tracing::warn!("log-in attempts limited for a client address");
        return Ok(see_other("/login?error=rate_limited"));
    }
    let username = form.username.trim().to_owned();
    let account = if username.is_empty() || username.len() > 100 {
        None
    } else {
        state.store().account(&username).await?
    };
    let now = crate::store::now();
    if let Some(a) = &account {
        if a.locked_until.is_some_and(|until| until > now) {
            state
                .store()
                .audit(&a.member.username, "login-locked", None, "")
                .await?;
            return Ok(see_other("/login?error=login_locked"));
        }
    }
    let stored = account
        .as_ref()
        .filter(|a| !a.disabled)
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| decoy_hash().to_owned());
    let password = form.password;
    let matches = tokio::task::spawn_blocking(move || verify_password(&stored, &password)).await?;
    let account = match account {
        Some(a) if matches && !a.disabled => a,
        Some(a) => {
            let locked = state
                .store()
                .login_failed(
                    a.member.id,
                    state.settings().lockout_after_failures,
                    state.settings().lockout_seconds,
                )
                .await?;
            state
                .store()
                .audit(&a.member.username, "login-failed", None, "")
                .await?;
            let error = if locked {
                "login_locked"
            } else {
                "login_failed"
            };
            return Ok(see_other(&format!("/login?error={error}")));
        }
        None => return Ok(see_other("/login?error=login_failed")),
    };
    let token = random_token();
    state
        .store()
        .open_session(
            account.member.id,
            &token_hash(&token),
            &random_token(),
            state.settings().session_idle_seconds,
        )
        .await?;
    state
        .store()
        .audit(&account.member.username, "login", None, "")
        .await?;
    let secure = state.settings().secure_cookies;
    let mut response = see_other("/");
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, secure, None),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, "", secure, Some(0)),
    );
    Ok(response)
}

/// Ends this session.
pub(super) async fn log_out(
    State(state): State<PanelState>,
    staff: Staff,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    state.store().close_session(&staff.token_hash).await?;
    state.0.sessions.forget(&staff.token_hash);
    state
        .store()
        .audit(&staff.member.username, "logout", None, "")
        .await?;
    Ok(signed_out(&state))
}

/// Ends every session of this person, on every device.
pub(super) async fn log_out_everywhere(
    State(state): State<PanelState>,
    staff: Staff,
    Form(form): Form<TokenForm>,
) -> Result<Response, PanelError> {
    staff.check_form(&form.csrf)?;
    let n = state.store().close_all_sessions(staff.member.id).await?;
    state.0.sessions.forget_user(staff.member.id);
    state
        .store()
        .audit(
            &staff.member.username,
            "logout-everywhere",
            None,
            &n.to_string(),
        )
        .await?;
    Ok(signed_out(&state))
}

fn signed_out(state: &PanelState) -> Response {
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", state.settings().secure_cookies, Some(0)),
    );
    response
}

#[derive(Deserialize)]
pub(super) struct LanguageChoice {
    to: String,
}

/// Remembers the reader's language for a year and goes to the queue (a preference, not
/// a tracker: it holds `sv` or `en` only).
pub(super) async fn switch_language(
    State(state): State<PanelState>,
    Query(choice): Query<LanguageChoice>,
) -> Response {
    let language = PanelLanguage::from_code(Some(choice.to.as_str()));
    let mut response = see_other("/");
    response.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(
            LANGUAGE_COOKIE,
            language.code(),
            state.settings().secure_cookies,
            Some(365 * 86_400),
        ),
    );
    response.into_response()
}
