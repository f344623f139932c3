//! Resumable, verified download of one blob over HTTP into a file.
//!
//! Bytes go to a `.partial` file first, hashed while they stream. A partial left by an earlier
//! run is re-hashed and continued with `Range` (guarded by `If-Range` on the digest ETag). Only
//! when size and sha256 match is the file fsynced and renamed to its final name, so bytes that
//! do not verify never appear there. A partial that cannot be right (longer than the blob, or
//! complete with the wrong digest) is discarded.

use std::path::Path;

use futures::StreamExt as _;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};

use super::{
    conn::Connection,
    error::{ClientError, ClientResult, Exit},
};
use crate::domain::Digest;

/// The bytes a download expects: the blob's digest and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// The sha256 the bytes must hash to.
    pub digest: Digest,
    /// The exact number of bytes.
    pub size: u64,
}

/// What one download moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Transfer {
    /// Bytes received over the network.
    pub bytes: u64,
    /// Bytes taken over from a partial file left by an earlier attempt.
    pub resumed: u64,
}

/// Returns the download URL of a blob on the connection's server.
pub fn blob_url(conn: &Connection, repo: &str, digest: &Digest) -> String {
    conn.url(&format!("/v1/repos/{repo}/blobs/{digest}"))
}

/// Downloads `url` into `dest` through `partial`, resuming from the partial's bytes.
///
/// Fails with [`Exit::Integrity`] when the bytes do not match `expected` (the partial is then
/// removed), and keeps the partial on transport failures so that the next call resumes. When a
/// resumed download fails verification, it is retried once from the first byte.
pub async fn download(
    conn: &Connection,
    url: &str,
    expected: Expected,
    partial: &Path,
    dest: &Path,
) -> ClientResult<Transfer> {
    let resumable = tokio::fs::metadata(partial)
        .await
        .is_ok_and(|m| m.len() > 0);
    match attempt(conn, url, expected, partial, dest).await {
        Err((e, moved)) if e.exit == Exit::Integrity && resumable => {
            // The kept bytes may be what was wrong: start over once.
            let again = attempt(conn, url, expected, partial, dest)
                .await
                .map_err(|(e, _)| e)?;
            Ok(Transfer {
                bytes: moved + again.bytes,
                resumed: 0,
            })
        }
        other => other.map_err(|(e, _)| e),
    }
}

