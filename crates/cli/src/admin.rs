//! `bposhield admin`: user, role and token management from the machine that holds the
//! data directory. Runs the same services as the web UI, so every change is audited
//! (actor `system`).

use anyhow::{anyhow, bail, Context};
use bposhield_core::authz::allowed_roles;
use bposhield_core::Action;
use bposhield_proto::{GrantInput, Role, Scope, UserInput};
use bposhield_server::ctx::Ctx;
use bposhield_server::{services, AppState};
use clap::Subcommand;
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Create, reset or disable platform users.
    #[command(subcommand)]
    User(UserCommand),
    /// Machine API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List the roles and what each may do.
    Roles,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The password is read from --password-file or the first line of stdin.
    Create {
        #[arg(long)]
        username: String,
        /// Shown in the UI [default: the username].
        #[arg(long)]
        display_name: Option<String>,
        /// Role to grant (repeatable), e.g. security_officer.
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<Role>,
        /// Scope of the roles: global, site:<code|id>, process:<code|id>, team:<id>.
        #[arg(long, default_value = "global")]
        scope: String,
        /// Link to the HR person with this employee id.
        #[arg(long, value_name = "EMPLOYEE_ID")]
        person: Option<String>,
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Set a new password (from --password-file or stdin) and end the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
    },
    /// Disable a user: ends their sessions and revokes their tokens.
    Disable {
        #[arg(long)]
        username: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a machine token holding one role; prints the secret once.
    Create {
        /// The role the token acts with.
        #[arg(long)]
        role: Role,
        /// global, site:<code|id>, process:<code|id>, team:<id>.
        #[arg(long, default_value = "global")]
        scope: String,
        /// Lifetime: days, as `30d` or `30` (1 to 365).
        #[arg(long)]
        expires: String,
        /// A name for the machine identity (letters, digits, '-', '_').
        #[arg(long, default_value = "automation")]
        name: String,
    },
}

pub async fn run(st: AppState, cmd: AdminCommand) -> anyhow::Result<()> {
    let ctx = Ctx::system(&format!("cli-{}", hex_id()));
    match cmd {
        AdminCommand::Roles => {
            print_roles();
            Ok(())
        }
        AdminCommand::User(UserCommand::Create { username, display_name, roles, scope, person, password_file }) => {
            let scope = resolve_scope(&st, &scope).await?;
            let person_id = match person {
                Some(e) => Some(
                    st.store.person_by_employee_id(&e).await.map_err(|_| anyhow!("no person with employee id {e}"))?.id,
                ),
                None => None,
            };
            let password = read_password(password_file.as_deref())?;
            let input = UserInput {
                display_name: display_name.unwrap_or_else(|| username.clone()),
                username,
                password,
                person_id,
                grants: roles.into_iter().map(|role| GrantInput { role, scope }).collect(),
            };
            let u = services::create_user(&st, &ctx, None, &input).await.map_err(|e| anyhow!("{e}"))?;
            println!("created user {} ({})", u.username, u.id);
            Ok(())
        }
        AdminCommand::User(UserCommand::ResetPassword { username, password_file }) => {
            let u = services::user_by_username(&st, &username).await.map_err(|e| anyhow!("{e}"))?;
            let password = read_password(password_file.as_deref())?;
            services::reset_password(&st, &ctx, None, u.id, &password).await.map_err(|e| anyhow!("{e}"))?;
            println!("password of {username} reset; their sessions ended");
            Ok(())
        }
        AdminCommand::User(UserCommand::Disable { username }) => {
            let u = services::user_by_username(&st, &username).await.map_err(|e| anyhow!("{e}"))?;
            services::set_disabled(&st, &ctx, None, u.id, true).await.map_err(|e| anyhow!("{e}"))?;
            println!("disabled {username}; sessions ended and tokens revoked");
            Ok(())
        }
        AdminCommand::Token(TokenCommand::Create { role, scope, expires, name }) => {
            let days = parse_days(&expires)?;
            let scope = resolve_scope(&st, &scope).await?;
            if name.is_empty()
                || name.len() > 40
                || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                bail!("--name must be 1-40 letters, digits, '-' or '_'");
            }
            // A machine token belongs to a machine identity of its own: a user that
            // cannot sign in with a password, holding exactly the token's role.
            let username = format!("svc.{}", name.to_lowercase());
            let user = match services::user_by_username(&st, &username).await {
                Ok(u) => u,
                Err(_) => {
                    let unusable = bposhield_core::password::hash(&bposhield_server::ctx::random_secret())
                        .map_err(|e| anyhow!(e))?;
                    let input = UserInput {
                        username: username.clone(),
                        display_name: format!("Machine: {name}"),
                        password: String::new(),
                        person_id: None,
                        grants: Vec::new(),
                    };
                    services::import_users(&st, &ctx, std::slice::from_ref(&input), &unusable)
                        .await
                        .map_err(|e| anyhow!("{e}"))?;
                    services::user_by_username(&st, &username).await.map_err(|e| anyhow!("{e}"))?
                }
            };
            let grant = GrantInput { role, scope };
            if !user.grants.iter().any(|g| g.role == role && g.scope == scope) {
                services::add_grant(&st, &ctx, None, user.id, &grant).await.map_err(|e| anyhow!("{e}"))?;
            }
            let t = services::issue_token(&st, &ctx, user.id, &name, days, vec![grant])
                .await
                .map_err(|e| anyhow!("{e}"))?;
            eprintln!("token {} for {username} ({role} at {scope}), expires in {days} days. Shown once:", t.info.id);
            println!("{}", t.token);
            Ok(())
        }
    }
}

