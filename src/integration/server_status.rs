//! The incoming server's status table (`server`), over real sockets on 127.0.0.1: a
//! `core::Plugin` with data handlers written in Rust, and a raw HTTP/1.1 client.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use crate::core::Plugin;
use crate::handler::{DataHandler, HandlerOutcome};
use crate::integration::support::*;
use crate::protocol::packet::{serialize_fulfill, MAX_PREPARE_LEN};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn receiver(handler: impl DataHandler) -> (Plugin, u16) {
    let plugin = plugin(&options(UNUSED_OUTGOING_URL, json!({})), handler);
    let port = plugin.port().expect("listening");
    (plugin, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_and_methods() {
    let (_plugin, port) = receiver(replying(fulfill()));
    for method in ["GET", "HEAD"] {
        let request =
            format!("{method} /any/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let response = raw_request(port, request.as_bytes()).await;
        assert_eq!(response.status, 200, "{method}");
        if method == "GET" {
            assert_eq!(response.body, b"OK");
        }
    }
    let response = raw_request(
        port,
        b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    assert_eq!(response.status, 405);
    assert!(
        response.head.contains("allow: get, head, post"),
        "{}",
        response.head
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_wrong_authorization_gets_401_and_the_handler_is_not_called() {
    let calls = Counter::default();
    let counted = calls.clone();
    let (plugin, port) = receiver(Handler(move |_| {
        counted.bump();
        std::future::ready(HandlerOutcome::Reply(fulfill()))
    }));
    let body = prepare(Duration::from_secs(30));
    let without = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let wrong = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    for head in [without, wrong] {
        let mut request = head.into_bytes();
        request.extend_from_slice(&body);
        let response = raw_request(port, &request).await;
        assert_eq!(response.status, 401);
        assert_eq!(response.body, b"invalid authorization");
    }
    assert_eq!(calls.get(), 0);
    assert_eq!(stats(&plugin)["incoming"]["errors"]["401"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handlers_reply_is_the_body_of_a_200() {
    let (plugin, port) = receiver(Handler(|packet: Bytes| async move {
        // Echo the Prepare's length in the Fulfill's data, to see which packet arrived.
        let data = packet.len().to_string();
        HandlerOutcome::Reply(Bytes::from(serialize_fulfill(&[0; 32], data.as_bytes())))
    }));
    let body = prepare(Duration::from_secs(30));
    let response = raw_request(port, &post_request(&body)).await;
    assert_eq!(response.status, 200);
    assert!(response
        .head
        .contains("content-type: application/octet-stream"));
    let expected = serialize_fulfill(&[0; 32], body.len().to_string().as_bytes());
    assert_eq!(response.body, expected);
    let incoming = &stats(&plugin)["incoming"];
    assert_eq!(incoming["packets"], 1);
    assert_eq!(incoming["fulfills"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_failures_map_to_500_and_502() {
    for (outcome, status) in [
        (HandlerOutcome::Failed("boom".into()), 500),
        (HandlerOutcome::NoHandler, 502),
        (HandlerOutcome::Unavailable, 502),
    ] {
        let outcome = std::sync::Mutex::new(Some(outcome));
        let (_plugin, port) = receiver(Handler(move |_| {
            let outcome = outcome.lock().unwrap().take().expect("called once");
            std::future::ready(outcome)
        }));
        let response = raw_request(port, &post_request(&prepare(Duration::from_secs(30)))).await;
        assert_eq!(response.status, status);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_still_busy_when_the_prepare_expires_gets_504() {
    let (plugin, port) = receiver(Handler(|_| std::future::pending::<HandlerOutcome>()));
    let started = std::time::Instant::now();
    let response = raw_request(port, &post_request(&prepare(Duration::from_millis(300)))).await;
    assert_eq!(response.status, 504);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < PATIENCE, "{elapsed:?}");
    let incoming = &stats(&plugin)["incoming"];
    assert_eq!(incoming["errors"]["504"], 1);
    assert_eq!(incoming["inFlight"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_largest_prepare_get_413_declared_or_streamed() {
    let (_plugin, port) = receiver(replying(fulfill()));
    // Exactly the limit is read and handed over (it is not a Prepare; bilateral mode passes
    // anything on).
    let response = raw_request(port, &post_request(&vec![1u8; MAX_PREPARE_LEN])).await;
    assert_eq!(response.status, 200);
    // Declared one byte larger: refused.
    let response = raw_request(port, &post_request(&vec![1u8; MAX_PREPARE_LEN + 1])).await;
    assert_eq!(response.status, 413);
    // Chunked, without a declared length: refused once it grows over the limit.
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..5 {
        request.extend_from_slice(format!("{:x}\r\n", 10_000).as_bytes());
        request.extend_from_slice(&[2u8; 10_000]);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw_request(port, &request).await;
    assert_eq!(response.status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_not_complete_within_the_body_timeout_gets_408_and_the_connection_closes() {
    let options = options(
        UNUSED_OUTGOING_URL,
        json!({ "incoming": { "bodyTimeout": 200 } }),
    );
    let plugin = plugin(&options, replying(fulfill()));
    let port = plugin.port().expect("listening");
    let mut socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write");
    socket.write_all(&[1u8; 10]).await.expect("write");
    let started = std::time::Instant::now();
    let response = read_response(&mut socket).await;
    assert_eq!(response.status, 408);
    assert!(
        response.head.contains("connection: close"),
        "{}",
        response.head
    );
    assert!(started.elapsed() < PATIENCE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multilateral_mode_checks_prepares_and_answers_peer_config() {
    let options = options(
        "http://127.0.0.1:%/",
        json!({
            "multi": true,
            "ildcp": { "clientAddress": "test.parent", "assetCode": "XRP", "assetScale": 9 },
        }),
    );
    let plugin = plugin(&options, replying(fulfill()));
    let port = plugin.port().expect("listening");

    let response = raw_request(port, &post_request(b"not a prepare")).await;
    assert_eq!(response.status, 400);

    let peer_config = prepare_to("peer.config", Duration::from_secs(30), b"");
    let with_name = |name: &str| {
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nILP-Peer-Name: {name}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            peer_config.len()
        )
        .into_bytes();
        request.extend_from_slice(&peer_config);
        request
    };
    let response = raw_request(port, &with_name("child7")).await;
    assert_eq!(response.status, 200);
    // The ILDCP Fulfill carries the child's address.
    let address = b"test.parent.child7";
    assert!(
        response.body.windows(address.len()).any(|w| w == address),
        "{:?}",
        response.body
    );
    let response = raw_request(port, &with_name("not valid!")).await;
    assert_eq!(response.status, 400);
    let response = raw_request(port, &post_request(&peer_config)).await;
    assert_eq!(response.status, 400, "no ILP-Peer-Name");

    let response = raw_request(
        port,
        &post_request(&prepare_to(
            "test.parent.child7",
            Duration::from_secs(30),
            b"",
        )),
    )
    .await;
    assert_eq!(response.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_disconnect_the_port_is_closed() {
    let (plugin, port) = receiver(replying(fulfill()));
    tokio::time::timeout(PATIENCE, plugin.disconnect())
        .await
        .expect("disconnect in time");
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    assert_eq!(plugin.port(), None);
    assert_eq!(plugin.admin_info()["connected"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_fails_connect_and_leaves_the_plugin_disconnected() {
    let (_first, port) = receiver(replying(fulfill()));
    let options = options(UNUSED_OUTGOING_URL, json!({ "incoming": { "port": port } }));
    let config = crate::config::options::parse_options(&options.to_string()).expect("options");
    let second = Plugin::new(
        config,
        std::sync::Arc::new(replying(fulfill())),
        std::sync::Arc::new(crate::log::NullLogger),
    );
    let error = second.connect().expect_err("the port is taken");
    assert!(error.to_string().contains("failed to listen"), "{error}");
    assert!(!second.is_connected());
    assert_eq!(second.port(), None);
}
