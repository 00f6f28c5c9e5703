//! Sign-in, sessions, CSRF, lockout, second factor, tokens and the password policy,
//! over real HTTP with the clock moved by hand.

use crate::harness::{Db, TestServer, PASSWORD};
use bposhield_core::{totp, Clock};
use bposhield_proto::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

crate::both_dbs!(
    session_csrf_lockout_and_timeouts,
    second_factor_enrolment_and_sign_in,
    tokens_expire_and_revoke,
    every_role_signs_in_on_the_web
);

/// Every role signs in through the web form and lands on a page it may see (the
/// dashboard, or the account page for agents and vendors), never on a refusal.
async fn every_role_signs_in_on_the_web(db: Db) {
    let Some(s) = TestServer::start(db, "web-roles").await else { return };
    for role in Role::ALL {
        let r = s.client.get(format!("{}/signin", s.base)).send().await.unwrap();
        let pre_cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let pre = pre_cookie.split_once('=').unwrap().1.to_owned();
        let username = s.users[&role].username.clone();
        let r = s
            .client
            .post(format!("{}/signin", s.base))
            .header("cookie", &pre_cookie)
            .form(&[("username", username.as_str()), ("password", PASSWORD), ("pre", pre.as_str()), ("next", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{role}");
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        let session = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap())
            .find(|c| c.starts_with("bps_session="))
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let page = s.client.get(format!("{}{to}", s.base)).header("cookie", &session).send().await.unwrap();
        assert_eq!(page.status(), 200, "{role} landed on {to}");
        let expected = if matches!(role, Role::Agent | Role::ThirdParty) { "/account" } else { "/" };
        assert_eq!(to, expected, "{role}");
        // A forged sign-in post (no matching double-submit cookie) is refused.
        let r = s
            .client
            .post(format!("{}/signin", s.base))
            .form(&[("username", username.as_str()), ("password", PASSWORD), ("pre", pre.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{role}");
    }
    s.stop().await;
}

struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(s: &TestServer, username: &str, password: &str) -> (StatusCode, Value, Option<Session>) {
    let r = s
        .client
        .post(format!("{}/api/v1/auth/signin", s.base))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let set_cookie = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    let session = set_cookie.map(|c| {
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"), "{c}");
        Session {
            cookie: c.split(';').next().unwrap().to_owned(),
            csrf: body["csrf_token"].as_str().unwrap_or("").to_owned(),
        }
    });
    (status, body, session)
}

fn with(s: &TestServer, sess: &Session, method: Method, path: &str) -> reqwest::RequestBuilder {
    s.client.request(method, format!("{}{path}", s.base)).header("cookie", &sess.cookie)
}

async fn session_csrf_lockout_and_timeouts(db: Db) {
    let Some(s) = TestServer::start(db, "session").await else { return };
    let (st, body, sess) = sign_in(&s, "u.hr", PASSWORD).await;
    assert_eq!(st, 200, "{body}");
    let sess = sess.unwrap();
    let r = with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["via"], "session");
    // Unsafe request with the cookie but no CSRF token: refused.
    let body = crate::harness::person_input("E9", &s.site, &s.process, &s.team);
    let r = with(&s, &sess, Method::POST, "/api/v1/people").json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BPS-AUTH-0004");
    let r = with(&s, &sess, Method::POST, "/api/v1/people")
        .header("x-csrf-token", "wrong")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = with(&s, &sess, Method::POST, "/api/v1/people")
        .header("x-csrf-token", &sess.csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Idle timeout (30 min by default); a request within it slides the window.
    s.clock.advance(29 * 60);
    assert_eq!(with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap().status(), 200);
    s.clock.advance(29 * 60);
    assert_eq!(with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap().status(), 200);
    s.clock.advance(31 * 60);
    let r = with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BPS-AUTH-0013");
    // Sign-out ends the session server-side.
    let (_, _, sess) = sign_in(&s, "u.hr", PASSWORD).await;
    let sess = sess.unwrap();
    let r =
        with(&s, &sess, Method::POST, "/api/v1/auth/signout").header("x-csrf-token", &sess.csrf).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap().status(), 401);
    // Lockout after five failures, even with the right password afterwards.
    for _ in 0..5 {
        let (st, body, _) = sign_in(&s, "u.auditor", "Wrong-Password-Here-1").await;
        assert_eq!(st, 401, "{body}");
        assert_eq!(body["code"], "BPS-AUTH-0002");
    }
    let (st, body, _) = sign_in(&s, "u.auditor", PASSWORD).await;
    assert_eq!((st.as_u16(), body["code"].as_str()), (423, Some("BPS-AUTH-0006")));
    s.clock.advance(16 * 60);
    let (st, _, _) = sign_in(&s, "u.auditor", PASSWORD).await;
    assert_eq!(st, 200);
    // Unknown users get the same answer as wrong passwords.
    let (st, body, _) = sign_in(&s, "nobody", PASSWORD).await;
    assert_eq!((st.as_u16(), body["code"].as_str()), (401, Some("BPS-AUTH-0002")));
    // Weak passwords are refused with the field named.
    let r = s
        .req(Role::PlatformAdmin, Method::POST, "/api/v1/users")
        .json(&json!({ "username": "weak.user", "display_name": "Weak", "password": "password1234" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!((v["code"].as_str(), v["field"].as_str()), (Some("BPS-AUTH-0011"), Some("password")));
    // Disabling a user ends their sessions at once.
    let (_, _, sess) = sign_in(&s, "u.executive", PASSWORD).await;
    let sess = sess.unwrap();
    let id = s.users[&Role::Executive].id;
    let r = s.req(Role::PlatformAdmin, Method::POST, &format!("/api/v1/users/{id}/disable")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(with(&s, &sess, Method::GET, "/api/v1/me").send().await.unwrap().status(), 401);
    let (st, _, _) = sign_in(&s, "u.executive", PASSWORD).await;
    assert_eq!(st, 403);
    s.stop().await;
}

async fn second_factor_enrolment_and_sign_in(db: Db) {
    let Some(s) = TestServer::start_with(db, "totp", |c| c.auth.require_totp_roles = vec![Role::SecurityOfficer]).await
    else {
        return;
    };
    let (_, _, sess) = sign_in(&s, "u.security-officer", PASSWORD).await;
    let sess = sess.unwrap();
    // Privileged role without a second factor: only the account is reachable.
    let r = with(&s, &sess, Method::GET, "/api/v1/dashboard").send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BPS-AUTH-0010");
    let r = with(&s, &sess, Method::POST, "/api/v1/me/totp").header("x-csrf-token", &sess.csrf).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let enrol: Value = r.json().await.unwrap();
    assert!(enrol["uri"].as_str().unwrap().starts_with("otpauth://totp/bposhield:u.security-officer?secret="));
    let row = s.state.store.user_auth_by_username("u.security-officer").await.unwrap().unwrap();
    let secret = hex::decode(row.totp_secret.unwrap()).unwrap();
    assert_eq!(totp::base32(&secret), enrol["secret"].as_str().unwrap());
    let now = s.clock.now();
    let r = with(&s, &sess, Method::POST, "/api/v1/me/totp/confirm")
        .header("x-csrf-token", &sess.csrf)
        .json(&json!({ "code": "000000" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = with(&s, &sess, Method::POST, "/api/v1/me/totp/confirm")
        .header("x-csrf-token", &sess.csrf)
        .json(&json!({ "code": totp::code_at(&secret, now) }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let codes: Vec<String> =
        serde_json::from_value(r.json::<Value>().await.unwrap()["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(with(&s, &sess, Method::GET, "/api/v1/dashboard").send().await.unwrap().status(), 200);

    // Next sign-in needs the code; the pending session can do nothing else.
    s.clock.advance(60);
    let (st, body, pending) = sign_in(&s, "u.security-officer", PASSWORD).await;
    assert_eq!(st, 200);
    assert_eq!(body["second_factor_required"], true);
    let pending = pending.unwrap();
    let r = with(&s, &pending, Method::GET, "/api/v1/dashboard").send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BPS-AUTH-0008");
    let second = |code: String, sess: &Session| {
        with(&s, sess, Method::POST, "/api/v1/auth/second-factor").json(&json!({ "code": code })).send()
    };
    let r = second("123456".into(), &pending).await.unwrap();
    assert_eq!(r.status(), 401);
    let r = second(totp::code_at(&secret, s.clock.now()), &pending).await.unwrap();
    assert_eq!(r.status(), 200);
    let fresh = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_ne!(fresh, pending.cookie, "session id rotates after the second factor");
    let full = Session { cookie: fresh, csrf: String::new() };
    assert_eq!(with(&s, &full, Method::GET, "/api/v1/dashboard").send().await.unwrap().status(), 200);
    assert_eq!(
        with(&s, &pending, Method::GET, "/api/v1/me").send().await.unwrap().status(),
        401,
        "pending session ended"
    );

    // A recovery code works once.
    let (_, _, p2) = sign_in(&s, "u.security-officer", PASSWORD).await;
    let p2 = p2.unwrap();
    assert_eq!(second(codes[0].clone(), &p2).await.unwrap().status(), 200);
    let (_, _, p3) = sign_in(&s, "u.security-officer", PASSWORD).await;
    let p3 = p3.unwrap();
    assert_eq!(second(codes[0].clone(), &p3).await.unwrap().status(), 401);
    s.stop().await;
}

async fn tokens_expire_and_revoke(db: Db) {
    let Some(s) = TestServer::start(db, "tokens").await else { return };
    let r = s
        .req(Role::Hr, Method::POST, "/api/v1/me/tokens")
        .json(&json!({ "name": "hris-sync", "expires_in_days": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: CreatedToken = r.json().await.unwrap();
    assert!(created.token.starts_with("bps_"));
    let get = |t: String| s.client.get(format!("{}/api/v1/people", s.base)).bearer_auth(t).send();
    assert_eq!(get(created.token.clone()).await.unwrap().status(), 200);
    // Stored hashed: the secret appears nowhere in the database rows we can list.
    let listed = s.state.store.tokens(None).await.unwrap();
    assert!(!serde_json::to_string(&listed).unwrap().contains(&created.token));
    s.clock.advance(86_400 + 1);
    let r = get(created.token.clone()).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "BPS-AUTH-0012");
    // Revocation takes effect on the next request.
    let r = s
        .req(Role::Hr, Method::POST, "/api/v1/me/tokens")
        .json(&json!({ "name": "second", "expires_in_days": 30 }))
        .send()
        .await
        .unwrap();
    let t2: CreatedToken = r.json().await.unwrap();
    assert_eq!(get(t2.token.clone()).await.unwrap().status(), 200);
    let r = s.req(Role::Hr, Method::DELETE, &format!("/api/v1/me/tokens/{}", t2.info.id)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(t2.token.clone()).await.unwrap().status(), 401);
    // A second replica on the same database caches the token too; a revocation made
    // through the first reaches it within about a second (the access epoch).
    let r = s
        .req(Role::Hr, Method::POST, "/api/v1/me/tokens")
        .json(&json!({ "name": "third", "expires_in_days": 30 }))
        .send()
        .await
        .unwrap();
    let t3: CreatedToken = r.json().await.unwrap();
    let replica = s.second_replica().await;
    let on_replica = |t: String| s.client.get(format!("{}/api/v1/people", replica.1)).bearer_auth(t).send();
    assert_eq!(on_replica(t3.token.clone()).await.unwrap().status(), 200);
    let r = s.req(Role::Hr, Method::DELETE, &format!("/api/v1/me/tokens/{}", t3.info.id)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let mut refused_after = None;
    for n in 0..40 {
        if on_replica(t3.token.clone()).await.unwrap().status() == 401 {
            refused_after = Some(n);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused_after.is_some(), "the other replica still accepts a revoked token after 4 s");
    replica.0.stop().await;
    // Expiry is mandatory and bounded.
    let r = s
        .req(Role::Hr, Method::POST, "/api/v1/me/tokens")
        .json(&json!({ "name": "forever", "expires_in_days": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Controls: tokens all expire, so CTL-R3-002 passes once evaluated.
    let r = s.req(Role::SecurityOfficer, Method::POST, "/api/v1/controls/evaluate").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let results: Vec<ControlResult> = r.json().await.unwrap();
    let tok = results.iter().find(|r| r.control_id == "CTL-R3-002").unwrap();
    assert_eq!(tok.status, ControlStatus::Pass);
    let dash: Vec<RiskTile> =
        s.req(Role::Executive, Method::GET, "/api/v1/dashboard").send().await.unwrap().json().await.unwrap();
    assert_eq!(dash.len(), 10);
    let r1 = dash.iter().find(|t| t.risk == Risk::R1).unwrap();
    assert_eq!(r1.status, ControlStatus::NotMeasured);
    s.stop().await;
}
