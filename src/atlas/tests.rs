//! The client against a minimal scripted HTTP server on loopback: what goes on the wire
//! (media types, credentials), token caching, Digest handshakes and rate limiting. The
//! full status walk is the integration tests' fake Atlas (`tests/it/support/atlas.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use md5::{Digest, Md5};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    at: Instant,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer: status, extra headers, body.
type Reply = (u16, Vec<(&'static str, String)>, String);

/// A server that answers with `handler` and remembers every request.
struct Server {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut reader = BufReader::new(read);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let method = parts.next().unwrap_or_default().to_owned();
                        let target = parts.next().unwrap_or_default().to_owned();
                        let mut headers = Vec::new();
                        loop {
                            let mut header = String::new();
                            reader.read_line(&mut header).await.unwrap();
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            let (name, value) = header.split_once(':').unwrap();
                            headers.push((name.trim().to_owned(), value.trim().to_owned()));
                        }
                        let length: usize = headers
                            .iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                            .map_or(0, |(_, v)| v.parse().unwrap());
                        let mut body = vec![0; length];
                        reader.read_exact(&mut body).await.unwrap();
                        let request = Seen {
                            method,
                            target,
                            headers,
                            body: String::from_utf8(body).unwrap(),
                            at: Instant::now(),
                        };
                        let (status, extra, body) = handler(&request);
                        log.lock().unwrap().push(request);
                        let mut answer = format!("HTTP/1.1 {status} X\r\n");
                        for (name, value) in extra {
                            answer.push_str(&format!("{name}: {value}\r\n"));
                        }
                        answer.push_str(&format!(
                            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        ));
                        if write.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

const PROJECT: &str = "0123456789abcdef01234567";

fn service_json(status: &str) -> String {
    serde_json::json!({
        "id": "65a1b2c3d4e5f60718293a4b",
        "cloudProvider": "AWS",
        "regionName": "US_WEST_2",
        "status": status,
        "endpointServiceName": null,
        "interfaceEndpoints": null
    })
    .to_string()
}

fn fast_retry() -> RateLimitRetry {
    RateLimitRetry {
        max_attempts: 3,
        max_wait: Duration::from_secs(5),
        default_wait: Duration::from_millis(50),
    }
}

fn service_account(url: &str) -> AtlasClient {
    AtlasClient::with_base_url(Credentials::service_account("sa-id", "sa-secret"), url)
        .unwrap()
        .with_rate_limit_retry(fast_retry())
}

/// An OAuth token endpoint that counts the tokens it gave, each valid `lifetime` seconds.
fn token_reply(request: &Seen, counter: &Mutex<u32>, lifetime: u64) -> Reply {
    // base64("sa-id:sa-secret")
    assert_eq!(
        request.header("authorization"),
        Some("Basic c2EtaWQ6c2Etc2VjcmV0")
    );
    assert_eq!(request.body, "grant_type=client_credentials");
    let mut n = counter.lock().unwrap();
    *n += 1;
    let body = serde_json::json!({
        "access_token": format!("token-{n}"),
        "expires_in": lifetime,
        "token_type": "Bearer"
    });
    (200, vec![], body.to_string())
}

#[tokio::test]
async fn service_accounts_send_a_cached_bearer_token_and_the_versioned_media_type() {
    let tokens = Arc::new(Mutex::new(0));
    let counter = tokens.clone();
    let server = Server::start(move |request| {
        if request.target == "/api/oauth/token" {
            return token_reply(request, &counter, 3600);
        }
        assert_eq!(request.header("authorization"), Some("Bearer token-1"));
        match request.method.as_str() {
            "POST" => (201, vec![], service_json("INITIATING")),
            _ => (
                200,
                vec![],
                format!("[{}]", service_json("WAITING_FOR_USER")),
            ),
        }
    })
    .await;
    let client = service_account(&server.url);
    let created = client
        .create_endpoint_service(PROJECT, "us-west-2")
        .await
        .unwrap();
    assert_eq!(created.status.as_deref(), Some("INITIATING"));
    let listed = client.endpoint_services(PROJECT).await.unwrap();
    assert!(listed[0].is_in("us-west-2"));
    assert!(listed[0].interface_endpoints.is_empty());

    assert_eq!(*tokens.lock().unwrap(), 1, "one token for both calls");
    let seen = server.seen();
    let post = seen
        .iter()
        .find(|r| r.method == "POST" && r.target != "/api/oauth/token");
    let post = post.unwrap();
    assert_eq!(
        post.target,
        format!("/api/atlas/v2/groups/{PROJECT}/privateEndpoint/endpointService")
    );
    // createPrivateEndpointService's version, on the answer asked for and the body.
    let create = versions::CREATE_ENDPOINT_SERVICE.media_type();
    assert_eq!(post.header("accept"), Some(create.as_str()));
    assert_eq!(post.header("content-type"), Some(create.as_str()));
    let body: serde_json::Value = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"providerName": "AWS", "region": "US_WEST_2"})
    );
    let get = seen.iter().find(|r| r.method == "GET").unwrap();
    let list = versions::LIST_ENDPOINT_SERVICES.media_type();
    assert_eq!(get.header("accept"), Some(list.as_str()));
    assert_eq!(get.header("content-type"), None);
}

