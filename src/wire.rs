//! ILP over HTTP on the wire, shared by the server and the client: the header names, the POST
//! request, and reading a body of bounded size.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, Method, Request, Uri};
use http_body::Body;
use http_body_util::BodyExt;

/// The sender's name; multilateral mode makes a child's address from it.
pub const ILP_PEER_NAME: HeaderName = HeaderName::from_static("ilp-peer-name");
/// The Prepare's destination (`outgoing.sendIlpDestination`).
pub const ILP_DESTINATION: HeaderName = HeaderName::from_static("ilp-destination");

/// A POST of `body` to `url` with `headers` (HTTP/1.1 and HTTP/2 alike).
pub fn post<B>(url: &Uri, headers: &HeaderMap, body: B) -> Request<B> {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = url.clone();
    *request.headers_mut() = headers.clone();
    request
}

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum BodyError<E> {
    /// The body is (or is declared to be) larger than the limit.
    TooLarge,
    /// Reading failed.
    Failed(E),
}

/// Reads a body of at most `limit` bytes. A declared length (Content-Length) over the limit
/// fails before reading; a body that grows over it fails as soon as it does. Trailers are
/// skipped.
pub async fn read_bounded<B>(body: &mut B, limit: usize) -> Result<Bytes, BodyError<B::Error>>
where
    B: Body<Data = Bytes> + Unpin,
{
    let declared = body.size_hint().exact();
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |len| len as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Failed)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

/// HTTP/2 flow-control sizes for receiving bodies of at most `max_body` bytes: one frame and
/// one stream window hold a whole body, so it arrives without waiting for a WINDOW_UPDATE; the
/// connection window holds 128 of them, so 64 and more streams of the largest bodies never
/// stall on flow control (the HTTP/2 spec's 65,535-byte default let one through per round
/// trip). Used by the server (Prepares, 33,857 bytes) and the client (replies, 41,997 bytes).
pub struct H2Windows {
    pub max_frame_size: u32,
    pub stream_window: u32,
    pub connection_window: u32,
}

impl H2Windows {
    pub const fn for_bodies_up_to(max_body: usize) -> Self {
        const FRAME_AND_STREAM: u32 = 64 * 1024;
        const BODIES_PER_CONNECTION_WINDOW: u32 = 128;
        assert!(max_body <= FRAME_AND_STREAM as usize);
        H2Windows {
            max_frame_size: FRAME_AND_STREAM,
            stream_window: FRAME_AND_STREAM,
            connection_window: BODIES_PER_CONNECTION_WINDOW * max_body as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    type Chunk = Result<http_body::Frame<Bytes>, &'static str>;

    fn chunks(
        chunks: &[&'static [u8]],
    ) -> StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Chunk>>> {
        let frames: Vec<Chunk> = chunks
            .iter()
            .map(|c| Ok(http_body::Frame::data(Bytes::from_static(c))))
            .collect();
        StreamBody::new(futures_util::stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_up_to_the_limit_are_read_whole() {
        assert_eq!(
            read_bounded(&mut chunks(&[b"ab", b"cd"]), 4).await.unwrap(),
            "abcd"
        );
        assert_eq!(read_bounded(&mut chunks(&[]), 0).await.unwrap(), "");
        assert!(matches!(
            read_bounded(&mut chunks(&[b"ab", b"cde"]), 4).await,
            Err(BodyError::TooLarge)
        ));
        // Declared too large: refused before reading.
        let mut declared = Full::new(Bytes::from_static(b"abcde"));
        assert!(matches!(
            read_bounded(&mut declared, 4).await,
            Err(BodyError::TooLarge)
        ));
    }

    #[tokio::test]
    async fn a_failed_read_is_reported() {
        let frames: Vec<Chunk> = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"a"))),
            Err("reset"),
        ];
        let mut body = StreamBody::new(futures_util::stream::iter(frames));
        assert!(matches!(
            read_bounded(&mut body, 10).await,
            Err(BodyError::Failed("reset"))
        ));
    }
}
