//! The request context: request id, source address, and who is calling (session cookie
//! or bearer token), resolved once per request by [`context_mw`]. The same middleware
//! renders every [`AppError`] as JSON for `/api/…` and as an HTML page elsewhere, and
//! adds the security headers.

use crate::error::AppError;
use crate::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use bposhield_core::Actor;
use bposhield_proto::{ErrorCode, TokenId, User};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "bps_session";
/// Name of the pre-sign-in CSRF cookie (double-submit on the sign-in form).
pub const PRE_COOKIE: &str = "bps_pre";
/// Prefix of API token secrets, so leaked tokens are recognisable by secret scanners.
pub const TOKEN_PREFIX: &str = "bps_";

/// How the caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        id_hash: String,
        csrf: String,
        /// Password accepted, second factor not yet.
        mfa_pending: bool,
    },
    Token(TokenId),
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth {
    pub actor: Actor,
    pub user: User,
    pub via: Via,
    /// Holds a role that requires a second factor, and has none yet.
    pub needs_enrolment: bool,
}

impl Auth {
    /// The session's CSRF token (empty for tokens, which need none).
    #[must_use]
    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session { csrf, .. } => csrf,
            Via::Token(_) => "",
        }
    }
}

/// An enrolled endpoint that presented its host credential (`bpa_…`). Hosts are not
/// users: the actor holds no grants and `authorize` lets it do `FleetReport` only.
#[derive(Debug, Clone)]
pub struct HostAuth {
    pub actor: Actor,
    pub host: bposhield_store::fleet::HostAuthRow,
}

/// Prefix of host credentials.
pub const HOST_CREDENTIAL_PREFIX: &str = "bpa_";

/// Per-request context, available to every handler as an extractor.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub request_id: String,
    pub ip: Option<String>,
    pub auth: Option<Auth>,
    /// Set instead of `auth` when an enrolled host calls with its credential.
    pub host: Option<HostAuth>,
    /// Path of the request (for sign-in redirects).
    pub path: String,
    /// A session cookie was presented but had expired.
    pub session_expired: bool,
    /// The platform itself (a background job or the local operator's CLI) is acting.
    pub system: bool,
}

impl Ctx {
    /// `user:<id>`, `token:<id>`, `host:<id>` or `anonymous`, for audit events.
    #[must_use]
    pub fn actor_ref(&self) -> String {
        match (&self.auth, &self.host) {
            (Some(Auth { via: Via::Token(t), .. }), _) => format!("token:{t}"),
            (Some(a), _) => format!("user:{}", a.user.id),
            (None, Some(h)) => format!("host:{}", h.host.id),
            (None, None) if self.system => "system".into(),
            (None, None) => "anonymous".into(),
        }
    }

    /// The caller, or `NotAuthenticated`.
    pub fn require_auth(&self) -> Result<&Auth, AppError> {
        self.auth.as_ref().ok_or_else(|| AppError::new(ErrorCode::NotAuthenticated, "sign in first"))
    }

    /// A context for work the platform does by itself (background jobs, the CLI).
    #[must_use]
    pub fn system(request_id: &str) -> Self {
        Ctx {
            request_id: request_id.to_owned(),
            ip: None,
            auth: None,
            host: None,
            path: String::new(),
            session_expired: false,
            system: true,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        parts.extensions.get::<Ctx>().cloned().ok_or_else(|| AppError::internal("request context missing"))
    }
}

/// An extractor that requires an authenticated caller.
pub struct Authed(pub Ctx, pub Auth);

/// An extractor that requires an enrolled host's credential.
pub struct HostAuthed(pub Ctx, pub HostAuth);

impl<S: Send + Sync> FromRequestParts<S> for HostAuthed {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, AppError> {
        let ctx = Ctx::from_request_parts(parts, s).await?;
        let host = ctx
            .host
            .clone()
            .ok_or_else(|| AppError::new(ErrorCode::NotAuthenticated, "present the host credential"))?;
        Ok(HostAuthed(ctx, host))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, AppError> {
        let ctx = Ctx::from_request_parts(parts, s).await?;
        let auth = ctx.require_auth()?.clone();
        Ok(Authed(ctx, auth))
    }
}

/// SHA-256 hex of a secret (session ids and API tokens are random, so no slow hash).
#[must_use]
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random URL-safe secret of 32 bytes.
#[must_use]
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Reads one cookie.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value with the platform's attributes.
#[must_use]
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = if state.config.tls() || state.config.auth.secure_cookies { "; Secure" } else { "" };
    let age = max_age.map(|a| format!("; Max-Age={a}")).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}")
}

