//! The OpenAPI document is generated from the code and lists every API route.

use crate::harness::{Db, TestServer};
use bposhield_server::routes::table;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_route_is_documented() {
    let Some(s) = TestServer::start(Db::Sqlite, "openapi").await else { return };
    let doc: Value = s.client.get(format!("{}/api/openapi.json", s.base)).send().await.unwrap().json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut missing = Vec::new();
    let mut api_routes = 0;
    for r in table(s.state.clone()) {
        let documented_kind = r.path.starts_with("/api/") || ["/healthz", "/readyz", "/metrics"].contains(&r.path);
        if !documented_kind {
            continue;
        }
        api_routes += 1;
        let method = r.method.as_str().to_lowercase();
        if paths.get(r.path).and_then(|p| p.get(&method)).is_none() {
            missing.push(format!("{} {}", r.method, r.path));
        }
    }
    assert!(missing.is_empty(), "routes missing from /api/openapi.json: {missing:?}");
    // And nothing documented that does not exist.
    let documented: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(documented, api_routes);
    s.stop().await;
}
