//! The sync directory's stable client id (`D/client-id`): generated once (16 random bytes,
//! hex), sent with every "latest" question so that the server draws this install's rollout
//! cohorts the same way every time.

use std::path::Path;

use crate::client::error::{ClientError, ClientResult};

const FILE: &str = "client-id";

/// Returns the directory's client id, generating and storing it on first use (written to a
/// temporary file and renamed, so a crash never leaves a half-written id).
pub(crate) fn client_id(dir: &Path) -> ClientResult<String> {
    if let Some(id) = existing(dir) {
        return Ok(id);
    }
    let id = hex::encode(rand::random::<[u8; 16]>());
    let (path, tmp) = (dir.join(FILE), dir.join(format!("{FILE}.tmp")));
    std::fs::write(&tmp, format!("{id}\n")).map_err(|e| ClientError::local(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| ClientError::local(&path, e))?;
    Ok(id)
}

/// Returns the directory's client id if it has one (empty otherwise).
pub(crate) fn existing_client_id(dir: &Path) -> String {
    existing(dir).unwrap_or_default()
}

fn existing(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(FILE)).ok()?;
    let id = text.trim();
    (!id.is_empty() && id.len() <= 128).then(|| id.to_owned())
}
