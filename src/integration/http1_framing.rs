//! HTTP/1.1 framing the server accepts, and where it stops (`server::flood`'s wire allowance):
//! chunk-size lines with leading zeros are legal HTTP and served, framing without end is cut
//! (also when cheap requests came first); well-behaved keep-alive traffic, pipelined or chunked,
//! and refused bodies of megabytes are never cut. Raw sockets on 127.0.0.1.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::integration::support::*;
use crate::protocol::packet::MAX_PREPARE_LEN;

/// A receiver answering every request with a Fulfill; `bodyTimeout` long enough that only the
/// allowance can end a request early.
fn receiver() -> (crate::core::Plugin, u16) {
    let options = options(
        UNUSED_OUTGOING_URL,
        json!({ "incoming": { "bodyTimeout": 20_000 } }),
    );
    let plugin = plugin(&options, replying(fulfill()));
    let port = plugin.port().expect("listening");
    (plugin, port)
}

fn chunked_head(token: &str, close: bool) -> Vec<u8> {
    let connection = if close { "Connection: close\r\n" } else { "" };
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Transfer-Encoding: chunked\r\n{connection}\r\n"
    )
    .into_bytes()
}

/// `body` as chunks of `chunk` bytes, each size line padded with `zeros` leading zeros.
fn chunked_body(body: &[u8], chunk: usize, zeros: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for piece in body.chunks(chunk) {
        bytes.extend(std::iter::repeat_n(b'0', zeros));
        bytes.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        bytes.extend_from_slice(piece);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leading_zeros_in_chunk_sizes_are_served_within_the_allowance() {
    let (_plugin, port) = receiver();
    let mut request = chunked_head(TOKEN, true);
    request.extend(chunked_body(&[7u8; 1000], 100, 10_000));
    let response = raw_request(port, &request).await;
    assert_eq!(response.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_size_line_without_end_is_cut_instead_of_read_until_the_body_timeout() {
    let (plugin, _) = receiver();
    assert_endless_zeros_are_cut(&plugin, b"").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cheap_requests_before_do_not_buy_room_for_endless_zeros() {
    let (plugin, _) = receiver();
    // A thousand pipelined health checks first: each lets the client send as much as any
    // request, but what they leave unused does not add up.
    let gets = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    assert_endless_zeros_are_cut(&plugin, &gets).await;
}

/// Sends `before`, then a chunked POST whose first chunk-size line is 32 MiB of zeros (far more
/// than a request may carry and than the socket buffers hold); the server must stop reading
/// and close the connection, with a 400 if it can still write one. Before the allowance it
/// read all 32 MiB and waited for the rest of the line until the body timeout (then 408).
/// The cut is counted in `connectionsClosedFlooding`.
async fn assert_endless_zeros_are_cut(plugin: &crate::core::Plugin, before: &[u8]) {
    let port = plugin.port().expect("listening");
    let mut socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut head = before.to_vec();
    head.extend(chunked_head(TOKEN, true));
    socket.write_all(&head).await.expect("write head");
    let (mut reader, mut writer) = socket.into_split();
    let started = Instant::now();
    let writing = tokio::spawn(async move {
        let zeros = vec![b'0'; 64 * 1024];
        let mut written = 0usize;
        while written < 32 << 20 {
            if writer.write_all(&zeros).await.is_err() {
                return (false, written);
            }
            written += zeros.len();
        }
        (true, written)
    });
    let mut answers = Vec::new();
    let read = tokio::time::timeout(PATIENCE, reader.read_to_end(&mut answers)).await;
    assert!(read.is_ok(), "the connection was not closed in time");
    let text = String::from_utf8_lossy(&answers);
    // The health checks' answers, then the POST's 400 or nothing.
    let (oks, last) = text
        .match_indices("HTTP/1.1 ")
        .map(|(at, _)| &text[at + 9..at + 12])
        .fold((0, None), |(oks, last), status| match status {
            "200" => (oks + 1, last),
            other => (oks, Some(other)),
        });
    assert_eq!(
        oks,
        before.windows(4).filter(|w| *w == b"GET ").count(),
        "{text}"
    );
    assert!(matches!(last, None | Some("400")), "{text}");
    let (finished, written) = writing.await.expect("writer");
    assert!(!finished, "all {written} bytes were taken");
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(stats(plugin)["connectionsClosedFlooding"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_keep_alive_requests_of_the_largest_size_are_never_cut() {
    let (plugin, port) = receiver();
    let body = vec![3u8; MAX_PREPARE_LEN];
    let mut requests = Vec::new();
    const PER_KIND: usize = 40;
    for _ in 0..PER_KIND {
        requests.extend(
            format!(
                "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        requests.extend_from_slice(&body);
        // Small chunks, each size line with a few leading zeros, as some proxies send.
        requests.extend(chunked_head(TOKEN, false));
        requests.extend(chunked_body(&body, 512, 3));
    }
    let socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = socket.into_split();
    // The writer is kept open until the answers are in: hyper closes a connection whose
    // client shut its sending side with requests still unanswered (no half-close).
    let writing = tokio::spawn(async move { writer.write_all(&requests).await.map(|()| writer) });
    let answers = count_ok_answers(&mut reader, 2 * PER_KIND).await;
    assert_eq!(answers, 2 * PER_KIND, "{}", stats(&plugin));
    let _writer = writing
        .await
        .expect("writer")
        .expect("every request written");
    let errors = stats(&plugin)["incoming"]["errors"].clone();
    let errors = errors.as_object().expect("error counts");
    assert!(errors.values().all(|count| count == 0), "{errors:?}");
    assert_eq!(stats(&plugin)["connectionsClosedFlooding"], 0);
}

/// Reads until `wanted` 200 answers arrived (or the connection ended, or `PATIENCE`).
async fn count_ok_answers(reader: &mut tokio::net::tcp::OwnedReadHalf, wanted: usize) -> usize {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\n";
    let mut received = Vec::new();
    let count = |bytes: &[u8]| bytes.windows(OK.len()).filter(|w| *w == OK).count();
    let reading = async {
        let mut chunk = [0u8; 16 * 1024];
        while count(&received) < wanted {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(PATIENCE, reading).await;
    count(&received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_body_of_megabytes_is_drained_and_the_connection_serves_on() {
    let (plugin, port) = receiver();
    let body = vec![5u8; 3 << 20];
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(&body);
    // Chunked in 64-byte chunks: their framing is allowed for as well.
    request.extend(chunked_head("wrong-token", false));
    request.extend(chunked_body(&body[..1 << 20], 64, 0));
    // Then a well-behaved request on the same connection: the drained bodies were allowed
    // for, so the connection was not cut.
    request.extend(post_request(&prepare(Duration::from_secs(30))));
    let socket = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (mut reader, mut writer) = socket.into_split();
    let writing = tokio::spawn(async move { writer.write_all(&request).await.map(|()| writer) });
    let mut received = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all)
        .await
        .expect("answers in time");
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    assert_eq!(text.matches("HTTP/1.1 401 ").count(), 2, "{text}");
    assert!(text.contains("HTTP/1.1 200 OK\r\n"), "{text}");
    let _writer = writing
        .await
        .expect("writer")
        .expect("the whole body was taken");
    assert_eq!(stats(&plugin)["connectionsClosedFlooding"], 0);
}
