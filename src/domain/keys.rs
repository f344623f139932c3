//! Ed25519 signing keys and signatures (issue 11). A key is identified by its key id: the
//! lowercase hex SHA-256 of its 32-byte raw public key. Private keys are PKCS#8 PEM files
//! (`relreg key generate` writes them with mode 0600; the server loads them from files, never
//! from the database); public keys are SubjectPublicKeyInfo PEM files. Signatures are plain
//! Ed25519 over the exact payload bytes.

use std::path::Path;

use ed25519_dalek::{
    Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey,
    pkcs8::{
        DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _,
    },
};
use sha2::{Digest as _, Sha256};

use super::{Error, ErrorCode, Result};

/// Returns the key id of a raw Ed25519 public key: hex SHA-256 of its 32 bytes.
pub fn key_id(public_key: &[u8; 32]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// A private signing key with its key id.
#[derive(Clone)]
pub struct KeyPair {
    key: SigningKey,
    id: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Generates a fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let seed: [u8; 32] = rand::random();
        Self::from_key(SigningKey::from_bytes(&seed))
    }

    fn from_key(key: SigningKey) -> Self {
        let id = key_id(key.verifying_key().as_bytes());
        Self { key, id }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        SigningKey::from_pkcs8_pem(pem)
            .map(Self::from_key)
            .map_err(|e| {
                Error::invalid(
                    "signing_key",
                    format!("not an Ed25519 PKCS#8 PEM private key: {e}"),
                )
            })
    }

    /// Reads a private key file.
    pub fn load(path: &Path) -> Result<Self> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                "signing_key",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        Self::from_pem(&pem).map_err(|e| {
            Error::invalid("signing_key", format!("{}: {}", path.display(), e.message))
        })
    }

    /// Returns the private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        self.key
            .to_pkcs8_pem(Default::default())
            .map(|pem| pem.to_string())
            .expect("an Ed25519 key always encodes")
    }

    /// Returns the public key as SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> String {
        self.key
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("an Ed25519 key always encodes")
    }

    /// Returns the key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs bytes.
    pub fn sign(&self, payload: &[u8]) -> [u8; 64] {
        self.key.sign(payload).to_bytes()
    }
}

/// A public key, to verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: String,
}

impl PublicKey {
    /// Reads a raw 32-byte Ed25519 public key.
    pub fn from_raw(raw: &[u8]) -> Result<Self> {
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| Error::invalid("public_key", "must be 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&raw)
            .map_err(|e| Error::invalid("public_key", format!("not an Ed25519 key: {e}")))?;
        Ok(Self {
            id: key_id(&raw),
            key,
        })
    }

    /// Reads a public key from PEM: SubjectPublicKeyInfo, or a PKCS#8 private key (its
    /// public half).
    pub fn from_pem(pem: &str) -> Result<Self> {
        let key = match VerifyingKey::from_public_key_pem(pem) {
            Ok(key) => key,
            Err(_) => SigningKey::from_pkcs8_pem(pem)
                .map(|k| k.verifying_key())
                .map_err(|e| {
                    Error::invalid("public_key", format!("not an Ed25519 PEM key: {e}"))
                })?,
        };
        Ok(Self {
            id: key_id(key.as_bytes()),
            key,
        })
    }

    /// Returns the key id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the raw public key.
    pub fn raw(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// Checks a signature over `payload`.
    pub fn verify(&self, payload: &[u8], signature: &[u8]) -> Result<()> {
        let signature = Signature::from_slice(signature)
            .map_err(|_| Error::new(ErrorCode::InvalidArgument, "signature: malformed"))?;
        self.key.verify(payload, &signature).map_err(|_| {
            Error::new(
                ErrorCode::FailedPrecondition,
                format!("signature by key {} does not verify", self.id),
            )
        })
    }
}

/// The signing keys a server holds, by key id.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<KeyPair>,
}

impl Keyring {
    /// Returns a keyring over keys (duplicates dropped).
    pub fn new(keys: Vec<KeyPair>) -> Self {
        let mut out: Vec<KeyPair> = Vec::with_capacity(keys.len());
        for k in keys {
            if !out.iter().any(|o| o.id == k.id) {
                out.push(k);
            }
        }
        Self { keys: out }
    }

    /// Loads every key file.
    pub fn load(paths: &[std::path::PathBuf]) -> Result<Self> {
        paths
            .iter()
            .map(|p| KeyPair::load(p))
            .collect::<Result<Vec<_>>>()
            .map(Self::new)
    }

    /// Returns the key with this id, if held.
    pub fn get(&self, id: &str) -> Option<&KeyPair> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Returns every key.
    pub fn keys(&self) -> &[KeyPair] {
        &self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key_id_and_signatures_verify() {
        let k = KeyPair::generate();
        let again = KeyPair::from_pem(&k.private_pem()).unwrap();
        assert_eq!(again.id(), k.id());
        let public = PublicKey::from_pem(&k.public_pem()).unwrap();
        assert_eq!(public.id(), k.id());
        assert_eq!(k.id(), key_id(&k.public_key()));
        let sig = k.sign(b"payload");
        public.verify(b"payload", &sig).unwrap();
        assert!(public.verify(b"payload!", &sig).is_err());
    }
}

/// Signed bytes with their signatures, as stored and served.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The exact signed bytes.
    pub payload: Vec<u8>,
    /// `(key id, 64-byte signature)` pairs.
    pub signatures: Vec<(String, Vec<u8>)>,
}

impl Envelope {
    /// Signs `payload` with every key given.
    pub fn sign<'k>(payload: Vec<u8>, keys: impl IntoIterator<Item = &'k KeyPair>) -> Self {
        let signatures = keys
            .into_iter()
            .map(|k| (k.id().to_owned(), k.sign(&payload).to_vec()))
            .collect();
        Self {
            payload,
            signatures,
        }
    }

    /// Returns whether a signature by `key` verifies.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        self.signatures
            .iter()
            .any(|(id, sig)| id == key.id() && key.verify(&self.payload, sig).is_ok())
    }

    /// Returns the payload as stored (base64).
    pub fn stored_payload(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.payload)
    }

    /// Returns the signatures as stored (a JSON array of `{key_id, signature}`, base64).
    pub fn stored_signatures(&self) -> String {
        use base64::Engine as _;
        let list: Vec<serde_json::Value> = self
            .signatures
            .iter()
            .map(|(id, sig)| {
                serde_json::json!({
                    "key_id": id,
                    "signature": base64::engine::general_purpose::STANDARD.encode(sig),
                })
            })
            .collect();
        serde_json::Value::Array(list).to_string()
    }

    /// Reads an envelope as stored.
    pub fn from_stored(payload: &str, signatures: &str) -> std::result::Result<Self, String> {
        use base64::Engine as _;
        let b64 = &base64::engine::general_purpose::STANDARD;
        let payload = b64
            .decode(payload)
            .map_err(|e| format!("stored payload: {e}"))?;
        let list: Vec<serde_json::Value> =
            serde_json::from_str(signatures).map_err(|e| format!("stored signatures: {e}"))?;
        let mut out = Vec::with_capacity(list.len());
        for s in list {
            let id = s["key_id"].as_str().ok_or("stored signature: no key_id")?;
            let sig = s["signature"]
                .as_str()
                .ok_or("stored signature: no signature")?;
            let sig = b64
                .decode(sig)
                .map_err(|e| format!("stored signature: {e}"))?;
            out.push((id.to_owned(), sig));
        }
        Ok(Self {
            payload,
            signatures: out,
        })
    }
}
