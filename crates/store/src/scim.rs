//! SCIM resources (`scim_users`, `scim_groups`): the JSON document with its version,
//! and the indexed columns simple filters are pushed down to.

use crate::{q, Cols, Result, Store, StoreError, Q};

/// Which resource table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScimKind {
    User,
    Group,
}

impl ScimKind {
    fn table(self) -> &'static str {
        match self {
            Self::User => "scim_users",
            Self::Group => "scim_groups",
        }
    }

    /// The name columns: `userName` for users, `displayName` for groups.
    fn name_cols(self) -> (&'static str, &'static str) {
        match self {
            Self::User => ("user_name", "user_name_lc"),
            Self::Group => ("display_name", "display_name_lc"),
        }
    }
}

/// One stored resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimRow {
    pub id: String,
    pub doc: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The indexed values of a resource, written beside its document.
#[derive(Debug, Clone, Default)]
pub struct ScimKeys {
    /// `userName` or `displayName` (unique, case-insensitively).
    pub name: String,
    pub external_id: Option<String>,
    /// Enterprise `employeeNumber` (users).
    pub employee_number: Option<String>,
}

/// A pushed-down equality filter.
#[derive(Debug, Clone)]
pub enum ScimLookup {
    /// The name, compared case-insensitively.
    Name(String),
    ExternalId(String),
    EmployeeNumber(String),
}

const COLS: &str = "id, doc, version, created_at, updated_at";

fn row(r: &dyn Cols) -> Result<ScimRow> {
    Ok(ScimRow {
        id: r.req_text("id")?,
        doc: r.req_text("doc")?,
        version: r.req_int("version")?,
        created_at: r.req_int("created_at")?,
        updated_at: r.req_int("updated_at")?,
    })
}

impl Store {
    /// Inserts a resource at version 1. A taken name is `StoreError::Unique`.
    pub async fn scim_insert(&self, kind: ScimKind, id: &str, keys: &ScimKeys, doc: &str, now: i64) -> Result<ScimRow> {
        let (name, name_lc) = kind.name_cols();
        let sql = format!(
            "INSERT INTO {} (id, {name}, {name_lc}, external_id, employee_number, doc, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
            kind.table()
        );
        q(&sql)
            .arg(id)
            .arg(keys.name.as_str())
            .arg(keys.name.to_lowercase())
            .arg(keys.external_id.clone())
            .arg(keys.employee_number.clone())
            .arg(doc)
            .arg(now)
            .build()
            .execute(self.pool())
            .await?;
        self.scim_get(kind, id).await
    }

    /// One resource (`NotFound` when absent).
    pub async fn scim_get(&self, kind: ScimKind, id: &str) -> Result<ScimRow> {
        let qb = q(&format!("SELECT {COLS} FROM {} WHERE id = $1", kind.table())).arg(id);
        self.read_row(&qb, row).await
    }

    /// Replaces a resource if it is still at `version`; `Ok(None)` when another change
    /// came first, `NotFound` when it is gone. The version advances by one.
    pub async fn scim_update(
        &self,
        kind: ScimKind,
        id: &str,
        keys: &ScimKeys,
        doc: &str,
        version: i64,
        now: i64,
    ) -> Result<Option<ScimRow>> {
        let (name, name_lc) = kind.name_cols();
        let sql = format!(
            "UPDATE {} SET {name} = $1, {name_lc} = $2, external_id = $3, employee_number = $4, doc = $5, \
             version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8",
            kind.table()
        );
        let done = q(&sql)
            .arg(keys.name.as_str())
            .arg(keys.name.to_lowercase())
            .arg(keys.external_id.clone())
            .arg(keys.employee_number.clone())
            .arg(doc)
            .arg(now)
            .arg(id)
            .arg(version)
            .build()
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            self.scim_get(kind, id).await?;
            return Ok(None);
        }
        self.scim_get(kind, id).await.map(Some)
    }

    /// Deletes a resource (`NotFound` when absent).
    pub async fn scim_delete(&self, kind: ScimKind, id: &str) -> Result<()> {
        let done =
            q(&format!("DELETE FROM {} WHERE id = $1", kind.table())).arg(id).build().execute(self.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Resources matching a pushed-down equality, or all of them, oldest first.
    pub async fn scim_list(&self, kind: ScimKind, lookup: Option<&ScimLookup>) -> Result<Vec<ScimRow>> {
        let mut qb = Q::new(&format!("SELECT {COLS} FROM {} WHERE 1 = 1", kind.table()));
        match lookup {
            None => {}
            Some(ScimLookup::Name(n)) => {
                qb.push(&format!(" AND {} = ", kind.name_cols().1)).bind(n.to_lowercase());
            }
            Some(ScimLookup::ExternalId(x)) => {
                qb.push(" AND external_id = ").bind(x.as_str());
            }
            Some(ScimLookup::EmployeeNumber(x)) => {
                qb.push(" AND employee_number = ").bind(x.as_str());
            }
        }
        qb.push(" ORDER BY created_at, id");
        self.read_all(qb, row).await
    }
}
