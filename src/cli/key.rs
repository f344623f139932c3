//! `relreg key …`: Ed25519 signing keys (issue 11). `generate` and `show` work offline on
//! files; `root`, `trust`, `untrust` and `rotate` change or read which keys a repo trusts
//! through the server (`SetRepoKeys`, `GetTrustRoot`). A key id is the hex SHA-256 of the
//! 32-byte raw public key.

use std::path::PathBuf;

use crate::{
    client::{ClientError, ClientResult, Connection, Exit},
    domain::{KeyPair, PublicKey},
    pb,
};

use super::output::Out;

/// Key commands.
#[derive(clap::Subcommand, Debug)]
pub enum KeyCommand {
    /// Writes a new key pair: NAME.key (PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM).
    Generate {
        /// The directory to write into (created when missing).
        #[arg(long)]
        out: PathBuf,
        /// The files' base name.
        #[arg(long, default_value = "relreg-signing")]
        name: String,
    },
    /// Prints the key id of each key file (private or public PEM).
    Show {
        /// Key files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Prints a repo's root of trust (its key ids) as the server serves it.
    Root {
        /// The repo key.
        repo: String,
    },
    /// Adds a key the server holds to the keys a repo trusts (a new root).
    Trust {
        /// The repo key.
        repo: String,
        /// The key id.
        key_id: String,
    },
    /// Removes a key from the keys a repo trusts (a new root).
    Untrust {
        /// The repo key.
        repo: String,
        /// The key id.
        key_id: String,
    },
    /// Replaces every key a repo trusts by one: a new root signed by the old and new keys.
    Rotate {
        /// The repo key.
        repo: String,
        /// The new key id.
        #[arg(long)]
        to: String,
    },
}

impl KeyCommand {
    /// Tells whether the command works on files only.
    pub(super) fn is_offline(&self) -> bool {
        matches!(self, Self::Generate { .. } | Self::Show { .. })
    }
}

/// Runs an offline key command.
pub(super) fn run_offline(command: &KeyCommand, out: &Out) -> ClientResult<()> {
    match command {
        KeyCommand::Generate { out: dir, name } => generate(dir, name, out),
        KeyCommand::Show { files } => show(files, out),
        _ => Err(ClientError::internal(
            "a server key command dispatched offline",
        )),
    }
}

fn generate(dir: &std::path::Path, name: &str, out: &Out) -> ClientResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| ClientError::local(dir, e))?;
    let key = KeyPair::generate();
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    if private.exists() {
        return Err(ClientError::new(
            Exit::Local,
            format!("{}: exists; refusing to overwrite a key", private.display()),
        ));
    }
    write_private(&private, key.private_pem().as_bytes())?;
    std::fs::write(&public, key.public_pem()).map_err(|e| ClientError::local(&public, e))?;
    if out.json {
        out.json_value(&serde_json::json!({
            "key_id": key.id(),
            "private_key": private.display().to_string(),
            "public_key": public.display().to_string(),
        }))
    } else {
        out.line(&format!(
            "key {}\nprivate {}\npublic {}",
            key.id(),
            private.display(),
            public.display()
        ))
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> ClientResult<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| ClientError::local(path, e))?;
    file.write_all(bytes)
        .map_err(|e| ClientError::local(path, e))
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> ClientResult<()> {
    std::fs::write(path, bytes).map_err(|e| ClientError::local(path, e))
}

fn show(files: &[PathBuf], out: &Out) -> ClientResult<()> {
    let mut lines = Vec::new();
    let mut json = Vec::new();
    for path in files {
        let pem = std::fs::read_to_string(path).map_err(|e| ClientError::local(path, e))?;
        let key = PublicKey::from_pem(&pem).map_err(|e| ClientError::local(path, e.message))?;
        lines.push(format!("{} {}", key.id(), path.display()));
        json.push(serde_json::json!({"key_id": key.id(), "file": path.display().to_string()}));
    }
    if out.json {
        out.json_value(&serde_json::Value::Array(json))
    } else {
        out.line(&lines.join("\n"))
    }
}

fn root_text(root: Option<&pb::TrustRoot>) -> String {
    let Some(root) = root else {
        return "no root".into();
    };
    let mut lines = vec![format!(
        "root {} of {} (threshold {}, expires {})",
        root.version, root.repo, root.threshold, root.expires_unix
    )];
    lines.extend(root.keys.iter().map(|k| format!("key {}", k.key_id)));
    lines.join("\n")
}

/// Runs the key commands that need the server.
pub(super) async fn run(command: KeyCommand, conn: Connection, out: &Out) -> ClientResult<()> {
    let (repo, trust, untrust) = match command {
        KeyCommand::Root { repo } => {
            let answer = conn
                .catalog()
                .get_trust_root(pb::GetTrustRootRequest {
                    repo,
                    root_version: 0,
                })
                .await?
                .into_inner();
            return out.answer("GetTrustRootResponse", &answer, |a| {
                root_text(a.decoded.as_ref())
            });
        }
        KeyCommand::Trust { repo, key_id } => (repo, vec![key_id], vec![]),
        KeyCommand::Untrust { repo, key_id } => (repo, vec![], vec![key_id]),
        KeyCommand::Rotate { repo, to } => {
            let current = conn
                .catalog()
                .get_trust_root(pb::GetTrustRootRequest {
                    repo: repo.clone(),
                    root_version: 0,
                })
                .await?
                .into_inner();
            let old = current
                .decoded
                .map(|r| {
                    r.keys
                        .into_iter()
                        .map(|k| k.key_id)
                        .filter(|k| *k != to)
                        .collect()
                })
                .unwrap_or_default();
            (repo, vec![to], old)
        }
        KeyCommand::Generate { .. } | KeyCommand::Show { .. } => {
            return Err(ClientError::internal(
                "offline key command dispatched to the server",
            ));
        }
    };
    let answer = conn
        .admin()
        .set_repo_keys(pb::SetRepoKeysRequest {
            repo,
            trust,
            untrust,
        })
        .await?
        .into_inner();
    out.answer("SetRepoKeysResponse", &answer, |a| {
        root_text(a.decoded.as_ref())
    })
}
