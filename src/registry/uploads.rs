//! Resumable upload sessions: bytes staged per session, completed into the blob store.
