//! Users, role grants, second factor, sessions and API tokens.

use crate::{i, oi, oparse, os, parse, q, s, Result, Store, StoreError, Q};
use bposhield_proto::*;
use sqlx::any::AnyRow;
use std::collections::HashMap;

const USER_COLS: &str = "id, username, display_name, person_id, disabled, totp_enabled, created_at, last_sign_in_at";

/// What sign-in needs to know about a user, secrets included. Never leaves the server.
#[derive(Clone)]
pub struct UserAuthRow {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub person_id: Option<PersonId>,
    pub password_hash: String,
    pub disabled: bool,
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
}

impl std::fmt::Debug for UserAuthRow {
    // Secrets stay out of logs even when someone debug-prints the row.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserAuthRow").field("id", &self.id).field("username", &self.username).finish_non_exhaustive()
    }
}

/// A stored session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_id: UserId,
    pub csrf: String,
    pub mfa_pending: bool,
    pub created_at: i64,
    pub last_seen_at: i64,
}

fn user_row(r: &AnyRow) -> Result<User> {
    Ok(User {
        id: parse(r, "id")?,
        username: s(r, "username")?,
        display_name: s(r, "display_name")?,
        person_id: oparse(r, "person_id")?,
        disabled: i(r, "disabled")? != 0,
        totp_enabled: i(r, "totp_enabled")? != 0,
        grants: Vec::new(),
        created_at: i(r, "created_at")?,
        last_sign_in_at: oi(r, "last_sign_in_at")?,
    })
}

/// An API token row (the secret itself is never stored, only its hash).
fn token_row(r: &AnyRow) -> Result<TokenInfo> {
    let grants_json = s(r, "grants")?;
    let grants: Vec<GrantInput> =
        serde_json::from_str(&grants_json).map_err(|e| StoreError::Corrupt(format!("token grants: {e}")))?;
    Ok(TokenInfo {
        id: parse(r, "id")?,
        user_id: parse(r, "user_id")?,
        name: s(r, "name")?,
        grants,
        created_at: i(r, "created_at")?,
        expires_at: oi(r, "expires_at")?,
        last_used_at: oi(r, "last_used_at")?,
        revoked: oi(r, "revoked_at")?.is_some(),
    })
}

const TOKEN_COLS: &str = "id, user_id, name, grants, created_at, expires_at, last_used_at, revoked_at";

impl Store {
    // ---- users ---------------------------------------------------------------------

