//! Sending over SMTP with lettre: TLS (implicit or STARTTLS) via rustls, password or
//! XOAUTH2, a connection pool. Temporary failures (4xx, lost connections, timeouts) are
//! retried by the outbox; permanent ones (5xx) end as dead letters with the server's answer.

use super::TransportError;
use crate::config::{AuthMethod, Security, SmtpConfig};
use crate::domain::EmailAddress;
use crate::oauth::TokenSource;
use crate::store::OutboxEntry;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::time::Duration;
use tokio::sync::Mutex;

/// Errors while setting up the SMTP transport.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    /// TLS parameters could not be built (for example a bad CA file).
    #[error("smtp tls: {0}")]
    Tls(String),
    /// The CA file could not be read.
    #[error("smtp ca file: {0}")]
    CaFile(#[from] std::io::Error),
}

/// The SMTP transport.
pub struct SmtpTransport {
    config: SmtpConfig,
    tls: Option<TlsParameters>,
    envelope_from: EmailAddress,
    tokens: Option<TokenSource>,
    /// The pooled transport, with the token it was built with.
    current: Mutex<Option<(String, AsyncSmtpTransport<Tokio1Executor>)>>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("host", &self.config.host)
            .field("port", &self.config.effective_port())
            .finish()
    }
}

impl SmtpTransport {
    /// Prepares the transport; connects nothing yet. `envelope_from` receives bounces.
    pub fn new(config: SmtpConfig, envelope_from: EmailAddress) -> Result<Self, SmtpSetupError> {
        let tls = match config.security {
            Security::Plain => None,
            _ => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(ca) = &config.ca_file {
                    let pem = std::fs::read(ca)?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
                    builder = builder
                        .certificate_store(CertificateStore::None)
                        .add_root_certificate(cert);
                }
                Some(
                    builder
                        .build_rustls()
                        .map_err(|e| SmtpSetupError::Tls(e.to_string()))?,
                )
            }
        };
        let tokens =
            (config.auth == AuthMethod::Xoauth2).then(|| TokenSource::new(config.oauth.clone()));
        Ok(Self {
            config,
            tls,
            envelope_from,
            tokens,
            current: Mutex::new(None),
        })
    }

    fn build(&self, secret: &str) -> AsyncSmtpTransport<Tokio1Executor> {
        let c = &self.config;
        let tls = match (&self.tls, c.security) {
            (Some(p), Security::Tls) => Tls::Wrapper(p.clone()),
            (Some(p), Security::Starttls) => Tls::Required(p.clone()),
            _ => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.as_str())
            .port(c.effective_port())
            .tls(tls)
            .timeout(Some(Duration::from_secs(c.timeout_seconds)))
            .pool_config(PoolConfig::new().max_size(c.pool_size.max(1)));
        match c.auth {
            AuthMethod::None => {}
            AuthMethod::Password => {
                builder = builder
                    .credentials(Credentials::new(c.username.clone(), secret.to_owned()))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
            AuthMethod::Xoauth2 => {
                builder = builder
                    .credentials(Credentials::new(c.username.clone(), secret.to_owned()))
                    .authentication(vec![Mechanism::Xoauth2]);
            }
        }
        builder.build()
    }

    async fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
        let secret = match &self.tokens {
            Some(tokens) => tokens
                .token()
                .await
                .map_err(|e| TransportError::Temporary(e.to_string()))?
                .expose()
                .to_owned(),
            None => self.config.password.expose().to_owned(),
        };
        let mut current = self.current.lock().await;
        match current.as_ref() {
            Some((used, transport)) if *used == secret => Ok(transport.clone()),
            _ => {
                let transport = self.build(&secret);
                *current = Some((secret, transport.clone()));
                Ok(transport)
            }
        }
    }

    /// Sends one entry.
    pub async fn send(&self, entry: &OutboxEntry) -> Result<(), TransportError> {
        let to = entry.recipient.parse().map_err(|_| {
            TransportError::Permanent(format!("invalid recipient in outbox entry {}", entry.id))
        })?;
        let from = self
            .envelope_from
            .as_str()
            .parse()
            .map_err(|_| TransportError::Permanent("invalid envelope sender".into()))?;
        let envelope = Envelope::new(Some(from), vec![to])
            .map_err(|e| TransportError::Permanent(e.to_string()))?;
        let transport = self.transport().await?;
        match transport.send_raw(&envelope, &entry.raw).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => {
                if self.tokens.is_some()
                    && e.status().is_some_and(|c| c.to_string().starts_with("535"))
                {
                    if let Some(tokens) = &self.tokens {
                        tokens.invalidate().await;
                    }
                    return Err(TransportError::Temporary(format!(
                        "authentication refused: {e}"
                    )));
                }
                Err(TransportError::Permanent(e.to_string()))
            }
            Err(e) => Err(TransportError::Temporary(e.to_string())),
        }
    }
}