#[tokio::test]
async fn tokens_are_refreshed_before_expiry_and_after_a_401() {
    let tokens = Arc::new(Mutex::new(0));
    let counter = tokens.clone();
    let server = Server::start(move |request| {
        if request.target == "/api/oauth/token" {
            // Two seconds: refreshed after one.
            return token_reply(request, &counter, 2);
        }
        // The server forgets token-2 (revoked): the client must get another.
        if request.header("authorization") == Some("Bearer token-2") {
            return (
                401,
                vec![],
                r#"{"error":401,"errorCode":"UNAUTHORIZED","detail":"revoked"}"#.into(),
            );
        }
        (200, vec![], service_json("WAITING_FOR_USER"))
    })
    .await;
    let client = service_account(&server.url);
    client.endpoint_service(PROJECT, "a").await.unwrap();
    client.endpoint_service(PROJECT, "a").await.unwrap();
    assert_eq!(*tokens.lock().unwrap(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // token-1 is due for refresh; token-2 is refused; token-3 works.
    client.endpoint_service(PROJECT, "a").await.unwrap();
    assert_eq!(*tokens.lock().unwrap(), 3);
}

#[tokio::test]
async fn a_refused_token_request_is_an_error_without_the_secret() {
    let server = Server::start(|_| {
        (
            401,
            vec![],
            r#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#.into(),
        )
    })
    .await;
    let err = service_account(&server.url)
        .endpoint_services(PROJECT)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.code(), "invalid_client");
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("sa-secret") && !text.contains("sa-id"),
        "{text}"
    );
    assert!(text.contains("/api/oauth/token"), "{text}");
}

fn md5_hex(text: &str) -> String {
    format!("{:x}", Md5::digest(text.as_bytes()))
}

/// Checks a Digest answer the way Atlas does: public key `pub-key`, private key
/// `priv-key`, the realm and nonce it sent.
fn digest_ok(request: &Seen, nonce: &str) -> bool {
    let Some(header) = request.header("authorization") else {
        return false;
    };
    let Some(params) = header.strip_prefix("Digest ") else {
        return false;
    };
    let get = |key: &str| {
        params.split(", ").find_map(|p| {
            let (k, v) = p.split_once('=')?;
            (k == key).then(|| v.trim_matches('"').to_owned())
        })
    };
    let (Some(user), Some(uri), Some(nc), Some(cnonce), Some(response)) = (
        get("username"),
        get("uri"),
        get("nc"),
        get("cnonce"),
        get("response"),
    ) else {
        return false;
    };
    let ha1 = md5_hex("pub-key:MMS Public API:priv-key");
    let ha2 = md5_hex(&format!("{}:{uri}", request.method));
    let expected = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    user == "pub-key"
        && get("nonce").as_deref() == Some(nonce)
        && uri == request.target
        && response == expected
}

