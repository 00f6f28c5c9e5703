//! My account: profile and roles, password change, second-factor enrolment (secret and
//! otpauth URI, then the recovery codes shown once), and my API tokens (secret shown once).

use super::view::{page, page_status, see_other, time, time_or, FormData, FormView, Layout, OrgNames, QueryData};
use crate::api::ApiPath;
use crate::ctx::{set_cookie, Auth, Authed, Ctx, SESSION_COOKIE};
use crate::error::{AppError, AppResult};
use crate::services as svc;
use crate::AppState;
use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Response};
use bposhield_core::totp;
use bposhield_proto::{CreatedToken, ErrorCode, TokenCreate, TokenId};

const PASSWORD_FIELDS: [&str; 3] = ["current_password", "new_password", "confirm_password"];
const TOKEN_FIELDS: [&str; 2] = ["name", "expires_in_days"];

struct TokenRow {
    id: String,
    name: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: bool,
}

/// The forms of the account page, one of which may be sent back with errors.
struct AccountForms {
    password: FormView,
    token: FormView,
    general: Option<String>,
}

impl Default for AccountForms {
    fn default() -> Self {
        Self {
            password: FormView::default(),
            token: FormView::with(&[("expires_in_days", "30".to_owned())]),
            general: None,
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    l: Layout,
    username: String,
    display_name: String,
    roles: Vec<String>,
    totp_enabled: bool,
    recovery_left: u64,
    enrol: bool,
    last_sign_in: String,
    tokens: Vec<TokenRow>,
    new_token: Option<CreatedToken>,
    new_token_expires: String,
    forms: AccountForms,
    notice: Option<&'static str>,
}

async fn account_page(
    st: &AppState,
    ctx: &Ctx,
    auth: &Auth,
    forms: AccountForms,
    new_token: Option<CreatedToken>,
    enrol: bool,
    notice: Option<&'static str>,
) -> AppResult<AccountPage> {
    // Fresh from the store: the request's copy predates any change this request made.
    let user = svc::get_user(st, auth.user.id).await?;
    let names = OrgNames::load(st).await?;
    let tokens = st.store.tokens(Some(user.id)).await?;
    let recovery_left = if user.totp_enabled { st.store.recovery_codes_left(user.id).await? } else { 0 };
    Ok(AccountPage {
        l: Layout::new(ctx, "My account"),
        roles: user.grants.iter().map(|g| names.grant(g)).collect(),
        totp_enabled: user.totp_enabled,
        recovery_left,
        enrol: enrol || auth.needs_enrolment,
        last_sign_in: time_or(user.last_sign_in_at, "never"),
        tokens: tokens
            .iter()
            .map(|t| TokenRow {
                id: t.id.to_string(),
                name: t.name.clone(),
                created: time(t.created_at),
                expires: time_or(t.expires_at, "never"),
                last_used: time_or(t.last_used_at, "never"),
                revoked: t.revoked,
            })
            .collect(),
        new_token_expires: new_token.as_ref().map(|t| time_or(t.info.expires_at, "never")).unwrap_or_default(),
        new_token,
        forms,
        notice,
        username: user.username,
        display_name: user.display_name,
    })
}

/// `GET /account` (`?enrol=1` when the route layer sent the user here to enrol).
pub async fn show(State(st): State<AppState>, Authed(ctx, auth): Authed, q: QueryData) -> AppResult<Response> {
    let notice = match q.get("done") {
        "token_revoked" => Some("Token revoked."),
        _ => None,
    };
    page(&account_page(&st, &ctx, &auth, AccountForms::default(), None, q.has("enrol"), notice).await?)
}

/// `POST /account/password`: on success every session ends, this one included.
pub async fn change_password(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    form: FormData,
) -> AppResult<Response> {
    let new = form.get("new_password");
    let result = if form.has("confirm_password") && form.get("confirm_password") != new {
        Err(AppError::field(ErrorCode::InvalidField, "confirm_password", "does not match the new password"))
    } else {
        svc::change_password(&st, &ctx, &auth, form.get("current_password"), new).await
    };
    match result {
        Ok(()) => Ok((
            AppendHeaders([(SET_COOKIE, set_cookie(&st, SESSION_COOKIE, "", Some(0)))]),
            see_other("/signin?password_changed=1"),
        )
            .into_response()),
        Err(e) => {
            let mut forms = AccountForms::default();
            let status = forms.password.absorb(e, &PASSWORD_FIELDS, &[])?;
            page_status(status, &account_page(&st, &ctx, &auth, forms, None, false, None).await?)
        }
    }
}

#[derive(Template)]
#[template(path = "account_totp.html")]
struct EnrolPage {
    l: Layout,
    secret: String,
    uri: String,
    f: FormView,
}

/// `POST /account/totp`: starts enrolment and shows the secret.
pub async fn totp_begin(State(st): State<AppState>, Authed(ctx, auth): Authed) -> AppResult<Response> {
    match svc::totp_begin(&st, &ctx, &auth).await {
        Ok(e) => page(&EnrolPage {
            l: Layout::new(&ctx, "Set up a second factor"),
            secret: e.secret,
            uri: e.uri,
            f: FormView::default(),
        }),
        Err(e) => general_error(&st, &ctx, &auth, e).await,
    }
}

#[derive(Template)]
#[template(path = "account_recovery.html")]
struct RecoveryPage {
    l: Layout,
    codes: Vec<String>,
}

/// `POST /account/totp/confirm`: confirms with a first code and shows the recovery codes once.
pub async fn totp_confirm(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    form: FormData,
) -> AppResult<Response> {
    match svc::totp_confirm(&st, &ctx, &auth, form.get("code")).await {
        Ok(codes) => page(&RecoveryPage { l: Layout::new(&ctx, "Recovery codes"), codes }),
        Err(e) => {
            // Show the same secret again: it is stored, unconfirmed, until a code matches.
            let row = st.store.user_auth(auth.user.id).await?;
            let Some(secret) =
                row.totp_secret.as_deref().and_then(|s| hex::decode(s).ok()).filter(|_| !row.totp_enabled)
            else {
                return general_error(&st, &ctx, &auth, e).await;
            };
            let mut f = FormView::default();
            let status = f.absorb(e, &["code"], &[])?;
            if f.err("code").is_some() {
                f.general = None;
            }
            let page_view = EnrolPage {
                l: Layout::new(&ctx, "Set up a second factor"),
                secret: totp::base32(&secret),
                uri: totp::otpauth_uri("bposhield", &auth.user.username, &secret),
                f,
            };
            page_status(status, &page_view)
        }
    }
}

/// `POST /account/tokens`: creates a token and shows its secret, once.
pub async fn create_token(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    form: FormData,
) -> AppResult<Response> {
    let result = match form.get("expires_in_days").trim().parse::<u32>() {
        Ok(days) => {
            svc::create_token(
                &st,
                &ctx,
                &auth,
                &TokenCreate { name: form.get("name").trim().to_owned(), expires_in_days: days },
            )
            .await
        }
        Err(_) => Err(AppError::field(
            ErrorCode::InvalidField,
            "expires_in_days",
            "must be a number of days between 1 and 365",
        )),
    };
    match result {
        Ok(t) => page(&account_page(&st, &ctx, &auth, AccountForms::default(), Some(t), false, None).await?),
        Err(e) => {
            let mut forms = AccountForms { token: form.view(), ..AccountForms::default() };
            let status = forms.token.absorb(e, &TOKEN_FIELDS, &[])?;
            page_status(status, &account_page(&st, &ctx, &auth, forms, None, false, None).await?)
        }
    }
}

/// `POST /account/tokens/{id}/revoke`: only one's own tokens (others' look absent).
pub async fn revoke_token(
    State(st): State<AppState>,
    Authed(ctx, auth): Authed,
    ApiPath(id): ApiPath<TokenId>,
) -> AppResult<Response> {
    let t = st.store.token(id).await.map_err(|_| AppError::not_found("token"))?;
    if t.user_id != auth.user.id {
        return Err(AppError::not_found("token"));
    }
    svc::revoke_token(&st, &ctx, Some(&auth), id).await?;
    Ok(see_other("/account?done=token_revoked"))
}

/// The account page with a message about an action that has no form field.
async fn general_error(st: &AppState, ctx: &Ctx, auth: &Auth, e: AppError) -> AppResult<Response> {
    let mut forms = AccountForms::default();
    let mut f = FormView::default();
    let status = f.absorb(e, &[], &[])?;
    forms.general = f.general;
    page_status(status, &account_page(st, ctx, auth, forms, None, false, None).await?)
}
