//! Reading the audit log and the outbox.

use super::{Caller, Listed, Page, Registry, store_error};
use crate::domain::{AuditEvent, AuditFilter, OutboxEvent, Result, check_text};

impl Registry {
    /// Lists audit events oldest first; admins only, a repo-scoped admin sees its repo's.
    pub async fn list_audit(
        &self,
        caller: &Caller,
        mut filter: AuditFilter,
        page: &Page,
    ) -> Result<Listed<AuditEvent>> {
        for (field, value) in [("action", &filter.action), ("actor", &filter.actor)] {
            check_text(field, value.as_deref().unwrap_or_default())?;
        }
        let principal = self.authenticate(caller).await?;
        filter.repo =
            self.admin_repo_filter(&principal, filter.repo.as_deref().unwrap_or_default())?;
        let rows = self
            .store
            .list_audit(&filter, page.after_id()?, page.limit())
            .await
            .map_err(store_error)?;
        Ok(page.listed(rows, |e| e.id.to_string()))
    }

    /// Lists outbox events after an id (for the relay and tests).
    pub async fn outbox(&self, after_id: Option<i64>, limit: i64) -> Result<Vec<OutboxEvent>> {
        self.store
            .list_outbox(after_id, limit)
            .await
            .map_err(store_error)
    }
}
