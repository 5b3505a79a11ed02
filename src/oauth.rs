//! OAuth 2.0 access tokens for SASL XOAUTH2 (Microsoft 365, Google Workspace): from a
//! configured command, or from a token endpoint with the client-credentials grant. Tokens
//! are cached until shortly before they expire. Only the configured endpoint is contacted.

use crate::config::{OAuthConfig, Secret};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Mutex;

/// Errors while getting a token.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The token command failed.
    #[error("token command: {0}")]
    Command(String),
    /// The token endpoint failed or answered something else than a token.
    #[error("token endpoint: {0}")]
    Endpoint(String),
}

/// Where tokens come from, with the current one cached.
#[derive(Debug)]
pub struct TokenSource {
    config: OAuthConfig,
    cached: Mutex<Option<(Secret, Instant)>>,
}

/// Tokens are renewed this long before they expire.
const MARGIN: Duration = Duration::from_secs(120);

impl TokenSource {
    /// A token source for a configuration.
    pub fn new(config: OAuthConfig) -> Self {
        Self {
            config,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token.
    pub async fn token(&self) -> Result<Secret, OAuthError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, valid_until)) = cached.as_ref() {
            if Instant::now() + MARGIN < *valid_until {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = if self.config.token_command.is_empty() {
            self.ask_endpoint().await?
        } else {
            self.run_command().await?
        };
        *cached = Some((token.clone(), Instant::now() + lifetime));
        Ok(token)
    }

    /// Forgets the cached token (after the server refused it).
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn run_command(&self) -> Result<(Secret, Duration), OAuthError> {
        let (program, args) = self
            .config
            .token_command
            .split_first()
            .ok_or_else(|| OAuthError::Command("empty command".into()))?;
        let output = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| OAuthError::Command(format!("cannot run {program}: {e}")))?;
        if !output.status.success() {
            return Err(OAuthError::Command(format!(
                "{program} exited with {}",
                output.status
            )));
        }
        let token = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(OAuthError::Command(format!(
                "{program} printed no single token"
            )));
        }
        // A command gives no lifetime; ask again after five minutes.
        Ok((Secret::new(token), Duration::from_secs(300) + MARGIN))
    }

    async fn ask_endpoint(&self) -> Result<(Secret, Duration), OAuthError> {
        let c = &self.config;
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.client_id),
            ("client_secret", c.client_secret.expose()),
            ("scope", &c.scope),
        ]);
        let response = post_form(&c.token_url, &body).await?;
        let json: serde_json::Value = serde_json::from_str(&response)
            .map_err(|_| OAuthError::Endpoint("answer is not JSON".into()))?;
        let token = json["access_token"].as_str().ok_or_else(|| {
            OAuthError::Endpoint(format!(
                "no access_token (error: {})",
                json["error"].as_str().unwrap_or("none")
            ))
        })?;
        let lifetime = json["expires_in"].as_u64().unwrap_or(3600);
        Ok((Secret::new(token), Duration::from_secs(lifetime)))
    }
}

/// The SASL XOAUTH2 initial response: `user=U^Aauth=Bearer T^A^A`.
pub fn xoauth2_response(user: &str, token: &Secret) -> String {
    format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose())
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A minimal HTTP/1.1 POST of a form, over TLS for `https://` (plain `http://` only for tests
/// on this machine). Returns the body of a 200 answer.
async fn post_form(url: &str, body: &str) -> Result<String, OAuthError> {
    let err = |m: String| OAuthError::Endpoint(m);
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(err("token_url must start with https://".into()));
    };
    let (authority, path) = rest
        .split_once('/')
        .map(|(a, p)| (a, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (
            h.to_owned(),
            p.parse::<u16>()
                .map_err(|_| err("bad port in token_url".into()))?,
        ),
        None => (authority.to_owned(), if https { 443 } else { 80 }),
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let tcp = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| err("connection timed out".into()))?
    .map_err(|e| err(format!("cannot connect: {e}")))?;
    let mut raw = Vec::new();
    let exchange = async {
        // One stream type for both schemes, so the exchange is written once.
        let mut stream = if https {
            let connector = crate::tls::connector(None).map_err(|e| err(e.to_string()))?;
            let name = rustls_pki_types::ServerName::try_from(host.clone())
                .map_err(|_| err("bad host name".into()))?;
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| err(format!("tls: {e}")))?;
            crate::tls::MailStream::Tls(Box::new(tls))
        } else {
            crate::tls::MailStream::Plain(tcp)
        };
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| err(e.to_string()))?;
        stream
            .read_to_end(&mut raw)
            .await
            .map_err(|e| err(e.to_string()))?;
        Ok::<_, OAuthError>(())
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| err("timed out".into()))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| err("malformed answer".into()))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(err("chunked answers are not supported".into()));
    }
    if status != "200" {
        return Err(err(format!("answered {status}")));
    }
    Ok(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoauth2_response_has_the_sasl_shape() {
        assert_eq!(
            xoauth2_response("kc@kommun.se", &Secret::new("tok")),
            "user=kc@kommun.se\x01auth=Bearer tok\x01\x01"
        );
        assert_eq!(percent_encode("a b&c=ö"), "a%20b%26c%3D%C3%B6");
    }

    #[tokio::test]
    async fn tokens_come_from_a_command_and_are_cached() {
        let source = TokenSource::new(OAuthConfig {
            token_command: vec!["echo".into(), "abc123".into()],
            ..Default::default()
        });
        assert_eq!(source.token().await.unwrap().expose(), "abc123");
        assert_eq!(source.token().await.unwrap().expose(), "abc123");
        let failing = TokenSource::new(OAuthConfig {
            token_command: vec!["false".into()],
            ..Default::default()
        });
        assert!(failing.token().await.is_err());
    }

    /// Microsoft 365's token endpoint cannot exist here, so this test stands up a local
    /// stand-in that answers the client-credentials grant the way it documents.
    #[tokio::test]
    async fn tokens_come_from_a_client_credentials_endpoint() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            let body =
                r#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJ0eXAi.token"}"#;
            let answer = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            socket.write_all(answer.as_bytes()).await.unwrap();
            request
        });
        let source = TokenSource::new(OAuthConfig {
            token_url: format!("http://127.0.0.1:{port}/tenant/oauth2/v2.0/token"),
            client_id: "app".into(),
            client_secret: Secret::new("s3cret"),
            scope: "https://outlook.office365.com/.default".into(),
            ..Default::default()
        });
        assert_eq!(source.token().await.unwrap().expose(), "eyJ0eXAi.token");
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /tenant/oauth2/v2.0/token HTTP/1.1"));
        assert!(request.contains("grant_type=client_credentials"));
        assert!(request.contains("scope=https%3A%2F%2Foutlook.office365.com%2F.default"));
    }
}
