//! The HTTP/2 session pool (`client::http2`) against an h2 server written here: the peer's
//! stream limit opens a second session, a session is recycled after
//! `http2MaxRequestsPerSession`, a refused stream or one above a graceful GOAWAY is retried
//! on another session, and any other reset is not.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

use crate::integration::support::*;

/// What the peer does with the stream numbered `index` (from 0, across all connections).
#[derive(Clone, Copy, Debug)]
enum Act {
    /// Answer 200 with a Fulfill after the delay.
    Fulfill(Duration),
    /// Reset with REFUSED_STREAM: provably not processed.
    Refuse,
    /// Reset with INTERNAL_ERROR: maybe processed.
    Reset,
    /// Answer, then close the connection gracefully (GOAWAY).
    FulfillThenGoAway,
}

struct H2Peer {
    peer: Peer,
    connections: Counter,
    streams: Counter,
    /// The largest number of streams open at once on one connection.
    max_open: Arc<Mutex<usize>>,
}

async fn h2_peer(max_concurrent_streams: u32, script: fn(usize) -> Act) -> H2Peer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (connections, streams) = (Counter::default(), Counter::default());
    let max_open = Arc::new(Mutex::new(0));
    let task = {
        let (connections, streams, max_open) =
            (connections.clone(), streams.clone(), max_open.clone());
        tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((socket, _)) = listener.accept().await {
                connections.bump();
                tasks.spawn(serve_h2(
                    socket,
                    max_concurrent_streams,
                    script,
                    streams.clone(),
                    max_open.clone(),
                ));
            }
        })
    };
    H2Peer {
        peer: Peer::from_task(port, task),
        connections,
        streams,
        max_open,
    }
}

async fn serve_h2(
    socket: TcpStream,
    max_concurrent_streams: u32,
    script: fn(usize) -> Act,
    streams: Counter,
    max_open: Arc<Mutex<usize>>,
) {
    let Ok(mut connection) = h2::server::Builder::new()
        .max_concurrent_streams(max_concurrent_streams)
        .handshake::<_, Bytes>(socket)
        .await
    else {
        return;
    };
    let open = Counter::default();
    while let Some(Ok((request, mut respond))) = connection.accept().await {
        let index = streams.bump() - 1;
        let now_open = open.bump();
        {
            let mut max = max_open.lock().unwrap();
            *max = (*max).max(now_open);
        }
        // The body is read on the stream's own task: its frames arrive only while the
        // connection is polled (by `accept`).
        let mut body = request.into_body();
        let answer = |mut respond: h2::server::SendResponse<Bytes>| {
            let response = http::Response::builder()
                .status(200)
                .body(())
                .expect("a response");
            if let Ok(mut stream) = respond.send_response(response, false) {
                let _ = stream.send_data(fulfill(), true);
            }
        };
        match script(index) {
            Act::Fulfill(delay) => {
                let open = open.clone();
                tokio::spawn(async move {
                    while let Some(Ok(chunk)) = body.data().await {
                        let _ = body.flow_control().release_capacity(chunk.len());
                    }
                    tokio::time::sleep(delay).await;
                    answer(respond);
                    open.drop_one();
                });
            }
            Act::Refuse => respond.send_reset(h2::Reason::REFUSED_STREAM),
            Act::Reset => respond.send_reset(h2::Reason::INTERNAL_ERROR),
            Act::FulfillThenGoAway => {
                answer(respond);
                connection.graceful_shutdown();
            }
        }
    }
}

fn h2_sender(peer: &H2Peer, extra: serde_json::Value) -> crate::core::Plugin {
    let mut extra = extra;
    extra["outgoing"]["http2"] = json!(true);
    sender(&peer.peer.url(), extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_peers_stream_limit_opens_a_second_session() {
    let peer = h2_peer(2, |_| Act::Fulfill(Duration::from_millis(300))).await;
    let sender = Arc::new(h2_sender(&peer, json!({})));
    let sends: Vec<_> = (0..3)
        .map(|_| tokio::spawn(sender.send(prepare(Duration::from_secs(30)))))
        .collect();
    for send in sends {
        assert_eq!(send.await.expect("task").expect("fulfilled"), fulfill());
    }
    assert_eq!(peer.streams.get(), 3);
    assert_eq!(peer.connections.get(), 2);
    assert!(*peer.max_open.lock().unwrap() <= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_recycled_after_the_maximum_requests() {
    let peer = h2_peer(100, |_| Act::Fulfill(Duration::ZERO)).await;
    let sender = h2_sender(
        &peer,
        json!({ "outgoing": { "http2MaxRequestsPerSession": 2 } }),
    );
    for _ in 0..5 {
        let reply = sender.send(prepare(Duration::from_secs(30))).await;
        assert_eq!(reply.expect("fulfilled"), fulfill());
    }
    assert_eq!(peer.connections.get(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_stream_is_retried_on_another_session() {
    let peer = h2_peer(100, |index| {
        if index == 0 {
            Act::Refuse
        } else {
            Act::Fulfill(Duration::ZERO)
        }
    })
    .await;
    let sender = h2_sender(&peer, json!({}));
    let reply = sender.send(prepare(Duration::from_secs(30))).await;
    assert_eq!(reply.expect("fulfilled on the retry"), fulfill());
    assert_eq!(peer.streams.get(), 2);
    assert_eq!(peer.connections.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_graceful_goaway_requests_go_to_a_new_session() {
    let peer = h2_peer(100, |index| {
        if index == 0 {
            Act::FulfillThenGoAway
        } else {
            Act::Fulfill(Duration::ZERO)
        }
    })
    .await;
    let sender = h2_sender(&peer, json!({}));
    for _ in 0..3 {
        let reply = sender.send(prepare(Duration::from_secs(30))).await;
        assert_eq!(reply.expect("fulfilled"), fulfill());
    }
    assert_eq!(peer.connections.get(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_for_another_reason_rejects_t01_and_is_not_retried() {
    let peer = h2_peer(100, |_| Act::Reset).await;
    let sender = h2_sender(&peer, json!({}));
    let (code, message) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T01");
    assert!(message.contains("HTTP/2"), "{message}");
    assert_eq!(peer.streams.get(), 1);
}