/// One try: returns the transfer, or the error with the bytes moved before it.
async fn attempt(
    conn: &Connection,
    url: &str,
    expected: Expected,
    partial: &Path,
    dest: &Path,
) -> Result<Transfer, (ClientError, u64)> {
    let local = |e: std::io::Error| (ClientError::local(partial, e), 0);
    if let Some(dir) = partial.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| (ClientError::local(dir, e), 0))?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(false)
        .open(partial)
        .await
        .map_err(local)?;
    let mut have = file.metadata().await.map_err(local)?.len();
    if have > expected.size {
        file.set_len(0).await.map_err(local)?;
        have = 0;
    }
    let mut hasher = Sha256::new();
    if have > 0 {
        hash_prefix(&mut file, have, &mut hasher)
            .await
            .map_err(local)?;
    }
    let resumed = have;
    let mut moved = 0u64;
    if have < expected.size {
        let mut request = conn.authorize(conn.http().get(url));
        if have > 0 {
            request = request
                .header(http::header::RANGE, format!("bytes={have}-"))
                .header(http::header::IF_RANGE, format!("\"{}\"", expected.digest));
        }
        let response = request
            .send()
            .await
            .map_err(|e| (ClientError::from_reqwest(&e), 0))?;
        let status = response.status();
        match status {
            http::StatusCode::PARTIAL_CONTENT if have > 0 => {
                let start = content_range_start(response.headers());
                if start != Some(have) {
                    return Err((
                        ClientError::new(
                            Exit::Failure,
                            format!("{url}: the server answered a range not starting at {have}"),
                        ),
                        0,
                    ));
                }
            }
            http::StatusCode::OK => {
                if let Some(n) = response.content_length()
                    && n != expected.size
                {
                    discard(partial).await;
                    return Err((
                        ClientError::new(
                            Exit::Integrity,
                            format!(
                                "{url}: the server holds {n} bytes, not the expected {}",
                                expected.size
                            ),
                        ),
                        0,
                    ));
                }
                if have > 0 {
                    // The server ignored the range (its bytes changed): start over.
                    file.set_len(0).await.map_err(local)?;
                    hasher = Sha256::new();
                    have = 0;
                }
            }
            http::StatusCode::RANGE_NOT_SATISFIABLE => {
                discard(partial).await;
                return Err((
                    ClientError::new(
                        Exit::Integrity,
                        format!(
                            "{url}: the server holds fewer bytes than the expected {}",
                            expected.size
                        ),
                    ),
                    0,
                ));
            }
            _ => {
                let body = response.bytes().await.unwrap_or_default();
                return Err((ClientError::from_http(status, &body), 0));
            }
        }
        file.seek(std::io::SeekFrom::Start(have))
            .await
            .map_err(local)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // Keep what arrived: the next attempt resumes from it.
                    let _ = out.flush().await;
                    return Err((ClientError::from_reqwest(&e), moved));
                }
            };
            moved += chunk.len() as u64;
            if have + chunk.len() as u64 > expected.size {
                drop(out);
                discard(partial).await;
                return Err((
                    ClientError::new(
                        Exit::Integrity,
                        format!(
                            "{url}: the server sent more than the expected {} bytes",
                            expected.size
                        ),
                    ),
                    moved,
                ));
            }
            hasher.update(&chunk);
            out.write_all(&chunk)
                .await
                .map_err(|e| (ClientError::local(partial, e), moved))?;
            have += chunk.len() as u64;
        }
        out.flush()
            .await
            .map_err(|e| (ClientError::local(partial, e), moved))?;
        file = out.into_inner();
        if have < expected.size {
            return Err((
                ClientError::new(
                    Exit::Unavailable,
                    format!(
                        "{url}: the connection ended after {have} of {} bytes",
                        expected.size
                    ),
                ),
                moved,
            ));
        }
    }
    let got = Digest::from_bytes(hasher.finalize().into());
    if got != expected.digest {
        drop(file);
        discard(partial).await;
        return Err((
            ClientError::new(
                Exit::Integrity,
                format!(
                    "{url}: the bytes hash to {got}, not the expected {}",
                    expected.digest
                ),
            ),
            moved,
        ));
    }
    file.sync_all()
        .await
        .map_err(|e| (ClientError::local(partial, e), moved))?;
    drop(file);
    tokio::fs::rename(partial, dest)
        .await
        .map_err(|e| (ClientError::local(dest, e), moved))?;
    Ok(Transfer {
        bytes: moved,
        resumed,
    })
}

/// Feeds the first `len` bytes of `file` to `hasher`.
async fn hash_prefix(
    file: &mut tokio::fs::File,
    len: u64,
    hasher: &mut Sha256,
) -> std::io::Result<()> {
    file.seek(std::io::SeekFrom::Start(0)).await?;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = file.read(&mut buf[..want]).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

/// Reads the first byte position of a `Content-Range: bytes a-b/n` header.
fn content_range_start(headers: &http::HeaderMap) -> Option<u64> {
    let value = headers.get(http::header::CONTENT_RANGE)?.to_str().ok()?;
    let range = value.trim().strip_prefix("bytes ")?;
    range.split_once('-')?.0.trim().parse().ok()
}

async fn discard(partial: &Path) {
    let _ = tokio::fs::remove_file(partial).await;
}

/// Returns the sha256 of a file's bytes (read off the async threads).
pub async fn hash_file(path: &Path) -> std::io::Result<(Digest, u64)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Read as _;
        let mut file = std::fs::File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
        Ok((Digest::from_bytes(hasher.finalize().into()), len))
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Fsyncs a directory so that the renames inside it are durable.
pub fn sync_dir(dir: &Path) -> ClientResult<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ClientError::local(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_reads_the_first_byte() {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::CONTENT_RANGE,
            "bytes 10-99/100".parse().unwrap(),
        );
        assert_eq!(content_range_start(&h), Some(10));
        h.insert(http::header::CONTENT_RANGE, "bytes */100".parse().unwrap());
        assert_eq!(content_range_start(&h), None);
    }
}
