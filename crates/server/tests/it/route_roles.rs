//! Every route × every role: each route answers exactly as the authorization table says.
//! A route the table denies must answer 403 `BPS-AUTH-0003` (and leave a `denied` audit
//! event); a route it allows must not answer 401/403 nor fail with a 5xx.

use crate::harness::{Db, TestServer};
use bposhield_core::{authorize, Action, Actor, Resource};
use bposhield_proto::*;
use bposhield_server::routes::{table, Access};
use bposhield_server::services;
use reqwest::Method;

crate::both_dbs!(every_route_answers_as_the_table_says, scoped_roles_see_only_their_scope);

async fn every_route_answers_as_the_table_says(db: Db) {
    let Some(s) = TestServer::start(db, "route-roles").await else { return };
    let ctx = bposhield_server::ctx::Ctx::system("test");
    // Objects the parameterised routes act on, including sacrificial ones for the
    // state-changing routes (disable, revoke…).
    let victim = services::create_user(
        &s.state,
        &ctx,
        None,
        &UserInput {
            username: "victim".into(),
            display_name: "Victim".into(),
            password: crate::harness::PASSWORD.into(),
            person_id: None,
            grants: vec![GrantInput { role: Role::Agent, scope: Scope::Team(s.team.id) }],
        },
    )
    .await
    .unwrap();
    let victim_token = services::issue_token(&s.state, &ctx, victim.id, "v", 5, vec![]).await.unwrap();
    let grant = victim.grants[0].id;

    let routes = table(s.state.clone());
    assert!(routes.len() > 40, "route table looks truncated: {}", routes.len());
    let mut checked = 0;
    for route in &routes {
        let path = route
            .path
            .replace("{id}", &param_for(route.path, &s, &victim, victim_token.info.id))
            .replace("{grant_id}", &grant.to_string())
            .replace("{file}", "app.css");
        for role in Role::ALL {
            let mut req = s.req(role, route.method.clone(), &path);
            if route.method == Method::POST || route.method == Method::PUT {
                req = if route.is_api() || path.starts_with("/api/") {
                    req.header("content-type", "application/json").body("{}")
                } else {
                    req.header("content-type", "application/x-www-form-urlencoded").body("")
                };
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            let what = format!("{} {} as {role}: {status} {body:.200}", route.method, route.path);
            assert!(status < 500, "server error: {what}");
            match route.access {
                Access::Public => {}
                // Host routes run the same `authorize`: no user role holds their action,
                // so every user is refused there (hosts are tested in `fleet`).
                Access::Signed(action) | Access::Host(action) => {
                    let actor = Actor::user(s.users[&role].id, None, vec![(role, Scope::Global)]);
                    let resource = if action == Action::AccountSelf { Resource::OwnAccount } else { Resource::Any };
                    let allowed = authorize(&actor, action, resource).is_allow();
                    if allowed {
                        assert!(status != 401 && status != 403, "table allows, server refused: {what}");
                    } else {
                        assert_eq!(status, 403, "table denies, server answered otherwise: {what}");
                        if route.path.starts_with("/api/") {
                            assert!(body.contains("BPS-AUTH-0003"), "{what}");
                        }
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * Role::ALL.len());

    // Denials are recorded like grants.
    let (denied, n) = s
        .state
        .store
        .audit_events(&bposhield_store::AuditFilter { outcome: Some("denied".into()), limit: 10, ..Default::default() })
        .await
        .unwrap();
    assert!(n > 50, "only {n} denials recorded");
    assert!(denied.iter().all(|e| e.actor.starts_with("token:")));

    // Without credentials: API answers 401, pages redirect to the sign-in page.
    let r = s.client.get(format!("{}/api/v1/people", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = s.client.get(format!("{}/people", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("/signin"));
    s.stop().await;
}

fn param_for(path: &str, s: &TestServer, victim: &User, victim_token: TokenId) -> String {
    if path.contains("/sites/") {
        s.site.id.to_string()
    } else if path.contains("/processes/") {
        s.process.id.to_string()
    } else if path.contains("/teams/") {
        s.team.id.to_string()
    } else if path.contains("/people/") {
        s.person.id.to_string()
    } else if path.contains("/users/") {
        victim.id.to_string()
    } else if path.contains("/controls/") {
        "CTL-R3-001".into()
    } else if path.contains("tokens/") {
        victim_token.to_string()
    } else {
        "x".into()
    }
}

async fn scoped_roles_see_only_their_scope(db: Db) {
    let Some(s) = TestServer::start(db, "scoped").await else { return };
    let ctx = bposhield_server::ctx::Ctx::system("test");
    // Two people in two teams; a team manager of the first team.
    let other = services::create_person(
        &s.state,
        &ctx,
        None,
        &crate::harness::person_input("E000002", &s.site, &s.process, &s.other_team),
    )
    .await
    .unwrap();
    let tm = services::create_user(
        &s.state,
        &ctx,
        None,
        &UserInput {
            username: "tm.one".into(),
            display_name: "Team Manager One".into(),
            password: crate::harness::PASSWORD.into(),
            person_id: None,
            grants: vec![GrantInput { role: Role::TeamManager, scope: Scope::Team(s.team.id) }],
        },
    )
    .await
    .unwrap();
    let token = services::issue_token(
        &s.state,
        &ctx,
        tm.id,
        "t",
        5,
        vec![GrantInput { role: Role::TeamManager, scope: Scope::Team(s.team.id) }],
    )
    .await
    .unwrap()
    .token;
    let page: Page<Person> = s
        .client
        .get(format!("{}/api/v1/people?limit=100", s.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].id, s.person.id);
    let r = s.client.get(format!("{}/api/v1/people/{}", s.base, other.id)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403, "person of another team");
    let r = s.client.get(format!("{}/api/v1/people/{}", s.base, s.person.id)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // HR scoped to the other site cannot edit people of this site.
    let hr = services::create_user(
        &s.state,
        &ctx,
        None,
        &UserInput {
            username: "hr.manila".into(),
            display_name: "HR Manila".into(),
            password: crate::harness::PASSWORD.into(),
            person_id: None,
            grants: vec![GrantInput { role: Role::Hr, scope: Scope::Site(s.other_site.id) }],
        },
    )
    .await
    .unwrap();
    let hr_token = services::issue_token(
        &s.state,
        &ctx,
        hr.id,
        "t",
        5,
        vec![GrantInput { role: Role::Hr, scope: Scope::Site(s.other_site.id) }],
    )
    .await
    .unwrap()
    .token;
    let body = crate::harness::person_input("E000001", &s.site, &s.process, &s.team);
    let r = s
        .client
        .put(format!("{}/api/v1/people/{}", s.base, s.person.id))
        .bearer_auth(&hr_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // A token never outlives a revoked grant of its user.
    let u = services::get_user(&s.state, tm.id).await.unwrap();
    services::remove_grant(&s.state, &ctx, None, tm.id, u.grants[0].id).await.unwrap();
    let r = s.client.get(format!("{}/api/v1/people", s.base)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 403);
    s.stop().await;
}