/// Cached bearer-token authentications, so a machine client's request does not pay
/// three queries before its real work.
///
/// Freshness: an entry lives at most [`AuthCache::TTL`] seconds; every change of access
/// (grant, revocation, disabling, token revocation) clears this replica's cache at once
/// and advances the database's access epoch, which the other replicas poll every second
/// ([`crate::jobs`]). So a revoked token stops working here immediately and everywhere
/// within about a second. Sessions (people in browsers) are not cached.
#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<String, CachedAuth>>,
    epoch: std::sync::atomic::AtomicI64,
}

/// One cached authentication: who, when it was cached, when the token expires.
struct CachedAuth {
    auth: Auth,
    cached_at: i64,
    expires_at: Option<i64>,
}

impl AuthCache {
    /// Longest life of an entry, in seconds (also bounds how stale `last_used_at` gets).
    pub const TTL: i64 = 60;
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, token_hash: &str, now: i64) -> Option<Auth> {
        let map = self.entries.lock().ok()?;
        let c = map.get(token_hash)?;
        (now - c.cached_at < Self::TTL && c.expires_at.is_none_or(|e| e > now)).then(|| c.auth.clone())
    }

    fn put(&self, token_hash: String, auth: Auth, now: i64, expires_at: Option<i64>) {
        if let Ok(mut map) = self.entries.lock() {
            if map.len() >= Self::MAX_ENTRIES {
                map.clear();
            }
            map.insert(token_hash, CachedAuth { auth, cached_at: now, expires_at });
        }
    }

    /// Forgets every cached authentication.
    pub fn clear(&self) {
        if let Ok(mut map) = self.entries.lock() {
            map.clear();
        }
    }

    /// Clears the cache when the database's epoch moved since the last look.
    pub fn observe_epoch(&self, epoch: i64) {
        if self.epoch.swap(epoch, std::sync::atomic::Ordering::SeqCst) != epoch {
            self.clear();
        }
    }
}

/// Per-source-address sign-in throttle: a fixed one-minute window per address.
pub struct SignInLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl SignInLimiter {
    /// A limiter allowing `per_minute` attempts per address.
    #[must_use]
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, windows: Mutex::new(HashMap::new()) }
    }

    /// Counts an attempt; false when the address is over its budget.
    pub fn allow(&self, ip: &str, now: i64) -> bool {
        let minute = now.div_euclid(60);
        let Ok(mut w) = self.windows.lock() else { return false };
        if w.len() > 100_000 {
            w.retain(|_, (m, _)| *m == minute);
        }
        let e = w.entry(ip.to_owned()).or_insert((minute, 0));
        if e.0 != minute {
            *e = (minute, 0);
        }
        e.1 += 1;
        e.1 <= self.per_minute
    }
}