fn hex_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn parse_days(s: &str) -> anyhow::Result<u32> {
    let n = s.strip_suffix('d').unwrap_or(s);
    let days: u32 = n.parse().with_context(|| format!("--expires {s}: expected days like 30d"))?;
    if !(1..=365).contains(&days) {
        bail!("--expires must be between 1d and 365d");
    }
    Ok(days)
}

/// Parses a scope, accepting site and process codes as well as ids.
async fn resolve_scope(st: &AppState, s: &str) -> anyhow::Result<Scope> {
    if let Ok(scope) = s.parse::<Scope>() {
        return Ok(scope);
    }
    match s.split_once(':') {
        Some(("site", code)) => st
            .store
            .sites()
            .await?
            .into_iter()
            .find(|x| x.code.eq_ignore_ascii_case(code))
            .map(|x| Scope::Site(x.id))
            .ok_or_else(|| anyhow!("no site with code {code}")),
        Some(("process", code)) => st
            .store
            .processes(None)
            .await?
            .into_iter()
            .find(|x| x.code.eq_ignore_ascii_case(code))
            .map(|x| Scope::Process(x.id))
            .ok_or_else(|| anyhow!("no process unit with code {code}")),
        _ => bail!("invalid scope `{s}`: expected global, site:<code|id>, process:<code|id> or team:<id>"),
    }
}

fn read_password(file: Option<&std::path::Path>) -> anyhow::Result<String> {
    let raw = match file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => {
            eprintln!("password (one line on stdin):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line
        }
    };
    let pw = raw.trim_end_matches(['\n', '\r']).to_owned();
    if pw.is_empty() {
        bail!("empty password");
    }
    Ok(pw)
}

fn print_roles() {
    println!("{:<18} MAY", "ROLE");
    for role in Role::ALL {
        let actions: Vec<&str> =
            Action::ALL.iter().filter(|a| allowed_roles(**a).contains(&role)).map(|a| a.as_str()).collect();
        println!("{:<18} {}", role.as_str(), actions.join(", "));
    }
    println!();
    println!("Grant a role at a scope: global, site:<code>, process:<code> or team:<id>.");
    println!("Scoped roles see only their part of the organisation.");
}
