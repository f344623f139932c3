//! The tonic services: `ReleaseAdmin` and `ReleaseCatalog`.

mod admin;
mod catalog;
mod commands;
mod convert;
mod events;
mod trust;

pub(crate) use trust::MANIFEST_SIGNATURE;

pub use admin::AdminService;
pub use catalog::CatalogService;

use crate::api::caller::from_grpc as caller;
