//! HTTP/1.1 keep-alive resend rules (`client::http1`): a request that fails on a pooled
//! connection which had already served a response, before any byte of the answer, is sent
//! once more on a new connection; a request failing on a fresh connection, or after part of
//! an answer, is not. The peer is a raw TCP script (the same cases as test 7 of
//! `__test__/faults.test.js`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::integration::support::*;

/// What the scripted peer does with request number `index` (from 0) of a connection.
#[derive(Clone, Copy)]
enum Act {
    Fulfill,
    /// Close the connection without answering.
    Close,
    /// Write part of a response head, then close.
    CloseMidAnswer,
}

/// The requests a scripted peer received, in order: (connection number, body).
type Seen = Arc<Mutex<Vec<(usize, Bytes)>>>;

async fn scripted_peer(script: fn(usize) -> Act) -> (Peer, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        let mut number = 0;
        while let Ok((socket, _)) = listener.accept().await {
            connections.spawn(serve_script(socket, number, script, recorded.clone()));
            number += 1;
        }
    });
    (Peer::from_task(port, task), seen)
}

async fn serve_script(
    mut socket: TcpStream,
    connection: usize,
    script: fn(usize) -> Act,
    seen: Seen,
) {
    let mut buffer = Vec::new();
    for index in 0.. {
        let Some(body) = read_request(&mut socket, &mut buffer).await else {
            return;
        };
        seen.lock().unwrap().push((connection, body.clone()));
        match script(index) {
            Act::Fulfill => {
                let reply = fulfill();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
                    reply.len()
                );
                if socket.write_all(head.as_bytes()).await.is_err()
                    || socket.write_all(&reply).await.is_err()
                {
                    return;
                }
            }
            Act::Close => return,
            Act::CloseMidAnswer => {
                let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
                return;
            }
        }
    }
}

/// The body of the next request on `socket` (Content-Length framing), `None` at the end.
async fn read_request(socket: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Bytes> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                let body = Bytes::copy_from_slice(&buffer[end + 4..end + 4 + length]);
                buffer.drain(..end + 4 + length);
                return Some(body);
            }
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sends one Prepare that fulfils, then lets the connection go back to the pool.
async fn warm_up(sender: &crate::core::Plugin) {
    let reply = sender.send(prepare(Duration::from_secs(30))).await;
    assert_eq!(reply.expect("the first send fulfils"), fulfill());
    // hyper returns the connection to the pool once the response is read; give it time.
    tokio::time::sleep(Duration::from_millis(200)).await;
}

fn seen_now(seen: &Seen) -> Vec<(usize, Bytes)> {
    seen.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_with_nothing_answered_on_a_reused_connection_is_sent_again_on_a_new_one() {
    let (peer, seen) =
        scripted_peer(|index| if index == 1 { Act::Close } else { Act::Fulfill }).await;
    let sender = sender(&peer.url(), json!({}));
    warm_up(&sender).await;
    let packet = prepare(Duration::from_secs(30));
    let reply = sender.send(packet.clone()).await;
    assert_eq!(reply.expect("fulfilled after the resend"), fulfill());
    let seen = seen_now(&seen);
    assert_eq!(seen.len(), 3, "{seen:?}");
    // The first connection got it (and dropped it), then a new connection.
    assert_eq!((seen[1].0, &seen[1].1), (0, &packet));
    assert_eq!((seen[2].0, &seen[2].1), (1, &packet));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_after_part_of_an_answer_is_not_sent_again() {
    let (peer, seen) = scripted_peer(|index| {
        if index == 1 {
            Act::CloseMidAnswer
        } else {
            Act::Fulfill
        }
    })
    .await;
    let sender = sender(&peer.url(), json!({}));
    warm_up(&sender).await;
    let (code, _) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T01");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen_now(&seen).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_failing_on_a_fresh_connection_is_not_sent_again() {
    let (peer, seen) = scripted_peer(|_| Act::Close).await;
    let sender = sender(&peer.url(), json!({}));
    let (code, _) = failure(sender.send(prepare(Duration::from_secs(30))).await);
    assert_eq!(code, "T01");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(seen_now(&seen).len(), 1);
}
