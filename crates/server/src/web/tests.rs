//! End-to-end checks of the pages through a real server on port 0, without JavaScript:
//! sign-in with its double-submit check, forms sent back with messages beside their
//! fields, state changes, enrolment of a second factor, and the error page.

use crate::ctx::Ctx;
use crate::{services, AppState, Config};
use bposhield_core::SystemClock;
use bposhield_proto::{GrantInput, Role, Scope, UserInput};
use reqwest::redirect::Policy;
use reqwest::{Client, StatusCode};
use std::sync::Arc;

const HR_PASSWORD: &str = "Meadow-Cipher-Violet-58";
const ADMIN_PASSWORD: &str = "Amber-Falcon-Ledger-71";

struct Site {
    base: String,
    state: AppState,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn server() -> Site {
    let dir = std::env::temp_dir().join(format!("bps-web-{}", hex::encode(rand::random::<[u8; 8]>())));
    std::fs::create_dir_all(&dir).unwrap();
    let store =
        bposhield_store::Store::connect(&bposhield_store::Store::sqlite_url(&dir.join("db.sqlite"))).await.unwrap();
    let cfg = Config { port: 0, data_dir: dir.clone(), ..Config::default() };
    let state = AppState::new(store, Arc::new(SystemClock), cfg).unwrap();
    let ctx = Ctx::system("test");
    for (username, password, role) in [("hr1", HR_PASSWORD, Role::Hr), ("admin1", ADMIN_PASSWORD, Role::PlatformAdmin)]
    {
        let input = UserInput {
            username: username.into(),
            display_name: format!("Test {username}"),
            password: password.into(),
            person_id: None,
            grants: vec![GrantInput { role, scope: Scope::Global }],
        };
        services::create_user(&state, &ctx, None, &input).await.unwrap();
    }
    let running = crate::start(state.clone()).await.unwrap();
    let base = format!("http://{}", running.addr);
    // The server runs until the test's runtime ends.
    std::mem::forget(running.handle);
    Site { base, state, _dir: TempDir(dir) }
}

fn client() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

/// The value of the first `<input name=…>` of a page.
fn value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name}")) + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Checks what the CSP would block: inline styles and inline scripts.
fn assert_csp_clean(html: &str) {
    assert!(!html.contains(" style="), "inline style in page");
    assert!(!html.contains("<style"), "style element in page");
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src="), "inline script: {tag}");
    }
}

impl Site {
    async fn get(&self, c: &Client, path: &str) -> (StatusCode, String) {
        let r = c.get(format!("{}{path}", self.base)).send().await.unwrap();
        let status = r.status();
        let html = r.text().await.unwrap();
        if html.starts_with("<!doctype html>") {
            assert_csp_clean(&html);
        }
        (status, html)
    }

    async fn post(&self, c: &Client, path: &str, form: &[(&str, &str)]) -> (StatusCode, String, String) {
        let r = c.post(format!("{}{path}", self.base)).form(form).send().await.unwrap();
        let status = r.status();
        let to = location(&r);
        (status, to, r.text().await.unwrap())
    }

    async fn sign_in(&self, c: &Client, username: &str, password: &str) -> String {
        let (_, html) = self.get(c, "/signin").await;
        let pre = value(&html, "pre");
        let (status, to, _) = self
            .post(c, "/signin", &[("pre", &pre), ("next", ""), ("username", username), ("password", password)])
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        to
    }

    /// The CSRF token of the signed-in session, from any page with a form.
    async fn csrf(&self, c: &Client) -> String {
        let (_, html) = self.get(c, "/account").await;
        value(&html, "csrf")
    }
}

