//! The client's status -> error-code table and deadlines (`client`): a `core::Plugin` sending
//! to HTTP/1.1 peers written here with hyper.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;

use crate::integration::support::*;

/// A peer that fulfils everything, and the number of requests it received.
async fn counting_peer() -> (Peer, Counter) {
    let requests = Counter::default();
    let counted = requests.clone();
    let peer = http1_peer(move |_, _| {
        counted.bump();
        Answer::ok(fulfill())
    })
    .await;
    (peer, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2xx_reply_is_returned_byte_for_byte_with_the_request_headers_set() {
    let peer = http1_peer(|parts, body| {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(parts.method, http::Method::POST);
        assert_eq!(parts.uri.path(), "/ilp");
        assert_eq!(header("authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(header("content-type"), "application/ilp+octet-stream");
        assert_eq!(header("ilp-peer-name"), "alice");
        assert_eq!(header("ilp-destination"), "test.peer.bob");
        // Echo the Prepare so the test sees it arrived whole.
        Answer::ok(body.clone())
    })
    .await;
    let sender = sender(
        &peer.url(),
        json!({ "outgoing": { "name": "alice", "sendIlpDestination": true } }),
    );
    let packet = prepare(Duration::from_secs(30));
    let reply = sender.send(packet.clone()).await.expect("a reply");
    assert_eq!(reply, packet);
    assert_eq!(stats(&sender)["outgoing"]["packets"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_map_to_ilp_error_codes() {
    let peer = http1_peer(|_, body| {
        // The Prepare's data says which status to answer with.
        let status = body
            .windows(3)
            .rev()
            .find_map(|w| std::str::from_utf8(w).ok()?.parse::<u16>().ok())
            .unwrap_or(500);
        Answer::status(status)
    })
    .await;
    let sender = sender(&peer.url(), json!({}));
    for (status, code) in [
        (500, "T00"),
        (502, "T00"),
        (503, "T00"),
        (504, "T00"),
        (400, "F00"),
        (401, "F00"),
        (404, "F00"),
        (413, "F00"),
        (301, "F00"),
    ] {
        let packet = prepare_to(
            "test.peer.bob",
            Duration::from_secs(30),
            status.to_string().as_bytes(),
        );
        let (ilp_code, message) = failure(sender.send(packet).await);
        assert_eq!(ilp_code, code, "status {status}");
        assert_eq!(message, format!("failed to fetch. code={status}"));
    }
    let errors = &stats(&sender)["outgoing"]["errors"];
    assert_eq!(errors["T00"], 4);
    assert_eq!(errors["F00"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_peers_and_oversized_replies_reject_t01() {
    // Nothing listens on a port we just had and closed.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let sender_to_nobody = sender(&format!("http://127.0.0.1:{closed_port}/"), json!({}));
    let (code, message) = failure(
        sender_to_nobody
            .send(prepare(Duration::from_secs(30)))
            .await,
    );
    assert_eq!(code, "T01");
    assert!(message.starts_with("failed to fetch"), "{message}");

    // One byte over the largest valid ILP Reject.
    let peer = http1_peer(|_, _| Answer::ok(Bytes::from(vec![14u8; 41_998]))).await;
    let sender = sender(&peer.url(), json!({}));
    let (code, message) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T01");
    assert!(message.contains("too large"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_that_is_not_a_prepare_or_has_expired_is_not_sent() {
    let (peer, requests) = counting_peer().await;
    let sender = sender(&peer.url(), json!({}));
    let (code, _) = failure(sender.send(Bytes::from_static(b"not a prepare")).await);
    assert_eq!(code, "F01");
    let expired = prepare_to("test.peer.bob", Duration::ZERO, b"");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (code, _) = failure(sender.send(expired).await);
    assert_eq!(code, "R00");
    assert_eq!(requests.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_answer_before_the_expiry_rejects_r00_at_the_expiry() {
    let peer = http1_peer(|_, _| Answer {
        status: 200,
        body: fulfill(),
        delay: Duration::from_secs(3600),
    })
    .await;
    let sender = sender(&peer.url(), json!({}));
    let started = Instant::now();
    let (code, _) = failure(sender.send(prepare(Duration::from_millis(300))).await);
    let elapsed = started.elapsed();
    assert_eq!(code, "R00");
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < PATIENCE, "{elapsed:?}");
    assert_eq!(stats(&sender)["outgoing"]["inFlight"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_504_at_the_expiry_is_r00_and_before_it_t00() {
    // The peer (our own server does this) gives up at the expiry and answers 504: whichever
    // timer fires first, the outcome is R00.
    let peer = http1_peer(|_, _| Answer {
        status: 504,
        body: Bytes::new(),
        delay: Duration::from_millis(300),
    })
    .await;
    let sender = sender(&peer.url(), json!({}));
    let (code, _) = failure(sender.send(prepare(Duration::from_millis(300))).await);
    assert_eq!(code, "R00");
    // Before the expiry, a 504 is a 5xx like any other.
    let (code, _) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T00");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_while_disconnected_rejects_t01_without_sending() {
    let (peer, requests) = counting_peer().await;
    let sender = sender(&peer.url(), json!({}));
    tokio::time::timeout(PATIENCE, sender.disconnect())
        .await
        .expect("disconnect in time");
    let (code, message) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T01");
    assert_eq!(message, "plugin is not connected.");
    assert_eq!(requests.get(), 0);
}
