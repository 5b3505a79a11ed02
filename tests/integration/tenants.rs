//! Several municipalities on one installation: each tenant has its own database, users,
//! cases and statistics, and a user of one tenant gets nothing of another's on any route.

use crate::panel::{location, sample_path, text};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use brevduva::app::{build_tenants, Application};
use brevduva::config::Config;
use brevduva::domain::{CaseNumber, Role};
use brevduva::store::NewUser;
use brevduva::triage::Outcome;
use brevduva::web::{
    panel_routes, tenant_router, token_hash, Access, PanelSettings, PanelState, TenantPanel,
};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

/// A case from a mail, with its number.
async fn case(app: &Application, i: usize, subject: &str, text: &str) -> CaseNumber {
    let raw = format!(
        "From: Medborgare <medborgare{i}@example.se>\r\nTo: kontaktcenter@kommun.example\r\nSubject: {subject}\r\n\
         Message-ID: <tenant{i}@example.se>\r\nDate: Fri, 27 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    );
    match app.triage.process(raw.into_bytes(), "test").await.unwrap() {
        Outcome::NewCase { number, .. } => number,
        other => panic!("expected a new case, got {other:?}"),
    }
}

/// An admin of one tenant with an open session; returns the session cookie and form token.
async fn admin(app: &Application, name: &str) -> (String, String) {
    let store = app.store();
    let user = store
        .create_user(&NewUser {
            username: name.into(),
            display_name: name.into(),
            role: Role::Admin,
            departments: vec![],
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$unused".into(),
        })
        .await
        .unwrap()
        .unwrap();
    let token: String = format!("{name:a<64}").chars().take(64).collect();
    let csrf = format!("{name:c<43}");
    store
        .open_session(user, &token_hash(&token), &csrf, 3600)
        .await
        .unwrap();
    (format!("brevduva_session={token}"), csrf)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenants_user_gets_nothing_of_another_tenant_on_any_route() {
    let dir = tempfile::tempdir().unwrap();
    for (name, municipality) in [("falun", "Falu kommun"), ("borlange", "Borlänge kommun")] {
        write(
            &dir.path().join(format!("{name}.toml")),
            &format!(
                "[municipality]\nname = \"{municipality}\"\n[storage]\ndata_dir = \"{name}-data\"\n\
                 [maildir]\nenabled = false\n"
            ),
        );
    }
    write(
        &dir.path().join("brevduva.toml"),
        "[[tenants]]\nname = \"falun\"\nhosts = [\"brevduva.falun.example\"]\nconfig = \"falun.toml\"\n\
         [[tenants]]\nname = \"borlange\"\nhosts = [\"brevduva.borlange.example\", \"kc.borlange.example\"]\nconfig = \"borlange.toml\"\n",
    );
    let config = Config::load(Some(&dir.path().join("brevduva.toml")), []).unwrap();
    let tenants = build_tenants(&config).await.unwrap();
    let (falun, borlange): (Arc<Application>, Arc<Application>) =
        (Arc::clone(&tenants[0].1), Arc::clone(&tenants[1].1));
    let falun_case = case(
        &falun,
        1,
        "Bygglov för altan i Falun",
        "Behöver jag bygglov för en altan?",
    )
    .await;
    let borlange_case = case(
        &borlange,
        2,
        "Soptunnan i Borlänge",
        "Soptunnan har inte tömts på två veckor.",
    )
    .await;
    // Each tenant numbers its own cases: the same number means different cases.
    assert_eq!(falun_case, borlange_case);
    let (falun_cookie, falun_csrf) = admin(&falun, "falun.admin").await;
    let (borlange_cookie, _) = admin(&borlange, "borlange.admin").await;
    let router = tenant_router(
        tenants
            .iter()
            .map(|(t, app)| TenantPanel {
                hosts: t.hosts.clone(),
                state: PanelState::new(app.triage.clone(), PanelSettings::from_config(&app.config)),
            })
            .collect(),
    );
    let send = |host: &str, method: Method, path: &str, cookie: Option<&str>| {
        let mut r = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(header::HOST, host);
        if let Some(c) = cookie {
            r = r.header(header::COOKIE, c);
        }
        if method == Method::POST {
            r = r
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "same-origin");
        }
        let body = Body::from(format!("csrf={falun_csrf}"));
        router.clone().oneshot(r.body(body).unwrap())
    };

    // At home, the session works and shows the tenant's own case.
    let page = text(
        send(
            "brevduva.falun.example",
            Method::GET,
            "/",
            Some(&falun_cookie),
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(page.contains("Bygglov för altan i Falun"), "{page}");
    assert!(
        !page.contains("Borlänge"),
        "no other tenant's case in the queue"
    );

    // Next door, every route that needs a session treats it as no session at all, with
    // the right form token and a same-origin request.
    let mut checked = 0;
    for route in panel_routes() {
        for method in route.methods {
            let path = sample_path(route.path, falun_case);
            let response = send(
                "kc.borlange.example:8443",
                method.clone(),
                &path,
                Some(&falun_cookie),
            )
            .await
            .unwrap();
            if route.access == Access::Public {
                continue;
            }
            checked += 1;
            if *method == Method::GET {
                assert_eq!(response.status(), StatusCode::SEE_OTHER, "{method} {path}");
                assert_eq!(location(&response), "/login", "{method} {path}");
            } else {
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path}"
                );
            }
        }
    }
    assert!(checked >= 28, "checked {checked} route/method pairs");

    // A tenant's own admin sees only that tenant's case under a shared number, and only
    // that tenant's figures.
    let host = "brevduva.borlange.example";
    let page = text(
        send(
            host,
            Method::GET,
            &format!("/cases/{borlange_case}"),
            Some(&borlange_cookie),
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(
        page.contains("Soptunnan i Borlänge") && !page.contains("Falun"),
        "{page}"
    );
    for path in [
        "/",
        "/search?q=altan",
        "/stats",
        "/audit",
        "/knowledge?q=altan",
        "/outbox",
    ] {
        let response = send(host, Method::GET, path, Some(&borlange_cookie))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let page = text(response).await;
        assert!(
            !page.contains("altan i Falun") && !page.contains("Falu kommun"),
            "{path} shows another tenant: {page}"
        );
    }
    let csv = text(
        send(host, Method::GET, "/stats.csv", Some(&borlange_cookie))
            .await
            .unwrap(),
    )
    .await;
    assert!(!csv.contains("bygg-miljo,1"), "{csv}");
    // ...while Falun's own figures count it (so the line above looks for something real).
    let own = text(
        send(
            "brevduva.falun.example",
            Method::GET,
            "/stats.csv",
            Some(&falun_cookie),
        )
        .await
        .unwrap(),
    )
    .await;
    assert!(own.contains("bygg-miljo,1"), "{own}");

    // Public routes answer per tenant too; hosts of no tenant get nothing.
    for host in ["brevduva.falun.example", "kc.borlange.example"] {
        let response = send(host, Method::GET, "/healthz", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    for host in [
        "evil.example",
        "127.0.0.1",
        "brevduva.falun.example.evil.example",
    ] {
        let response = send(host, Method::GET, "/login", None).await.unwrap();
        assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST, "{host}");
    }
    let no_host = Request::get("/login").body(Body::empty()).unwrap();
    let response = router.clone().oneshot(no_host).await.unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);
}

#[tokio::test]
async fn tenants_may_not_share_a_database_or_name_nested_tenants() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        write(
            &dir.path().join(format!("{name}.toml")),
            "[storage]\ndata_dir = \"shared-data\"\n[maildir]\nenabled = false\n",
        );
    }
    write(
        &dir.path().join("brevduva.toml"),
        "[[tenants]]\nname = \"a\"\nhosts = [\"a.example\"]\nconfig = \"a.toml\"\n\
         [[tenants]]\nname = \"b\"\nhosts = [\"b.example\"]\nconfig = \"b.toml\"\n",
    );
    let config = Config::load(Some(&dir.path().join("brevduva.toml")), []).unwrap();
    let error = build_tenants(&config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(error.contains("share a database"), "{error}");

    // Two tenants on one host name, and a bad name, are configuration errors.
    write(
        &dir.path().join("bad.toml"),
        "[[tenants]]\nname = \"a b\"\nhosts = [\"x.example\"]\nconfig = \"a.toml\"\n\
         [[tenants]]\nname = \"c\"\nhosts = [\"X.example\"]\nconfig = \"b.toml\"\n",
    );
    let problems = Config::load(Some(&dir.path().join("bad.toml")), [])
        .unwrap_err()
        .to_string();
    assert!(problems.contains("belongs to two tenants"), "{problems}");
    assert!(problems.contains("\"a b\""), "{problems}");
}
