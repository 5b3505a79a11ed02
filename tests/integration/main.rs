//! Integration tests: one binary, real SQLite files, a real PostgreSQL cluster (started by
//! `scripts/test.sh`, URL in `BREVDUVA_TEST_POSTGRES_URL`), and the real `brevduva` binary.

mod helpers;
mod local_mail;
mod servers;

mod browser;
mod chat;
mod chat_browser;
mod cli;
mod cluster;
mod corpus;
mod crash;
mod decisions;
mod flags;
mod golden;
mod logs;
mod mail;
mod mail_auth;
mod panel;
mod privacy;
mod replies;
mod storage;
mod tenants;
