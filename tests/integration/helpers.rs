//! Shared set-up: configurations in temporary folders, generated citizen mails, databases.

use brevduva::app::Application;
use brevduva::config::{Config, Secret};
use std::path::{Path, PathBuf};

/// The shared folder beside the repository (`../shared`).
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// A configuration with everything inside `dir`, on SQLite unless a URL is given.
pub fn config(dir: &Path, database_url: Option<&str>) -> Config {
    let mut config = Config::default();
    config.storage.data_dir = dir.to_owned();
    if let Some(url) = database_url {
        config.storage.database_url = Secret::new(url);
    }
    config
}

/// Builds an application in `dir`.
pub async fn app(dir: &Path, database_url: Option<&str>) -> Application {
    Application::build(config(dir, database_url))
        .await
        .expect("application builds")
}

const TOPICS: &[&str] = &[
    "Hej! Jag undrar när soptunnan töms på vår gata, den har inte tömts på två veckor.",
    "Vi vill bygga ett uterum och undrar om vi behöver bygglov för det.",
    "Gatlampan utanför vårt hus har varit trasig i en månad, kan ni laga den?",
    "Hur ansöker jag om plats i förskolan för min son som fyller ett år?",
    "Jag har fått en faktura med fel belopp och vill ha en ny.",
    "Finns det lediga sommarjobb för ungdomar i kommunen i år?",
    "När har biblioteket öppet under jullovet?",
    "Min pappa behöver hemtjänst, hur ansöker vi?",
];

/// A realistic citizen mail with a unique Message-ID.
pub fn citizen_mail(i: usize) -> Vec<u8> {
    let text = TOPICS[i % TOPICS.len()];
    format!(
        "From: Medborgare {i} <medborgare{i}@example.se>\r\nTo: kontaktcenter@kommun.example\r\n\
         Subject: Fråga nummer {i}\r\nMessage-ID: <m{i}.test@example.se>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\r\nMed vänlig hälsning\r\nMedborgare {i}\r\n"
    )
    .into_bytes()
}

/// A fresh PostgreSQL database on the test cluster, or a panic that says how to get one.
pub async fn postgres_database() -> String {
    let admin = std::env::var("BREVDUVA_TEST_POSTGRES_URL").expect(
        "BREVDUVA_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts a PostgreSQL cluster",
    );
    sqlx::any::install_default_drivers();
    let name = format!("brevduva_test_{}_{}", std::process::id(), rand_suffix());
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    );
    h.finish() % 1_000_000_000
}

/// Counts rows with a query returning one number.
pub async fn count(app: &Application, sql: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(app.store().pool())
        .await
        .expect(sql)
}