    /// Inserts a user with its grants, in one transaction.
    pub async fn insert_user(
        &self,
        id: UserId,
        input: &UserInput,
        password_hash: &str,
        grants: &[(GrantId, GrantInput)],
        now: i64,
    ) -> Result<User> {
        let mut tx = self.pool().begin().await?;
        q("INSERT INTO users (id, username, display_name, person_id, password_hash, created_at, password_changed_at, search) VALUES ($1, $2, $3, $4, $5, $6, $6, $7)")
            .arg(id.to_string())
            .arg(input.username.as_str())
            .arg(input.display_name.trim())
            .arg(input.person_id.map(|p| p.to_string()))
            .arg(password_hash)
            .arg(now)
            // Lower-cased here, not with SQL LOWER(), which is ASCII-only on SQLite.
            .arg(format!("{} {}", input.username, input.display_name.trim()).to_lowercase())
            .build()
            .execute(&mut *tx)
            .await?;
        for (gid, g) in grants {
            q("INSERT INTO grants (id, user_id, role, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
                .arg(gid.to_string())
                .arg(id.to_string())
                .arg(g.role.as_str())
                .arg(g.scope.to_string())
                .arg(now)
                .build()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.user(id).await
    }

    /// One user with grants.
    pub async fn user(&self, id: UserId) -> Result<User> {
        let r = q(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_one(self.pool())
            .await?;
        let mut u = user_row(&r)?;
        u.grants = self.grants(id).await?;
        Ok(u)
    }

    /// The user linked to a person, if any.
    pub async fn user_by_person(&self, person: PersonId) -> Result<Option<User>> {
        let r = q("SELECT id FROM users WHERE person_id = $1")
            .arg(person.to_string())
            .build()
            .fetch_optional(self.pool())
            .await?;
        match r {
            None => Ok(None),
            Some(r) => Ok(Some(self.user(parse(&r, "id")?).await?)),
        }
    }

    /// Sign-in data for a username.
    pub async fn user_auth_by_username(&self, username: &str) -> Result<Option<UserAuthRow>> {
        let r = q("SELECT id, username, display_name, person_id, password_hash, disabled, totp_secret, totp_enabled, totp_last_step, failed_logins, locked_until FROM users WHERE username = $1")
            .arg(username)
            .build()
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| {
            Ok(UserAuthRow {
                id: parse(&r, "id")?,
                username: s(&r, "username")?,
                display_name: s(&r, "display_name")?,
                person_id: oparse(&r, "person_id")?,
                password_hash: s(&r, "password_hash")?,
                disabled: i(&r, "disabled")? != 0,
                totp_secret: os(&r, "totp_secret")?,
                totp_enabled: i(&r, "totp_enabled")? != 0,
                totp_last_step: oi(&r, "totp_last_step")?,
                failed_logins: i(&r, "failed_logins")?,
                locked_until: oi(&r, "locked_until")?,
            })
        })
        .transpose()
    }

    /// Sign-in data for a user id.
    pub async fn user_auth(&self, id: UserId) -> Result<UserAuthRow> {
        let r =
            q("SELECT username FROM users WHERE id = $1").arg(id.to_string()).build().fetch_one(self.pool()).await?;
        self.user_auth_by_username(&s(&r, "username")?).await?.ok_or(StoreError::NotFound)
    }

    /// A page of users (optionally matching a username/display-name substring), with grants.
    pub async fn users(&self, term: Option<&str>, limit: u32, offset: u64) -> Result<(Vec<User>, u64)> {
        let mut wh = Q::new("");
        if let Some(t) = term.map(str::trim).filter(|t| !t.is_empty()) {
            let pat = crate::like_contains(t);
            wh.push(" AND search LIKE ").bind(pat).push(" ESCAPE '\\'");
        }
        let where_sql = wh.sql.clone();
        let mut count = wh;
        count.sql = format!("SELECT COUNT(*) AS n FROM users WHERE 1 = 1{where_sql}");
        let total = i(&count.build().fetch_one(self.pool()).await?, "n")?;
        let mut list = count;
        list.sql = format!("SELECT {USER_COLS} FROM users WHERE 1 = 1{where_sql} ORDER BY username LIMIT ");
        list.bind(i64::from(limit)).push(" OFFSET ").bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows = list.build().fetch_all(self.pool()).await?;
        let mut users = rows.iter().map(user_row).collect::<Result<Vec<_>>>()?;
        self.attach_grants(&mut users).await?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }

    async fn attach_grants(&self, users: &mut [User]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let mut qb = Q::new("SELECT id, user_id, role, scope FROM grants WHERE user_id IN (");
        for (n, u) in users.iter().enumerate() {
            if n > 0 {
                qb.push(", ");
            }
            qb.bind(u.id.to_string());
        }
        qb.push(") ORDER BY role, scope");
        let rows = qb.build().fetch_all(self.pool()).await?;
        let mut by_user: HashMap<UserId, Vec<Grant>> = HashMap::new();
        for r in &rows {
            by_user.entry(parse(r, "user_id")?).or_default().push(Grant {
                id: parse(r, "id")?,
                role: parse(r, "role")?,
                scope: parse(r, "scope")?,
            });
        }
        for u in users {
            u.grants = by_user.remove(&u.id).unwrap_or_default();
        }
        Ok(())
    }

    /// A user's grants.
    pub async fn grants(&self, user: UserId) -> Result<Vec<Grant>> {
        let rows = q("SELECT id, role, scope FROM grants WHERE user_id = $1 ORDER BY role, scope")
            .arg(user.to_string())
            .build()
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| Ok(Grant { id: parse(r, "id")?, role: parse(r, "role")?, scope: parse(r, "scope")? }))
            .collect()
    }

    /// Adds a grant.
    pub async fn insert_grant(&self, id: GrantId, user: UserId, g: &GrantInput, now: i64) -> Result<()> {
        q("INSERT INTO grants (id, user_id, role, scope, created_at) VALUES ($1, $2, $3, $4, $5)")
            .arg(id.to_string())
            .arg(user.to_string())
            .arg(g.role.as_str())
            .arg(g.scope.to_string())
            .arg(now)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Removes a grant of a user.
    pub async fn delete_grant(&self, user: UserId, id: GrantId) -> Result<()> {
        let r = q("DELETE FROM grants WHERE id = $1 AND user_id = $2")
            .arg(id.to_string())
            .arg(user.to_string())
            .build()
            .execute(self.pool())
            .await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Sets or clears `disabled`.
    pub async fn set_user_disabled(&self, id: UserId, disabled: bool) -> Result<()> {
        self.exec_one(q("UPDATE users SET disabled = $1 WHERE id = $2").arg(disabled).arg(id.to_string())).await
    }

    /// Replaces the password hash and clears any lockout.
    pub async fn set_password(&self, id: UserId, hash: &str, now: i64) -> Result<()> {
        self.exec_one(
            q("UPDATE users SET password_hash = $1, password_changed_at = $2, failed_logins = 0, locked_until = NULL WHERE id = $3")
                .arg(hash)
                .arg(now)
                .arg(id.to_string()),
        )
        .await
    }

    /// Records a failed sign-in; locks until `lock_until` when given.
    pub async fn record_failed_login(&self, id: UserId, lock_until: Option<i64>) -> Result<()> {
        self.exec_one(
            q("UPDATE users SET failed_logins = failed_logins + 1, locked_until = COALESCE($1, locked_until) WHERE id = $2")
                .arg(lock_until)
                .arg(id.to_string()),
        )
        .await
    }

    /// Records a successful sign-in.
    pub async fn record_sign_in(&self, id: UserId, now: i64) -> Result<()> {
        self.exec_one(
            q("UPDATE users SET failed_logins = 0, locked_until = NULL, last_sign_in_at = $1 WHERE id = $2")
                .arg(now)
                .arg(id.to_string()),
        )
        .await
    }

    /// Stores a pending TOTP secret (hex) not yet confirmed.
    pub async fn set_totp_secret(&self, id: UserId, secret_hex: Option<&str>, enabled: bool) -> Result<()> {
        self.exec_one(
            q("UPDATE users SET totp_secret = $1, totp_enabled = $2, totp_last_step = NULL WHERE id = $3")
                .arg(secret_hex.map(str::to_owned))
                .arg(enabled)
                .arg(id.to_string()),
        )
        .await
    }

    /// Remembers the last TOTP step used, refusing replays. Returns false when a
    /// concurrent sign-in already used this or a later step.
    pub async fn use_totp_step(&self, id: UserId, step: i64) -> Result<bool> {
        let r =
            q("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)")
                .arg(step)
                .arg(id.to_string())
                .build()
                .execute(self.pool())
                .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces a user's recovery codes.
    pub async fn set_recovery_codes(&self, id: UserId, hashes: &[String]) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        q("DELETE FROM recovery_codes WHERE user_id = $1").arg(id.to_string()).build().execute(&mut *tx).await?;
        for h in hashes {
            q("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .arg(id.to_string())
                .arg(h.as_str())
                .build()
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Uses a recovery code once. True when it was valid and unused.
    pub async fn consume_recovery_code(&self, id: UserId, hash: &str, now: i64) -> Result<bool> {
        let r = q("UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL")
            .arg(now)
            .arg(id.to_string())
            .arg(hash)
            .build()
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, id: UserId) -> Result<u64> {
        let r = q("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL")
            .arg(id.to_string())
            .build()
            .fetch_one(self.pool())
            .await?;
        Ok(u64::try_from(i(&r, "n")?).unwrap_or(0))
    }

    // ---- sessions ------------------------------------------------------------------

    /// Stores a session under the hash of its cookie value.
    pub async fn insert_session(
        &self,
        id_hash: &str,
        user: UserId,
        csrf: &str,
        mfa_pending: bool,
        now: i64,
        ip: Option<String>,
    ) -> Result<()> {
        q("INSERT INTO sessions (id_hash, user_id, csrf, mfa_pending, created_at, last_seen_at, source_ip) VALUES ($1, $2, $3, $4, $5, $5, $6)")
            .arg(id_hash)
            .arg(user.to_string())
            .arg(csrf)
            .arg(mfa_pending)
            .arg(now)
            .arg(ip)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Looks a session up.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let r = q("SELECT user_id, csrf, mfa_pending, created_at, last_seen_at FROM sessions WHERE id_hash = $1")
            .arg(id_hash)
            .build()
            .fetch_optional(self.pool())
            .await?;
        r.map(|r| {
            Ok(SessionRow {
                user_id: parse(&r, "user_id")?,
                csrf: s(&r, "csrf")?,
                mfa_pending: i(&r, "mfa_pending")? != 0,
                created_at: i(&r, "created_at")?,
                last_seen_at: i(&r, "last_seen_at")?,
            })
        })
        .transpose()
    }

    /// Slides a session's idle timer.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<()> {
        q("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .arg(now)
            .arg(id_hash)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends one session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        q("DELETE FROM sessions WHERE id_hash = $1").arg(id_hash).build().execute(self.pool()).await?;
        Ok(())
    }

    /// Ends every session of a user; returns how many.
    pub async fn delete_user_sessions(&self, user: UserId) -> Result<u64> {
        let r = q("DELETE FROM sessions WHERE user_id = $1").arg(user.to_string()).build().execute(self.pool()).await?;
        Ok(r.rows_affected())
    }

    /// Drops sessions idle since before `idle_before` or created before `created_before`.
    pub async fn purge_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64> {
        let r = q("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .arg(idle_before)
            .arg(created_before)
            .build()
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected())
    }

    // ---- API tokens ----------------------------------------------------------------

    /// Stores a token by the hash of its secret.
    pub async fn insert_token(&self, info: &TokenInfo, secret_hash: &str) -> Result<()> {
        let grants = serde_json::to_string(&info.grants).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        q("INSERT INTO api_tokens (id, user_id, name, secret_hash, grants, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .arg(info.id.to_string())
            .arg(info.user_id.to_string())
            .arg(info.name.as_str())
            .arg(secret_hash)
            .arg(grants)
            .arg(info.created_at)
            .arg(info.expires_at)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Finds a token by the hash of its secret.
    pub async fn token_by_hash(&self, secret_hash: &str) -> Result<Option<TokenInfo>> {
        let r = q(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE secret_hash = $1"))
            .arg(secret_hash)
            .build()
            .fetch_optional(self.pool())
            .await?;
        r.as_ref().map(token_row).transpose()
    }

    /// One token.
    pub async fn token(&self, id: TokenId) -> Result<TokenInfo> {
        let r = q(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"))
            .arg(id.to_string())
            .build()
            .fetch_one(self.pool())
            .await?;
        token_row(&r)
    }

    /// Tokens of one user, or of everyone.
    pub async fn tokens(&self, user: Option<UserId>) -> Result<Vec<TokenInfo>> {
        let mut qb = Q::new(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE 1 = 1"));
        if let Some(u) = user {
            qb.push(" AND user_id = ").bind(u.to_string());
        }
        qb.push(" ORDER BY created_at DESC, id");
        let rows = qb.build().fetch_all(self.pool()).await?;
        rows.iter().map(token_row).collect()
    }

    /// Notes a token's use (at most once a minute, to keep reads cheap).
    pub async fn touch_token(&self, id: TokenId, now: i64) -> Result<()> {
        q("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
            .arg(now)
            .arg(id.to_string())
            .arg(now - 60)
            .build()
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Revokes one token.
    pub async fn revoke_token(&self, id: TokenId, now: i64) -> Result<()> {
        self.exec_one(
            q("UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2").arg(now).arg(id.to_string()),
        )
        .await
    }

    /// Revokes every token of a user; returns how many were live.
    pub async fn revoke_user_tokens(&self, user: UserId, now: i64) -> Result<u64> {
        let r = q("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .arg(now)
            .arg(user.to_string())
            .build()
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected())
    }

    // ---- access epoch ----------------------------------------------------------------

    /// The current access epoch (see the `auth_epoch` table).
    pub async fn auth_epoch(&self) -> Result<i64> {
        let r = sqlx::query("SELECT epoch FROM auth_epoch WHERE id = 1").fetch_one(self.pool()).await?;
        i(&r, "epoch")
    }

    /// Advances the access epoch: every replica drops its cached authentications.
    pub async fn bump_auth_epoch(&self) -> Result<()> {
        sqlx::query("UPDATE auth_epoch SET epoch = epoch + 1 WHERE id = 1").execute(self.pool()).await?;
        Ok(())
    }

    async fn exec_one(&self, qb: Q) -> Result<()> {
        let r = qb.build().execute(self.pool()).await?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
