//! Several municipalities on one installation: each request goes to the panel and chat of
//! the tenant its `Host` header names, with that tenant's own database, users, sessions,
//! knowledge base and statistics. A request for any other host is refused. Tenants share
//! the process and nothing else: a session token means something only in the database of
//! the tenant that issued it.

use super::{router, PanelState};
use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// One tenant's panel and the host names it answers on.
pub struct TenantPanel {
    /// Host names (without port), any case.
    pub hosts: Vec<String>,
    /// The tenant's panel.
    pub state: PanelState,
}

/// The host a request is for: the `Host` header without port, in lower case.
pub fn request_host(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [IPv6]:port
        &host[..rest.find(']')? + 2]
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}

/// One router that sends every request to its tenant's panel by host name.
pub fn tenant_router(tenants: Vec<TenantPanel>) -> Router {
    let mut by_host = HashMap::new();
    for tenant in tenants {
        let panel = router(tenant.state);
        for host in tenant.hosts {
            by_host.insert(host.to_ascii_lowercase(), panel.clone());
        }
    }
    let by_host = Arc::new(by_host);
    Router::new().fallback(move |request: Request| {
        let by_host = Arc::clone(&by_host);
        async move {
            let panel = request_host(request.headers()).and_then(|h| by_host.get(&h).cloned());
            match panel {
                Some(panel) => panel.oneshot(request).await.into_response(),
                None => misdirected(),
            }
        }
    })
}

fn misdirected() -> Response {
    (
        StatusCode::MISDIRECTED_REQUEST,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ],
        "Okänd adress för den här installationen. / Unknown host for this installation.\n",
    )
        .into_response()
}

/// Serves every tenant's panel until `shutdown` completes.
pub async fn serve_tenants(
    listener: tokio::net::TcpListener,
    tenants: Vec<TenantPanel>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        tenant_router(tenants).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value.parse().unwrap());
        request_host(&headers)
    }

    #[test]
    fn the_host_is_read_without_port_in_lower_case() {
        assert_eq!(
            host("Brevduva.Falun.se").as_deref(),
            Some("brevduva.falun.se")
        );
        assert_eq!(
            host("brevduva.falun.se:8443").as_deref(),
            Some("brevduva.falun.se")
        );
        assert_eq!(host("127.0.0.1:8080").as_deref(), Some("127.0.0.1"));
        assert_eq!(host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host(":80"), None);
        assert_eq!(request_host(&HeaderMap::new()), None);
    }
}
