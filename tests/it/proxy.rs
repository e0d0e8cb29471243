//! Behind a real nginx: from a trusted proxy the stored client address, the URLs hookbin shows
//! and the token rules follow what the proxy saw; from anyone else `X-Forwarded-*` headers are
//! only captured headers.

use hookbin::model::BinId;
use hookbin::web::forwarded::parse_cidr;
use hyper::StatusCode;

use crate::support::nginx::Nginx;
use crate::support::{Req, TestServer, send};

const TOKEN: &str = "proxy-test-token-0123456789";

fn authed(method: &str, path: &str) -> Req {
    Req::new(method, path).header("authorization", format!("Bearer {TOKEN}"))
}

async fn remote_of(addr: std::net::SocketAddr, bin: &str) -> Vec<(String, serde_json::Value)> {
    let r = send(addr, authed("GET", &format!("/api/bins/{bin}/requests"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json()["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            (
                q["remote_addr"].as_str().unwrap().to_owned(),
                q["headers"].clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_client_address_comes_from_a_trusted_proxy_only() {
    let s = TestServer::start_with(|c| {
        c.trusted_proxies = vec![parse_cidr("127.0.0.2").unwrap()];
        c.token = Some(TOKEN.into());
        c.bins = vec![BinId::parse("prox").unwrap()];
    })
    .await;
    let Some(nginx) = Nginx::start(s.addr, "hooks.example.test").await else {
        return;
    };
    // Through nginx, with a forged first hop: the address nginx saw wins.
    let r = send(
        nginx.addr,
        Req::new("POST", "/b/prox/via-nginx")
            .header("x-forwarded-for", "203.0.113.9")
            .body("hello"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    // Straight to hookbin from a peer that is no proxy: the header is just a header.
    let r = send(
        s.addr,
        Req::new("POST", "/b/prox/direct").header("x-forwarded-for", "203.0.113.9"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let got = remote_of(s.addr, "prox").await;
    let (direct, direct_headers) = &got[0];
    let (proxied, _) = &got[1];
    assert_eq!(proxied, "127.0.0.1", "the client as nginx saw it");
    assert!(direct.starts_with("127.0.0.1:"), "{direct}");
    assert!(
        direct_headers.to_string().contains("203.0.113.9"),
        "kept as a captured header: {direct_headers}"
    );

    // URLs shown through the proxy use the scheme and host the client used.
    let r = send(nginx.addr, authed("GET", "/api/bins/prox")).await;
    assert_eq!(r.json()["url"], "https://hooks.example.test/b/prox");
    let r = send(s.addr, authed("GET", "/api/bins/prox")).await;
    assert_eq!(r.json()["url"], format!("http://{}/b/prox", s.addr));
    // And the admin side behind the proxy needs the token.
    let r = send(nginx.addr, Req::new("GET", "/api/bins")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_untrusted_proxy_is_only_a_peer() {
    let s = TestServer::start_with(|c| c.bins = vec![BinId::parse("plain").unwrap()]).await;
    let Some(nginx) = Nginx::start(s.addr, "hooks.example.test").await else {
        return;
    };
    let r = send(nginx.addr, Req::new("PUT", "/b/plain/x").body("y")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = send(s.addr, Req::new("GET", "/api/bins/plain/requests")).await;
    let req = &r.json()["requests"][0];
    assert!(
        req["remote_addr"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.2:"),
        "{req}"
    );
    let headers = req["headers"].to_string();
    assert!(
        headers.contains("x-forwarded-for") && headers.contains("x-forwarded-proto"),
        "{headers}"
    );
}