#[tokio::test]
async fn sign_in_page_and_its_errors() {
    let s = server().await;
    let c = client();
    let r = c.get(format!("{}/people", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin?next=%2Fpeople");

    let (status, html) = s.get(&c, "/signin?next=%2Fpeople&expired=1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"signin-form\"") && html.contains("id=\"username\"") && html.contains("id=\"password\"")
    );
    assert!(html.contains("Your session expired"));

    let (status, _, html) =
        s.post(&c, "/signin", &[("pre", "forged"), ("username", "hr1"), ("password", HR_PASSWORD)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("form expired") && html.contains("value=\"hr1\""));
    let pre = value(&html, "pre");

    let (status, _, html) =
        s.post(&c, "/signin", &[("pre", &pre), ("username", "hr1"), ("password", "wrong-password-123")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong username or password") && html.contains("value=\"hr1\""));
    assert!(!html.contains("wrong-password-123"));

    let (_, html) = s.get(&c, "/signin?next=/people").await;
    let pre = value(&html, "pre");
    let (status, to, _) = s
        .post(&c, "/signin", &[("pre", &pre), ("next", "/people"), ("username", "hr1"), ("password", HR_PASSWORD)])
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/people"));
    // Signed in: the sign-in page sends on; open redirects are refused.
    let r = c.get(format!("{}/signin?next=//evil.example", s.base)).send().await.unwrap();
    assert_eq!(location(&r), "/");

    let (status, html) = s.get(&c, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"dashboard\"")
            && html.contains("id=\"risk-R3\"")
            && html.contains("href=\"/controls?risk=R3\"")
    );
    assert!(html.contains("no history yet"));
    // HR may not evaluate controls nor see users: neither button nor link.
    assert!(
        !html.contains("id=\"evaluate-button\"")
            && !html.contains("id=\"nav-users\"")
            && html.contains("id=\"nav-people\"")
    );

    let csrf = s.csrf(&c).await;
    let (status, to, _) = s.post(&c, "/signout", &[("csrf", &csrf)]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/signin?signed_out=1"));
    let r = c.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn org_and_people_forms() {
    let s = server().await;
    let c = client();
    s.sign_in(&c, "hr1", HR_PASSWORD).await;
    let csrf = s.csrf(&c).await;

    // A form without the CSRF field is refused by the route layer.
    let (status, _, html) = s.post(&c, "/org/sites", &[("code", "PNQ1")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("BPS-AUTH-0004"));

    let (status, _, html) = s
        .post(
            &c,
            "/org/sites",
            &[("csrf", &csrf), ("code", "bad code"), ("name", "Pune One"), ("city", ""), ("country", "IN")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-site-code\"") && html.contains("aria-describedby=\"error-site-code\""));
    assert!(html.contains("id=\"error-site-city\"") && html.contains("value=\"Pune One\""));

    let (status, to, _) = s
        .post(
            &c,
            "/org/sites",
            &[("csrf", &csrf), ("code", "PNQ1"), ("name", "Pune One"), ("city", "Pune"), ("country", "IN")],
        )
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/org?saved=site#sites"));
    let (status, _, html) = s
        .post(
            &c,
            "/org/sites",
            &[("csrf", &csrf), ("code", "PNQ1"), ("name", "Again"), ("city", "Pune"), ("country", "IN")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("site with this code exists"));

    let site = s.state.store.sites().await.unwrap()[0].id.to_string();
    let (status, _, html) = s
        .post(
            &c,
            "/org/processes",
            &[("csrf", &csrf), ("site_id", ""), ("code", "ACME"), ("name", ""), ("client", "Acme")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-process-site_id\"") && html.contains("id=\"error-process-name\""));
    let (status, _, _) = s
        .post(
            &c,
            "/org/processes",
            &[("csrf", &csrf), ("site_id", &site), ("code", "ACME"), ("name", "Acme cards"), ("client", "Acme")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let process = s.state.store.processes(None).await.unwrap()[0].id.to_string();
    let (status, _, _) =
        s.post(&c, "/org/teams", &[("csrf", &csrf), ("process_id", &process), ("name", "Alpha")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let team = s.state.store.teams(None).await.unwrap()[0].id.to_string();
    let (_, html) = s.get(&c, "/org").await;
    assert!(html.contains("id=\"sites-table\"") && html.contains("Alpha") && html.contains("1 team"));

    let (status, html) = s.get(&c, &format!("/org/teams/{team}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"team-form\""));
    let (status, to, _) = s
        .post(&c, &format!("/org/teams/{team}"), &[("csrf", &csrf), ("process_id", &process), ("name", "Alpha One")])
        .await;
    assert_eq!((status, to), (StatusCode::SEE_OTHER, format!("/org/teams/{team}?saved=1")));

    let (status, html) = s.get(&c, "/people/new").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"person-form\""));
    let person = |eid: &'static str, manager: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("employee_id", eid.to_owned()),
            ("given_name", "Asha".to_owned()),
            ("family_name", format!("Rao {eid}")),
            ("email", String::new()),
            ("site_id", site.clone()),
            ("process_id", process.clone()),
            ("team_id", team.clone()),
            ("manager", manager.to_owned()),
            ("job_role", "Agent".to_owned()),
            ("status", "active".to_owned()),
            ("hire_date", "2025-01-02".to_owned()),
            ("exit_date", String::new()),
        ]
    };
    let mut bad = person("E1", "E404");
    bad[3].1 = String::new();
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = s.post(&c, "/people", &bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"error-manager\"")
            && html.contains("id=\"error-family_name\"")
            && html.contains("value=\"E1\"")
    );

    let ok = person("E1", "");
    let ok: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, to, _) = s.post(&c, "/people", &ok).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(to.starts_with("/people/"));
    let second = person("E2", "E1");
    let second: Vec<(&str, &str)> = second.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, to2, _) = s.post(&c, "/people", &second).await;
    assert_eq!(status, StatusCode::SEE_OTHER);

    let (status, html) = s.get(&c, &to2).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Person created.") && html.contains("Asha Rao E1 (E1)") && html.contains("value=\"E1\""));
    // Making E1 their own manager's report loops: the message sits beside the manager field.
    let mut cyc = person("E1", "E2");
    cyc[0].1 = csrf.clone();
    let cyc: Vec<(&str, &str)> = cyc.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, html) = s.post(&c, &to, &cyc).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-manager\""), "{html}");

    let (status, html) = s.get(&c, "/people?q=E2").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"people-table\"") && html.contains("id=\"person-E2\"") && !html.contains("id=\"person-E1\"")
    );
    assert!(html.contains("1–1 of 1"));
    let (status, _) = s.get(&c, "/people?site_id=nonsense").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, html) = s.get(&c, "/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "HR has no audit view");
    assert!(html.contains("BPS-AUTH-0003") && html.contains("id=\"error-page-request-id\""));
}

