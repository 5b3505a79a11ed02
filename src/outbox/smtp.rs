//! Sending over SMTP with lettre: implicit TLS (rustls) or STARTTLS, PLAIN/LOGIN or XOAUTH2.
//! Brevduva opens the TCP connection itself (with `TCP_NODELAY`, so small SMTP commands are
//! not held back by Nagle's algorithm) and keeps it open between messages. Temporary
//! failures (4xx, lost connections, timeouts, refused logins) are retried by the outbox;
//! permanent ones (5xx) end as dead letters with the server's answer.

use super::TransportError;
use crate::config::{AuthMethod, Security, SmtpConfig};
use crate::domain::EmailAddress;
use crate::oauth::TokenSource;
use crate::store::OutboxEntry;
use crate::tls::MailStream;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::Auth;
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use std::time::Duration;
use tokio::net::TcpStream;
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
    /// The rustls connector could not be built.
    #[error(transparent)]
    Connector(#[from] crate::tls::TlsError),
}

/// The SMTP transport: one connection, opened on demand and reused.
pub struct SmtpTransport {
    config: SmtpConfig,
    starttls: Option<TlsParameters>,
    implicit_tls: Option<tokio_rustls::TlsConnector>,
    envelope_from: EmailAddress,
    tokens: Option<TokenSource>,
    hello: ClientId,
    connection: Mutex<Option<AsyncSmtpConnection>>,
}

impl std::fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("host", &self.config.host)
            .field("port", &self.config.effective_port())
            .finish()
    }
}

fn temporary(e: impl std::fmt::Display) -> TransportError {
    TransportError::Temporary(e.to_string())
}

/// SASL XOAUTH2. A refused token is not answered at once: the server first sends a 334 with
/// an error status (base64 JSON), the client answers with an empty line, and only then comes
/// the server's 535. lettre's own `auth` answers that 334 with a client error of its own
/// ("this mechanism does not expect a challenge") and loses the server's answer; this follows
/// the protocol, so a refused token is reported as the server's 535.
async fn xoauth2(
    connection: &mut AsyncSmtpConnection,
    credentials: Credentials,
) -> Result<Response, lettre::transport::smtp::Error> {
    if !connection
        .server_info()
        .supports_auth_mechanism(Mechanism::Xoauth2)
    {
        // lettre reports this without sending anything.
        return connection.auth(&[Mechanism::Xoauth2], &credentials).await;
    }
    let response = connection
        .command(Auth::new(Mechanism::Xoauth2, credentials, None)?)
        .await?;
    if response.has_code(334) {
        // The empty response ends the exchange; the server's answer (535) becomes the error.
        return connection.command("\r\n").await;
    }
    Ok(response)
}

impl SmtpTransport {
    /// Prepares the transport; connects nothing yet. `envelope_from` receives bounces.
    pub fn new(config: SmtpConfig, envelope_from: EmailAddress) -> Result<Self, SmtpSetupError> {
        let (starttls, implicit_tls) = match config.security {
            Security::Plain => (None, None),
            Security::Tls => (
                None,
                Some(crate::tls::connector(config.ca_file.as_deref())?),
            ),
            Security::Starttls => {
                let mut builder = TlsParameters::builder(config.host.clone());
                if let Some(ca) = &config.ca_file {
                    let pem = std::fs::read(ca)?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| SmtpSetupError::Tls(e.to_string()))?;
                    // The system roots stay trusted; the file adds a local CA.
                    builder = builder.add_root_certificate(cert);
                }
                (
                    Some(
                        builder
                            .build_rustls()
                            .map_err(|e| SmtpSetupError::Tls(e.to_string()))?,
                    ),
                    None,
                )
            }
        };
        let tokens =
            (config.auth == AuthMethod::Xoauth2).then(|| TokenSource::new(config.oauth.clone()));
        Ok(Self {
            config,
            starttls,
            implicit_tls,
            envelope_from,
            tokens,
            hello: ClientId::default(),
            connection: Mutex::new(None),
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_seconds.max(1))
    }

    async fn with_timeout<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, TransportError> {
        tokio::time::timeout(self.timeout(), f)
            .await
            .map_err(|_| TransportError::Temporary(format!("smtp {what} timed out")))?
            .map_err(|e| TransportError::Temporary(format!("smtp {what}: {e}")))
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, TransportError> {
        let c = &self.config;
        let tcp = self
            .with_timeout(
                "connect",
                TcpStream::connect((c.host.as_str(), c.effective_port())),
            )
            .await?;
        tcp.set_nodelay(true).map_err(temporary)?;
        let stream = match &self.implicit_tls {
            Some(connector) => {
                let name =
                    rustls_pki_types::ServerName::try_from(c.host.clone()).map_err(|_| {
                        TransportError::Permanent(format!("invalid smtp host {:?}", c.host))
                    })?;
                MailStream::Tls(Box::new(
                    self.with_timeout("tls handshake", connector.connect(name, tcp))
                        .await?,
                ))
            }
            None => MailStream::Plain(tcp),
        };
        let mut connection = self
            .with_timeout(
                "greeting",
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello),
            )
            .await?;
        if let Some(parameters) = &self.starttls {
            if !connection.can_starttls() {
                return Err(TransportError::Temporary(
                    "smtp server does not offer STARTTLS".into(),
                ));
            }
            self.with_timeout(
                "starttls",
                connection.starttls(parameters.clone(), &self.hello),
            )
            .await?;
        }
        let mechanisms = match c.auth {
            AuthMethod::None => return Ok(connection),
            AuthMethod::Password => vec![Mechanism::Plain, Mechanism::Login],
            AuthMethod::Xoauth2 => vec![Mechanism::Xoauth2],
        };
        let secret = match &self.tokens {
            Some(tokens) => tokens.token().await.map_err(temporary)?.expose().to_owned(),
            None => c.password.expose().to_owned(),
        };
        let credentials = Credentials::new(c.username.clone(), secret);
        let login = async {
            if c.auth == AuthMethod::Xoauth2 {
                xoauth2(&mut connection, credentials).await
            } else {
                connection.auth(&mechanisms, &credentials).await
            }
        };
        if let Err(e) = self.with_timeout("login", login).await {
            if let Some(tokens) = &self.tokens {
                tokens.invalidate().await;
            }
            return Err(e);
        }
        Ok(connection)
    }

    /// Sends one entry, over the open connection or a new one.
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
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_none_or(|c| c.has_broken()) {
            *slot = Some(self.connect().await?);
        }
        let connection = slot.as_mut().expect("just connected");
        let result =
            tokio::time::timeout(self.timeout(), connection.send(&envelope, &entry.raw)).await;
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => {
                // The session may be mid-transaction; start the next message on a fresh one.
                *slot = None;
                if e.is_permanent() {
                    Err(TransportError::Permanent(e.to_string()))
                } else {
                    Err(TransportError::Temporary(e.to_string()))
                }
            }
            Err(_) => {
                *slot = None;
                Err(TransportError::Temporary("smtp send timed out".into()))
            }
        }
    }
}
