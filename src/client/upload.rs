//! Resumable blob uploads through the HTTP session routes (`POST` a session, `PATCH` chunks
//! with `Content-Range`, `PUT ?digest=` to complete), streamed from the file in chunks so
//! memory stays flat for any size. Session URLs are kept in small state files
//! (`sessions.rs`), so an upload cut off (network, Ctrl-C, kill -9) resumes from the
//! server's offset the next time.

use std::{
    io::Read as _,
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::BytesMut;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use super::{
    conn::Connection,
    error::{ClientError, ClientResult, Exit},
};

pub use super::sessions::{SessionStore, UploadKey};

/// The bytes one `PATCH` carries unless told otherwise.
pub const DEFAULT_CHUNK_SIZE: u64 = 16 * 1024 * 1024;
/// How much of a file is read at a time while streaming it.
const READ_BUF: usize = 256 * 1024;
/// How often a refused or broken chunk is retried from the server's offset.
const CHUNK_RETRIES: u32 = 8;

/// A local file with its sha256 digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Where it is on disk.
    pub path: PathBuf,
    /// `sha256:<hex>` of its bytes.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
}

impl LocalFile {
    /// Reads a file through once to learn its digest and size (on a blocking thread).
    pub async fn hash(path: &Path) -> ClientResult<Self> {
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || Self::hash_blocking(owned))
            .await
            .map_err(|e| ClientError::internal(format!("hashing {}: {e}", path.display())))?
    }

    /// Reads a file through once to learn its digest and size, on the calling thread.
    pub fn hash_blocking(owned: PathBuf) -> ClientResult<Self> {
        {
            let mut file =
                std::fs::File::open(&owned).map_err(|e| ClientError::local(&owned, e))?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1024 * 1024];
            let mut size = 0u64;
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| ClientError::local(&owned, e))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                size += n as u64;
            }
            Ok(Self {
                digest: format!("sha256:{}", hex::encode(hasher.finalize())),
                size,
                path: owned,
            })
        }
    }
}

/// Hears how an upload advances.
pub trait UploadProgress: Send + Sync {
    /// The upload starts (or resumes) at `offset` of `size` bytes.
    fn started(&self, offset: u64, size: u64);
    /// `n` more bytes went out.
    fn sent(&self, n: u64);
    /// The server's offset was learnt again after a refused or broken chunk.
    fn rewound(&self, offset: u64);
}

/// Ignores progress.
impl UploadProgress for () {
    fn started(&self, _: u64, _: u64) {}
    fn sent(&self, _: u64) {}
    fn rewound(&self, _: u64) {}
}

/// What an upload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Uploaded {
    /// The offset the server already held when this run started (0 for a new session).
    pub resumed_from: u64,
    /// The bytes this run sent.
    pub bytes_sent: u64,
}

/// An open upload session and the bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session URL (a path on the server).
    pub location: String,
    /// The bytes the server holds: where sending resumes.
    pub offset: u64,
}

/// Resumes the first live session remembered under one of `keys`, or opens a new one, and
/// files it under every key. A remembered session that is gone, or holds more than `size`
/// bytes, is forgotten.
pub async fn session_for(
    conn: &Connection,
    sessions: &SessionStore,
    repo: &str,
    keys: &[UploadKey],
    size: u64,
) -> ClientResult<Session> {
    let mut found = None;
    for key in keys {
        let Some(location) = sessions.get(key) else {
            continue;
        };
        match session_offset(conn, &location).await {
            Ok(offset) if offset <= size => {
                found = Some(Session { location, offset });
                break;
            }
            Ok(_)
            | Err(ClientError {
                exit: Exit::NotFound,
                ..
            }) => sessions.remove(key),
            Err(e) => return Err(e),
        }
    }
    let session = match found {
        Some(s) => s,
        None => Session {
            location: open_session(conn, repo).await?,
            offset: 0,
        },
    };
    for key in keys {
        sessions.put(key, &session.location)?;
    }
    Ok(session)
}