#[tokio::test]
async fn api_keys_answer_the_digest_challenge_and_reuse_its_nonce() {
    let challenge = r#"Digest realm="MMS Public API", domain="", nonce="n0nce", algorithm=MD5, qop="auth", stale=false"#;
    let server = Server::start(move |request| {
        if digest_ok(request, "n0nce") {
            (200, vec![], service_json("WAITING_FOR_USER"))
        } else {
            (
                401,
                vec![("WWW-Authenticate", challenge.to_owned())],
                r#"{"error":401,"errorCode":null,"detail":"You are not authorized"}"#.into(),
            )
        }
    })
    .await;
    let client =
        AtlasClient::with_base_url(Credentials::api_key("pub-key", "priv-key"), &server.url)
            .unwrap();
    client.endpoint_service(PROJECT, "a").await.unwrap();
    client.endpoint_service(PROJECT, "b").await.unwrap();
    let seen = server.seen();
    // One challenge, then two answered requests.
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert_eq!(seen[0].header("authorization"), None);
    let ncs: Vec<&str> = seen[1..]
        .iter()
        .map(|r| {
            let header = r.header("authorization").unwrap();
            assert!(!header.contains("priv-key"));
            header
                .split("nc=")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(ncs, ["00000001", "00000002"]);

    let wrong =
        AtlasClient::with_base_url(Credentials::api_key("pub-key", "nope"), &server.url).unwrap();
    let err = wrong.endpoint_service(PROJECT, "a").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn rate_limited_calls_wait_for_retry_after_then_give_up() {
    let script = Arc::new(Mutex::new(VecDeque::from([
        (429, Some("1")),
        (429, None),
        (200, None),
    ])));
    let steps = script.clone();
    let server = Server::start(move |request| {
        if request.target == "/api/oauth/token" {
            return (
                200,
                vec![],
                r#"{"access_token":"t","expires_in":3600}"#.into(),
            );
        }
        let (status, after) = steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or((429, Some("0")));
        let headers = after
            .map(|a| vec![("Retry-After", a.to_owned())])
            .unwrap_or_default();
        let body = if status == 429 {
            r#"{"error":429,"errorCode":"RATE_LIMITED_TOKEN_BUCKET","detail":"slow down"}"#
                .to_owned()
        } else {
            service_json("WAITING_FOR_USER")
        };
        (status, headers, body)
    })
    .await;
    let client = service_account(&server.url);
    client.endpoint_service(PROJECT, "a").await.unwrap();
    let calls: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|r| r.target.starts_with(API_PREFIX))
        .collect();
    assert_eq!(calls.len(), 3);
    assert!(
        calls[1].at - calls[0].at >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert!(
        calls[2].at - calls[1].at >= Duration::from_millis(100),
        "doubled default wait"
    );

    // Every answer 429 now: three attempts, then the error with Atlas's code.
    let err = client.endpoint_service(PROJECT, "a").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.code(), "RATE_LIMITED_TOKEN_BUCKET");
}

#[tokio::test]
async fn errors_name_the_operation_ids_and_atlas_code() {
    let server = Server::start(|request| {
        if request.target == "/api/oauth/token" {
            return (200, vec![], r#"{"access_token":"t","expires_in":3600}"#.into());
        }
        if request.method == "DELETE" {
            return (404, vec![], r#"{"error":404,"errorCode":"PRIVATE_ENDPOINT_NOT_FOUND","detail":"gone"}"#.into());
        }
        (
            400,
            vec![],
            r#"{"error":400,"errorCode":"INVALID_ENDPOINT_ID","detail":"The endpoint id is invalid.","reason":"Bad Request"}"#.into(),
        )
    })
    .await;
    let client = service_account(&server.url);
    let err = client
        .create_endpoint(PROJECT, "65a1b2c3d4e5f60718293a4b", "vpce-0abc")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ENDPOINT_ID");
    assert_eq!(
        err.to_string(),
        format!(
            "POST /api/atlas/v2/groups/{PROJECT}/privateEndpoint/AWS/endpointService/65a1b2c3d4e5f60718293a4b/endpoint: HTTP 400 INVALID_ENDPOINT_ID: The endpoint id is invalid."
        )
    );
    // Deleting what is gone is done.
    client
        .delete_endpoint(PROJECT, "65a1b2c3d4e5f60718293a4b", "vpce-0abc")
        .await
        .unwrap();
}

#[test]
fn refuses_clear_text_to_anything_but_loopback() {
    let credentials = || Credentials::service_account("a", "b");
    assert!(AtlasClient::with_base_url(credentials(), "https://cloud.mongodb.com").is_ok());
    assert!(AtlasClient::with_base_url(credentials(), "http://127.0.0.1:8080/").is_ok());
    assert!(AtlasClient::with_base_url(credentials(), "http://localhost:1").is_ok());
    assert!(AtlasClient::with_base_url(credentials(), "http://[::1]:1").is_ok());
    let err = AtlasClient::with_base_url(credentials(), "http://atlas.example.com").unwrap_err();
    assert!(err.to_string().contains("https://"), "{err}");
    let shown = format!("{:?}", AtlasClient::new(credentials()).unwrap());
    assert!(
        shown.contains("service account") && !shown.contains("\"b\""),
        "{shown}"
    );
}

#[test]
fn reads_retry_after_as_seconds_or_a_date() {
    let mut headers = HeaderMap::new();
    headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
    assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30);
    let date = jiff::fmt::rfc2822::DateTimePrinter::new()
        .timestamp_to_rfc9110_string(&soon)
        .unwrap();
    headers.insert(RETRY_AFTER, HeaderValue::from_str(&date).unwrap());
    let wait = retry_after(&headers).unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(retry_after(&headers), None);

    let policy = RateLimitRetry::default();
    assert_eq!(policy.wait(1, None), Some(Duration::from_secs(2)));
    assert_eq!(policy.wait(2, None), Some(Duration::from_secs(4)));
    assert_eq!(policy.wait(1, Some(Duration::from_secs(600))), None);
    assert_eq!(policy.wait(5, Some(Duration::from_secs(1))), None);
}

#[test]
fn region_names_and_path_segments() {
    assert_eq!(atlas_region("us-west-2"), "US_WEST_2");
    assert_eq!(atlas_region("US_WEST_2"), "US_WEST_2");
    assert_eq!(segment("vpce-0abc"), "vpce-0abc");
    assert_eq!(segment("a/b?c"), "a%2Fb%3Fc");
}

#[tokio::test]
async fn unavailable_calls_wait_for_retry_after_too() {
    let script = Arc::new(Mutex::new(VecDeque::from([(503, "1"), (200, "")])));
    let steps = script.clone();
    let server = Server::start(move |request| {
        if request.target == "/api/oauth/token" {
            return (200, vec![], r#"{"access_token":"t","expires_in":3600}"#.into());
        }
        let (status, after) = steps.lock().unwrap().pop_front().unwrap_or((503, "9"));
        if status == 503 {
            let body = r#"{"error":503,"errorCode":"SERVICE_UNAVAILABLE","detail":"later","reason":"Service Unavailable"}"#;
            return (503, vec![("Retry-After", after.to_owned())], body.into());
        }
        (200, vec![], service_json("WAITING_FOR_USER"))
    })
    .await;
    let client = service_account(&server.url);
    client.endpoint_service(PROJECT, "a").await.unwrap();
    let calls: Vec<Seen> = server
        .seen()
        .into_iter()
        .filter(|r| r.target.starts_with(API_PREFIX))
        .collect();
    assert_eq!(calls.len(), 2);
    assert!(
        calls[1].at - calls[0].at >= Duration::from_secs(1),
        "Retry-After: 1 on a 503 was honoured"
    );
    // A Retry-After beyond the cap (5 s here) ends the retries with Atlas's code.
    let err = client.endpoint_service(PROJECT, "a").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), "SERVICE_UNAVAILABLE");
}

#[tokio::test]
async fn only_the_resources_own_not_found_codes_mean_absent() {
    let server = Server::start(|request| {
        if request.target == "/api/oauth/token" {
            return (
                200,
                vec![],
                r#"{"access_token":"t","expires_in":3600}"#.into(),
            );
        }
        let code = if request.target.contains(PROJECT) {
            "PRIVATE_ENDPOINT_SERVICE_NOT_FOUND"
        } else {
            "GROUP_NOT_FOUND"
        };
        let body =
            format!(r#"{{"error":404,"errorCode":"{code}","detail":"none","reason":"Not Found"}}"#);
        (404, vec![], body)
    })
    .await;
    let client = service_account(&server.url);
    let service = "65a1b2c3d4e5f60718293a4b";
    assert_eq!(
        client.endpoint_service(PROJECT, service).await.unwrap(),
        None
    );
    client
        .delete_endpoint_service(PROJECT, service)
        .await
        .unwrap();
    let wrong = "0000000000000000000000ff";
    let err = client.endpoint_service(wrong, service).await.unwrap_err();
    assert!(err.is_project_not_found(), "{err}");
    assert_eq!(err.project(), Some(wrong));
    let err = client
        .delete_endpoint_service(wrong, service)
        .await
        .unwrap_err();
    assert!(err.is_project_not_found(), "{err}");
    let err = client
        .endpoint(wrong, service, "vpce-0abc")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "GROUP_NOT_FOUND");
}

#[tokio::test]
async fn clusters_are_read_with_their_current_version_page_by_page() {
    let server = Server::start(|request| {
        if request.target == "/api/oauth/token" {
            return (200, vec![], r#"{"access_token":"t","expires_in":3600}"#.into());
        }
        assert_eq!(
            request.header("accept"),
            Some(versions::LIST_CLUSTERS.media_type().as_str())
        );
        let page = if request.target.contains("pageNum=1") { 1 } else { 2 };
        // 501 clusters: 500 on page 1, one on page 2, only the last with a private string.
        let results: Vec<serde_json::Value> = if page == 1 {
            (0..500).map(|i| serde_json::json!({"name": format!("c{i}")})).collect()
        } else {
            vec![serde_json::json!({
                "name": "bpa",
                "connectionStrings": {"privateEndpoint": [{
                    "srvConnectionString": "mongodb+srv://bpa-pl-0.abcde.mongodb.net",
                    "endpoints": [{"endpointId": "vpce-0abc", "providerName": "AWS", "region": "US_WEST_2"}]
                }]}
            })]
        };
        let body = serde_json::json!({"results": results, "totalCount": 501, "links": []});
        (200, vec![], body.to_string())
    })
    .await;
    let client = service_account(&server.url);
    let connections = client.private_connections(PROJECT).await.unwrap();
    assert_eq!(
        connections,
        vec![PrivateConnection {
            cluster: "bpa".into(),
            connection_string: None,
            srv_connection_string: Some("mongodb+srv://bpa-pl-0.abcde.mongodb.net".into()),
            endpoint_ids: vec!["vpce-0abc".into()],
        }]
    );
    let targets: Vec<String> = server
        .seen()
        .into_iter()
        .filter(|r| r.target.contains("/clusters"))
        .map(|r| r.target)
        .collect();
    assert_eq!(
        targets,
        [
            format!("/api/atlas/v2/groups/{PROJECT}/clusters?itemsPerPage=500&pageNum=1"),
            format!("/api/atlas/v2/groups/{PROJECT}/clusters?itemsPerPage=500&pageNum=2"),
        ]
    );
}
