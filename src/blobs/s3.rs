//! The S3-compatible blob store (`--blob-url s3://BUCKET[/PREFIX]`): its flags and how the
//! `object_store` client is built from them. Credentials, region and endpoint come from the
//! flags below or, when a flag is absent, from the usual `AWS_*` environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...), as `AmazonS3Builder::from_env` reads them.
//!
//! Everything the local store keeps in its directory lives in the bucket instead, under the
//! prefix: blobs under `sha256/`, streamed uploads' temporary objects under `uploads/`, and
//! resumable sessions under `sessions/` (`staging/remote.rs`), so that any server sharing
//! the bucket can continue a session another one started.

use std::sync::Arc;

use object_store::{ObjectStore, aws::AmazonS3Builder, prefix::PrefixStore};

use super::{BlobStore, unavailable};
use crate::domain::{Error, Result};

/// Where blobs are stored when they are not in `--blob-dir`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct BlobUrlConfig {
    /// An S3-compatible bucket to store blobs in, `s3://BUCKET[/PREFIX]` (instead of
    /// `--blob-dir`; several servers can share it).
    #[arg(long, env = "RELREG_BLOB_URL")]
    pub blob_url: Option<String>,
    /// The S3 endpoint, for S3-compatible servers (MinIO, Ceph, moto, ...); default: AWS, or
    /// `AWS_ENDPOINT`.
    #[arg(long, env = "RELREG_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The S3 region (default: `AWS_REGION`, else us-east-1).
    #[arg(long, env = "RELREG_S3_REGION")]
    pub s3_region: Option<String>,
    /// The S3 access key id (default: `AWS_ACCESS_KEY_ID`).
    #[arg(long, env = "RELREG_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    /// The S3 secret access key (default: `AWS_SECRET_ACCESS_KEY`); prefer the environment
    /// variable to the flag, which other users of the machine can see.
    #[arg(long, env = "RELREG_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allows a plain-HTTP endpoint (a local S3-compatible server).
    #[arg(long, env = "RELREG_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
}

/// Splits `s3://bucket/prefix` into the bucket and the prefix (possibly empty).
fn parse_url(url: &str) -> Result<(String, String)> {
    let Some(rest) = url.strip_prefix("s3://") else {
        return Err(Error::invalid(
            "blob_url",
            "only s3://BUCKET[/PREFIX] URLs are supported",
        ));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::invalid("blob_url", "the URL names no bucket"));
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl BlobStore {
    /// Opens the blob store the settings name: the S3 bucket of `--blob-url` when given.
    /// Returns `None` without one (the caller then opens the local directory).
    pub fn from_url(config: &BlobUrlConfig) -> Result<Option<Self>> {
        let Some(url) = &config.blob_url else {
            return Ok(None);
        };
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Some(endpoint) = &config.s3_endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &config.s3_region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &config.s3_access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.s3_secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if config.s3_allow_http {
            builder = builder.with_allow_http(true);
        }
        let s3 = builder.build().map_err(unavailable)?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix.as_str()))
        };
        Ok(Some(Self::remote(store)))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls_name_a_bucket_and_an_optional_prefix() {
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), String::new()));
        assert_eq!(
            parse_url("s3://b/x/y/").unwrap(),
            ("b".into(), "x/y".into())
        );
        assert!(parse_url("s3://").is_err());
        assert!(parse_url("gs://b").is_err());
    }
}