/// Sends a file's bytes from the session's offset to `size`, `chunk_size` bytes per
/// `PATCH`; a refused or broken chunk continues from the server's offset, with backoff.
/// Returns the bytes sent.
pub async fn send_rest(
    conn: &Connection,
    session: &Session,
    path: &Path,
    size: u64,
    chunk_size: u64,
    progress: &dyn UploadProgress,
) -> ClientResult<u64> {
    let mut offset = session.offset;
    let mut sent = 0u64;
    let mut retries = 0;
    while offset < size {
        let len = chunk_size.max(1).min(size - offset);
        match patch(
            conn,
            &session.location,
            path,
            offset,
            len,
            &mut sent,
            progress,
        )
        .await
        {
            Ok(next) => offset = next,
            Err(e) if retries < CHUNK_RETRIES && retryable(&e) => {
                retries += 1;
                tokio::time::sleep(backoff(retries)).await;
                offset = session_offset(conn, &session.location).await?;
                progress.rewound(offset);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

/// Completes a session with the blob's digest and forgets it under `keys` (also when the
/// server refused it: a mismatch removes the session there).
pub async fn finish(
    conn: &Connection,
    sessions: &SessionStore,
    session: &Session,
    digest: &str,
    media_type: &str,
    keys: &[UploadKey],
) -> ClientResult<()> {
    let done = complete(conn, &session.location, digest, media_type).await;
    if done.as_ref().is_ok() || done.as_ref().is_err_and(|e| e.exit != Exit::Unavailable) {
        for key in keys {
            sessions.remove(key);
        }
    }
    done
}

/// Cancels a session (best effort: one still being written to expires on the server) and
/// forgets it under `keys`.
pub async fn abandon(
    conn: &Connection,
    sessions: &SessionStore,
    session: &Session,
    keys: &[UploadKey],
) {
    for key in keys {
        sessions.remove(key);
    }
    let _ = conn
        .authorize(conn.http().delete(conn.url(&session.location)))
        .send()
        .await;
}

/// Uploads one file whose digest is known through a resumable session, resuming one
/// remembered for the same (server, repo, digest).
pub async fn upload_file(
    conn: &Connection,
    sessions: &SessionStore,
    repo: &str,
    file: &LocalFile,
    media_type: &str,
    chunk_size: u64,
    progress: &dyn UploadProgress,
) -> ClientResult<Uploaded> {
    let keys = [UploadKey::digest(conn.base_url(), repo, &file.digest)];
    let session = session_for(conn, sessions, repo, &keys, file.size).await?;
    progress.started(session.offset, file.size);
    let sent = send_rest(conn, &session, &file.path, file.size, chunk_size, progress).await?;
    finish(conn, sessions, &session, &file.digest, media_type, &keys).await?;
    Ok(Uploaded {
        resumed_from: session.offset,
        bytes_sent: sent,
    })
}

/// Tells whether a repo already holds a blob (`HEAD` of its download URL).
pub async fn blob_exists(conn: &Connection, repo: &str, digest: &str) -> ClientResult<bool> {
    let url = conn.url(&format!("/v1/repos/{repo}/blobs/{digest}"));
    let answer = conn
        .authorize(conn.http().head(url))
        .send()
        .await
        .map_err(|e| ClientError::from_reqwest(&e))?;
    match answer.status() {
        s if s.is_success() => Ok(true),
        http::StatusCode::NOT_FOUND => Ok(false),
        s => Err(ClientError::from_http(s, b"")),
    }
}

/// A chunk refused because another request still writes the session (416), or one whose
/// connection broke: both resume from the server's offset.
fn retryable(e: &ClientError) -> bool {
    e.exit == Exit::Unavailable || e.reason.as_deref() == Some("RANGE_NOT_SATISFIABLE")
}

/// Exponential backoff with a little jitter.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 100u64 << attempt.min(6);
    Duration::from_millis(base + rand::random_range(0..base / 2 + 1))
}

async fn error_of(answer: reqwest::Response) -> ClientError {
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    ClientError::from_http(status, &body)
}

async fn open_session(conn: &Connection, repo: &str) -> ClientResult<String> {
    let url = conn.url(&format!("/v1/repos/{repo}/blobs/uploads"));
    let answer = conn
        .authorize(conn.http().post(url))
        .send()
        .await
        .map_err(|e| ClientError::from_reqwest(&e))?;
    if !answer.status().is_success() {
        return Err(error_of(answer).await);
    }
    answer
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ClientError::internal("the server opened a session without a Location"))
}

/// Asks the server how many bytes a session holds.
pub async fn session_offset(conn: &Connection, location: &str) -> ClientResult<u64> {
    let answer = conn
        .authorize(conn.http().get(conn.url(location)))
        .send()
        .await
        .map_err(|e| ClientError::from_reqwest(&e))?;
    if !answer.status().is_success() {
        return Err(error_of(answer).await);
    }
    offset_header(&answer)
}

fn offset_header(answer: &reqwest::Response) -> ClientResult<u64> {
    answer
        .headers()
        .get("upload-offset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::internal("the server answered without Upload-Offset"))
}

/// Sends `len` bytes of the file from `offset` as one `PATCH`; returns the new offset.
async fn patch(
    conn: &Connection,
    location: &str,
    path: &Path,
    offset: u64,
    len: u64,
    sent: &mut u64,
    progress: &dyn UploadProgress,
) -> ClientResult<u64> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ClientError::local(path, e))?;
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| ClientError::local(path, e))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<u64>(64);
    let stream = futures::stream::unfold((file.take(len), tx), |(mut reader, tx)| async move {
        let mut buf = BytesMut::with_capacity(READ_BUF);
        match reader.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                let _ = tx.send(n as u64).await;
                Some((Ok::<_, std::io::Error>(buf.freeze()), (reader, tx)))
            }
            Err(e) => Some((Err(e), (reader, tx))),
        }
    });
    let request = conn
        .authorize(conn.http().patch(conn.url(location)))
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(http::header::CONTENT_LENGTH, len)
        .header(
            http::header::CONTENT_RANGE,
            format!("{offset}-{}", offset + len - 1),
        )
        .body(reqwest::Body::wrap_stream(stream));
    let counted = count(rx, sent, progress);
    let (answer, ()) = tokio::join!(request.send(), counted);
    let answer = answer.map_err(|e| ClientError::from_reqwest(&e))?;
    if !answer.status().is_success() {
        return Err(error_of(answer).await);
    }
    offset_header(&answer)
}

/// Counts the bytes the body stream hands to the connection.
async fn count(
    mut rx: tokio::sync::mpsc::Receiver<u64>,
    sent: &mut u64,
    progress: &dyn UploadProgress,
) {
    while let Some(n) = rx.recv().await {
        *sent += n;
        progress.sent(n);
    }
}

async fn complete(
    conn: &Connection,
    location: &str,
    digest: &str,
    media_type: &str,
) -> ClientResult<()> {
    let answer = conn
        .authorize(conn.http().put(conn.url(location)))
        .query(&[("digest", digest), ("media_type", media_type)])
        .send()
        .await
        .map_err(|e| ClientError::from_reqwest(&e))?;
    if !answer.status().is_success() {
        return Err(error_of(answer).await);
    }
    Ok(())
}
