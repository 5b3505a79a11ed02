//! The configuration that points Brevduva at an IMAP and an SMTP server on this machine
//! (plain connections, user `kc`), shared by the mail tests and the mail benchmark.

use brevduva::config::{AuthMethod, Config, ImapAccountConfig, Secret, Security, SmtpConfig};
use std::path::Path;

/// Data in `dir`, no Maildir, INBOX of `kc` on 127.0.0.1:`imap_port`, sending to 127.0.0.1:`smtp_port`.
pub fn local_mail_config(dir: &Path, imap_port: u16, smtp_port: u16) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_owned();
    config.maildir.enabled = false;
    config.imap = vec![ImapAccountConfig {
        name: "kc".into(),
        host: "127.0.0.1".into(),
        port: imap_port,
        security: Security::Plain,
        username: "kc".into(),
        password: Secret::new("secret"),
        batch_size: 100,
        ..Default::default()
    }];
    config.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp_port,
        security: Security::Plain,
        auth: AuthMethod::None,
        timeout_seconds: 10,
        ..Default::default()
    });
    config
}