#[tokio::test]
async fn admin_enrols_then_manages_users() {
    let s = server().await;
    let c = client();
    assert_eq!(s.sign_in(&c, "admin1", ADMIN_PASSWORD).await, "/");
    let r = c.get(format!("{}/users", s.base)).send().await.unwrap();
    assert_eq!(location(&r), "/account?enrol=1");
    let (_, html) = s.get(&c, "/account?enrol=1").await;
    assert!(html.contains("Your role requires a second factor before you can continue"));
    let csrf = value(&html, "csrf");

    let (status, _, html) = s.post(&c, "/account/totp", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"totp-secret\"") && html.contains("otpauth://"));
    let (status, _, html) = s.post(&c, "/account/totp/confirm", &[("csrf", &csrf), ("code", "000000")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-code\"") && html.contains("id=\"totp-secret\""));
    let admin = services::user_by_username(&s.state, "admin1").await.unwrap();
    let secret = hex::decode(s.state.store.user_auth(admin.id).await.unwrap().totp_secret.unwrap()).unwrap();
    let code = bposhield_core::totp::code_at(&secret, s.state.clock.now());
    let (status, _, html) = s.post(&c, "/account/totp/confirm", &[("csrf", &csrf), ("code", &code)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<li><code>").count(), 10);

    let (status, html) = s.get(&c, "/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"users-table\"") && html.contains("Platform admin @ Global"));
    let (status, _, html) = s
        .post(
            &c,
            "/users",
            &[
                ("csrf", &csrf),
                ("username", "x"),
                ("display_name", "X"),
                ("password", "short"),
                ("person_employee_id", "E9"),
                ("role", "agent"),
                ("scope", "global"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("id=\"error-username\"")
            && html.contains("id=\"error-person_employee_id\"")
            && !html.contains("value=\"short\"")
    );
    let (status, to, _) = s
        .post(
            &c,
            "/users",
            &[
                ("csrf", &csrf),
                ("username", "auditor1"),
                ("display_name", "Audrey"),
                ("password", "Quartz-Ember-Willow-94"),
                ("person_employee_id", ""),
                ("role", "auditor"),
                ("scope", "global"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, html) = s.get(&c, &to).await;
    assert!(html.contains("User created.") && html.contains("Auditor @ Global") && html.contains("id=\"grant-form\""));
    let user_path = to.split('?').next().unwrap().to_owned();
    let (status, _, html) =
        s.post(&c, &format!("{user_path}/grants"), &[("csrf", &csrf), ("role", "auditor"), ("scope", "global")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-grant-role\""));
    let (status, _, _) = s
        .post(&c, &format!("{user_path}/grants"), &[("csrf", &csrf), ("role", "executive"), ("scope", "global")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = s.post(&c, &format!("{user_path}/disable"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, html) =
        s.post(&c, &format!("{user_path}/password"), &[("csrf", &csrf), ("password", "weak")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-reset-password\""));

    let (status, _, html) =
        s.post(&c, "/account/tokens", &[("csrf", &csrf), ("name", "script"), ("expires_in_days", "30")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"new-token-secret\">bps_"));
    let (status, _, html) =
        s.post(&c, "/account/tokens", &[("csrf", &csrf), ("name", ""), ("expires_in_days", "999")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-token-expires_in_days\"") || html.contains("id=\"error-token-name\""));
    let token = s.state.store.tokens(Some(admin.id)).await.unwrap()[0].id;
    let (status, to, _) = s.post(&c, &format!("/account/tokens/{token}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/account?done=token_revoked"));

    let (status, _, html) = s
        .post(
            &c,
            "/account/password",
            &[("csrf", &csrf), ("current_password", "nope"), ("new_password", "x"), ("confirm_password", "x")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-current_password\""));
    let (status, to, _) = s
        .post(
            &c,
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "Velvet-Summit-Prism-82"),
                ("confirm_password", "Velvet-Summit-Prism-82"),
            ],
        )
        .await;
    assert_eq!((status, to.as_str()), (StatusCode::SEE_OTHER, "/signin?password_changed=1"));

    // The next sign-in needs the second factor.
    assert_eq!(s.sign_in(&c, "admin1", "Velvet-Summit-Prism-82").await, "/signin/totp");
    let (status, html) = s.get(&c, "/signin/totp").await;
    assert_eq!(status, StatusCode::OK);
    let pending_csrf = value(&html, "csrf");
    let (status, _, html) = s.post(&c, "/signin/totp", &[("csrf", &pending_csrf), ("code", "123456")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("id=\"error-code\""));
}

#[tokio::test]
async fn assets_and_error_page() {
    let s = server().await;
    let c = client();
    let r = c.get(format!("{}/assets/app.css", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("max-age=31536000"));
    let r = c.get(format!("{}/assets/htmx.min.js", s.base)).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    let (status, html) = s.get(&c, "/assets/nope.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("BPS-REQ-0008"));
    let (status, html) = s.get(&c, "/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("id=\"error-page\"") && html.contains("BPS-REQ-0008") && html.contains("id=\"error-home\""));
}

#[test]
fn error_page_renders_any_message_escaped() {
    let ctx = Ctx::system("r1");
    let err = crate::AppError::new(bposhield_proto::ErrorCode::Conflict, "<script>x</script>");
    let html = super::error_page(&ctx, &err);
    assert!(
        !html.contains("<script>x")
            && html.contains("x&#60;/script&#62;")
            && html.contains("BPS-STO-0003")
            && html.contains("r1")
    );
}
