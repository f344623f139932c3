//! Tests of upload sessions: ordered appends, atomic commit, busy sessions, sweeping, and
//! stores without sessions.

use bytes::Bytes;

use super::*;

fn chunks(parts: &[&'static [u8]]) -> ByteStream {
    let items: Vec<Result<Bytes>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
    Box::pin(futures::stream::iter(items))
}

fn digest_of(data: &[u8]) -> Digest {
    Digest::from_bytes(Sha256::digest(data).into())
}

fn files(dir: &FsPath) -> usize {
    std::fs::read_dir(dir.join(SESSIONS))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test]
async fn sessions_append_in_order_and_commit_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let s = store.open_session("acme", 1).await.unwrap();
    assert_eq!(s.offset, 0);
    assert_eq!(store.session(&s.id).await.unwrap(), Some(s.clone()));
    let off = store
        .append_session(&s.id, Some(0..=5), chunks(&[b"hel", b"lo "]), 100)
        .await
        .unwrap();
    assert_eq!(off, 6);
    // Out of order: refused, nothing changes.
    let err = store
        .append_session(&s.id, Some(3..=5), chunks(&[b"xyz"]), 100)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RangeNotSatisfiable);
    // A body that disagrees with its range, or breaks the limit: refused, rolled back.
    let err = store
        .append_session(&s.id, Some(6..=7), chunks(&[b"abc"]), 100)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    let err = store
        .append_session(&s.id, None, chunks(&[b"0123456789"]), 10)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::BlobTooLarge);
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().offset, 6);
    // A body that breaks off keeps what arrived.
    let broken: ByteStream = Box::pin(futures::stream::iter(vec![
        Ok(Bytes::from_static(b"wo")),
        Err(Error::new(ErrorCode::Unavailable, "connection reset")),
    ]));
    assert!(
        store
            .append_session(&s.id, None, broken, 100)
            .await
            .is_err()
    );
    assert_eq!(store.session(&s.id).await.unwrap().unwrap().offset, 8);
    let expected = Expected {
        digest: Some(digest_of(b"hello world")),
        size: None,
    };
    let stored = store
        .complete_session(
            &s.id,
            Some((Some(8..=10), chunks(&[b"rld"]))),
            expected,
            100,
        )
        .await
        .unwrap();
    assert_eq!(stored.size, 11);
    assert_eq!(store.size(&stored.digest).await.unwrap(), Some(11));
    assert_eq!(store.session(&s.id).await.unwrap(), None);
    assert_eq!(files(dir.path()), 0);

    // A wrong digest removes the session and leaves nothing visible.
    let s = store.open_session("acme", 2).await.unwrap();
    store
        .append_session(&s.id, None, chunks(&[b"abc"]), 100)
        .await
        .unwrap();
    let wrong = Expected {
        digest: Some(digest_of(b"abd")),
        size: None,
    };
    let err = store
        .complete_session(&s.id, None, wrong, 100)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::DigestMismatch);
    assert_eq!(store.size(&digest_of(b"abc")).await.unwrap(), None);
    assert_eq!(store.session(&s.id).await.unwrap(), None);
    assert_eq!(files(dir.path()), 0);
    assert!(!store.remove_session(&s.id).await.unwrap());
    assert_eq!(store.session("../../etc").await.unwrap(), None);
}

#[tokio::test]
async fn a_session_being_written_is_busy() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let s = store.open_session("acme", 1).await.unwrap();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Bytes>>();
    tx.unbounded_send(Ok(Bytes::from_static(b"ab"))).unwrap();
    let writer = {
        let (store, id) = (store.clone(), s.id.clone());
        tokio::spawn(async move { store.append_session(&id, None, Box::pin(rx), 100).await })
    };
    while store.session(&s.id).await.unwrap().unwrap().offset < 2 {
        tokio::task::yield_now().await;
    }
    let err = store
        .append_session(&s.id, Some(2..=2), chunks(&[b"c"]), 100)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RangeNotSatisfiable);
    assert_eq!(
        sweep(
            &dir.path().join(SESSIONS),
            Duration::ZERO,
            SystemTime::now() + Duration::from_secs(1)
        )
        .unwrap(),
        0,
        "a session being written is not swept"
    );
    drop(tx);
    assert_eq!(writer.await.unwrap().unwrap(), 2);
}

#[tokio::test]
async fn sweeps_remove_expired_sessions_with_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::local(dir.path()).unwrap();
    let old = store.open_session("acme", 1).await.unwrap();
    store
        .append_session(&old.id, None, chunks(&[b"stale bytes"]), 100)
        .await
        .unwrap();
    let sessions = dir.path().join(SESSIONS);
    let day_ago = SystemTime::now() - Duration::from_secs(25 * 3600);
    std::fs::File::options()
        .write(true)
        .open(sessions.join(&old.id))
        .unwrap()
        .set_modified(day_ago)
        .unwrap();
    let fresh = store.open_session("acme", 2).await.unwrap();
    std::fs::write(sessions.join("not-a-session"), b"kept").unwrap();
    let ttl = Duration::from_secs(24 * 3600);
    assert_eq!(store.sweep_sessions(ttl).await.unwrap(), 1);
    assert_eq!(store.session(&old.id).await.unwrap(), None);
    assert!(!sessions.join(&old.id).exists());
    assert!(!sessions.join(format!("{}.json", old.id)).exists());
    assert!(store.session(&fresh.id).await.unwrap().is_some());
    assert!(sessions.join("not-a-session").exists());
    // A zero TTL expires everything not written to since.
    let later = SystemTime::now() + Duration::from_secs(1);
    assert_eq!(sweep(&sessions, Duration::ZERO, later).unwrap(), 1);
    assert_eq!(store.session(&fresh.id).await.unwrap(), None);
}

#[tokio::test]
async fn memory_stores_keep_sessions_in_the_store() {
    use futures::TryStreamExt as _;
    let store = BlobStore::memory();
    let session = store.open_session("acme", 1).await.unwrap();
    let body = |b: &'static [u8]| -> ByteStream {
        Box::pin(futures::stream::iter([Ok(bytes::Bytes::from_static(b))]))
    };
    assert_eq!(
        store
            .append_session(&session.id, Some(0..=2), body(b"abc"), 100)
            .await
            .unwrap(),
        3
    );
    let err = store
        .append_session(&session.id, Some(1..=3), body(b"bcd"), 100)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::RangeNotSatisfiable);
    assert_eq!(store.session(&session.id).await.unwrap().unwrap().offset, 3);
    let stored = store
        .complete_session(
            &session.id,
            Some((None, body(b"def"))),
            Expected::default(),
            100,
        )
        .await
        .unwrap();
    assert_eq!(stored.size, 6);
    let read: Vec<bytes::Bytes> = store
        .read(&stored.digest, 0..6)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.concat(), b"abcdef");
    assert_eq!(store.session(&session.id).await.unwrap(), None);
    assert!(
        store
            .staging_leftovers(Duration::ZERO, false)
            .await
            .unwrap()
            .is_empty()
    );

    // A session nobody writes to expires, with its chunks, in the store.
    let idle = store.open_session("acme", 2).await.unwrap();
    store
        .append_session(&idle.id, None, body(b"xyz"), 100)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let found = store
        .staging_leftovers(Duration::from_millis(1), true)
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, format!("sessions/{}", idle.id));
    assert!(found[0].bytes > 3, "the chunk and the metadata: {found:?}");
    assert_eq!(store.session(&idle.id).await.unwrap(), None);
}