/// Resolves the caller, runs the request, renders errors and adds headers.
pub async fn context_mw(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let request_id = hex::encode(rand::random::<[u8; 8]>());
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let path = req.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let mut ctx = Ctx {
        request_id: request_id.clone(),
        ip,
        auth: None,
        host: None,
        path: path.clone(),
        session_expired: false,
        system: false,
    };
    let resolved = resolve_auth(&state, req.headers(), &mut ctx).await;
    let mut resp = match resolved {
        Err(e) => e.into_response(),
        Ok(()) => {
            req.extensions_mut().insert(ctx.clone());
            next.run(req).await
        }
    };
    if let Some(err) = resp.extensions_mut().remove::<AppError>() {
        if err.code == ErrorCode::Internal {
            tracing::error!(request_id = %request_id, path = %path, "answered with an internal error");
        }
        let status = err.status();
        let rendered = if path.starts_with("/scim/") {
            // SCIM clients expect the RFC 7644 error body, also for 401/403/404.
            crate::scim::app_error_response(&err)
        } else if is_api || !wants_html(&path) {
            (status, axum::Json(err.body(Some(request_id.clone())))).into_response()
        } else {
            (status, Html(crate::web::error_page(&ctx, &err))).into_response()
        };
        let kept_headers: Vec<_> = resp.headers().get_all(axum::http::header::SET_COOKIE).iter().cloned().collect();
        resp = rendered;
        for h in kept_headers {
            resp.headers_mut().append(axum::http::header::SET_COOKIE, h);
        }
        if err.code == ErrorCode::BodyTooLarge {
            // The rest of the oversized body is never read, so the connection cannot
            // carry another request: say so, or a keep-alive client sends its next
            // request into a connection the server is closing.
            resp.headers_mut().insert(axum::http::header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-request-id", v);
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    if !path.starts_with("/assets/") {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if h.get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/html")) {
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"),
        );
    }
    state.metrics.observe(resp.status().as_u16(), started.elapsed());
    resp
}

fn wants_html(path: &str) -> bool {
    !(path.starts_with("/healthz") || path.starts_with("/readyz") || path.starts_with("/metrics"))
}

async fn resolve_auth(state: &AppState, headers: &HeaderMap, ctx: &mut Ctx) -> Result<(), AppError> {
    let now = state.clock.now();
    if let Some(bearer) =
        headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        let token_hash = secret_hash(bearer.trim());
        if bearer.trim().starts_with(HOST_CREDENTIAL_PREFIX) {
            let host = state.store.fleet_host_by_credential(&token_hash).await?.ok_or_else(|| {
                AppError::new(ErrorCode::FleetHostCredentialInvalid, "unknown or retired host credential; enroll again")
            })?;
            ctx.host = Some(HostAuth { actor: Actor::host(host.id), host });
            return Ok(());
        }
        if let Some(auth) = state.auth_cache.get(&token_hash, now) {
            ctx.auth = Some(auth);
            return Ok(());
        }
        let info = state
            .store
            .token_by_hash(&token_hash)
            .await?
            .ok_or_else(|| AppError::new(ErrorCode::TokenExpired, "unknown, expired or revoked token"))?;
        if info.revoked || info.expires_at.is_some_and(|e| e <= now) {
            return Err(AppError::new(ErrorCode::TokenExpired, "unknown, expired or revoked token"));
        }
        let user = state.store.user(info.user_id).await?;
        if user.disabled {
            return Err(AppError::new(ErrorCode::AccountDisabled, "the token's user is disabled"));
        }
        // A token never holds more than its user does today.
        let grants = info
            .grants
            .iter()
            .filter(|g| user.grants.iter().any(|u| u.role == g.role && u.scope == g.scope))
            .map(|g| (g.role, g.scope))
            .collect();
        if info.last_used_at.is_none_or(|t| t < now - 60) {
            state.store.touch_token(info.id, now).await?;
        }
        let auth = Auth {
            actor: Actor::user(user.id, user.person_id, grants),
            user,
            via: Via::Token(info.id),
            needs_enrolment: false,
        };
        state.auth_cache.put(token_hash, auth.clone(), now, info.expires_at);
        ctx.auth = Some(auth);
        return Ok(());
    }
    if let Some(cookie_value) = cookie(headers, SESSION_COOKIE) {
        let id_hash = secret_hash(cookie_value);
        let Some(s) = state.store.session(&id_hash).await? else {
            ctx.session_expired = true;
            return Ok(());
        };
        let idle = state.config.auth.session_idle_minutes * 60;
        let absolute = state.config.auth.session_absolute_hours * 3600;
        if now - s.last_seen_at > idle || now - s.created_at > absolute {
            state.store.delete_session(&id_hash).await?;
            ctx.session_expired = true;
            return Ok(());
        }
        let user = state.store.user(s.user_id).await?;
        if user.disabled {
            state.store.delete_session(&id_hash).await?;
            return Ok(());
        }
        // Touching on every request would turn reads into writes; a minute is precise
        // enough for an idle timeout counted in minutes.
        if now - s.last_seen_at >= 60 {
            state.store.touch_session(&id_hash, now).await?;
        }
        let grants: Vec<_> = user.grants.iter().map(|g| (g.role, g.scope)).collect();
        let needs_enrolment =
            !user.totp_enabled && grants.iter().any(|(r, _)| state.config.auth.require_totp_roles.contains(r));
        ctx.auth = Some(Auth {
            actor: Actor::user(user.id, user.person_id, grants),
            user,
            via: Via::Session { id_hash, csrf: s.csrf, mfa_pending: s.mfa_pending },
            needs_enrolment,
        });
    }
    Ok(())
}
