//! `voxmark serve --project P --listen ADDR [--data-root DIR] [--tls-cert C --tls-key K]`:
//! the team server (see `voxmark_server`); `voxmark serve user add|list|disable|enable|
//! set-role|set-password` and `voxmark serve token create|list|revoke` manage accounts and
//! tokens directly in the project database (run by whoever runs the server). Passwords come
//! from a prompt or `VOXMARK_PASSWORD`, never from the command line.

use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use voxmark_project::accounts::{unix_now, Role};
use voxmark_project::db::Location;
use voxmark_project::Project;
use voxmark_server::auth;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Running the server.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The project: a folder (SQLite) or a postgresql:// URL.
    #[arg(long)]
    pub project: Option<String>,
    /// Address and port to listen on (port 0: any free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Where the cases' images are (default: VOXMARK_DATA_ROOT, else the project's root).
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Plain HTTP on a non-loopback address (only behind a TLS-terminating reverse proxy).
    #[arg(long)]
    pub insecure_http: bool,
    /// How long a login lasts, in hours.
    #[arg(long, default_value_t = 12)]
    pub session_hours: i64,
    /// Database connections.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Mask uploads held in memory at once, in MiB (more wait their turn).
    #[arg(long, default_value_t = 2048)]
    pub upload_memory_mib: usize,
    /// Where `project export URL` builds the training set before clients fetch it (default:
    /// a folder per project under the system's temporary folder).
    #[arg(long)]
    pub export_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Accounts of the project.
    #[command(subcommand)]
    User(UserCommand),
    /// Bearer tokens for scripts and services.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an account (password from a prompt, or VOXMARK_PASSWORD).
    Add {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        project: String,
    },
    /// List accounts.
    List {
        #[arg(long)]
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable an account (its tokens are revoked).
    Disable {
        name: String,
        #[arg(long)]
        project: String,
    },
    /// Enable a disabled account.
    Enable {
        name: String,
        #[arg(long)]
        project: String,
    },
    /// Change an account's role.
    SetRole {
        name: String,
        #[arg(long)]
        role: String,
        #[arg(long)]
        project: String,
    },
    /// Set a new password (prompt or VOXMARK_PASSWORD); the account's tokens are revoked.
    SetPassword {
        name: String,
        #[arg(long)]
        project: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for an account (printed once; only its sha256 is stored).
    Create {
        #[arg(long)]
        user: String,
        #[arg(long)]
        project: String,
        /// Days until it expires.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// What it is for (shown in `token list`).
        #[arg(long, default_value = "created on the command line")]
        label: String,
    },
    /// List tokens (never the tokens themselves).
    List {
        #[arg(long)]
        project: String,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by id, or every token of --user.
    Revoke {
        id: Option<i64>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        project: String,
    },
}

fn open(p: &str) -> anyhow::Result<Project> {
    if voxmark_server::client::is_server_url(p) {
        anyhow::bail!(
            "{p}: accounts are managed on the project database (a folder or postgresql:// URL), by whoever runs the server"
        );
    }
    Ok(Project::open(&Location::parse(p)?)?)
}

/// A password from `VOXMARK_PASSWORD`, else typed twice at a prompt.
pub fn new_password(user: &str) -> anyhow::Result<String> {
    let pw = match std::env::var("VOXMARK_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let a = rpassword::prompt_password(format!("new password for {user}: "))
                .map_err(|e| anyhow::anyhow!("cannot read a password from the terminal ({e}); set VOXMARK_PASSWORD for scripts"))?;
            let b = rpassword::prompt_password("again: ")
                .map_err(|e| anyhow::anyhow!("cannot read a password from the terminal: {e}"))?;
            if a != b {
                anyhow::bail!("the two passwords differ");
            }
            a
        }
    };
    auth::check_password(user, &pw)?;
    Ok(pw)
}

pub fn run(a: ServeArgs) -> anyhow::Result<()> {
    match a.command {
        Some(ServeCommand::User(c)) => user(c),
        Some(ServeCommand::Token(c)) => token(c),
        None => serve(a.run),
    }
}

fn serve(r: RunArgs) -> anyhow::Result<()> {
    let project = r.project.ok_or_else(|| {
        anyhow::anyhow!("give --project P (a project folder or postgresql:// URL)")
    })?;
    let data_root = r
        .data_root
        .or_else(|| std::env::var_os("VOXMARK_DATA_ROOT").map(PathBuf::from));
    let tls = r.tls_cert.zip(r.tls_key);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let o = voxmark_server::ServeOptions {
        project: Location::parse(&project)?,
        listen: r.listen,
        data_root,
        tls,
        insecure_http: r.insecure_http,
        session_hours: r.session_hours,
        connections: r.connections,
        access_log: true,
        upload_memory_mib: r.upload_memory_mib,
        export_dir: r.export_dir,
    };
    voxmark_server::serve(o, |addr| {
        // The first line on stdout: scripts read the URL (and the port, with :0) from it.
        println!("voxmark serve: listening on {scheme}://{addr}");
        use std::io::Write;
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

/// Appends an account or token change made on the database directly to the audit log
/// (who: the local user, from where: this command line), as the server does for its own.
fn audit_local(p: &mut Project, action: &str, detail: String) -> anyhow::Result<()> {
    p.append_audit(&voxmark_project::accounts::AuditEntry {
        at: voxmark_volume::fs::clock::now_rfc3339(),
        user: format!("{} (local)", voxmark_server::target::user()),
        role: "database".into(),
        remote: "command line".into(),
        action: action.into(),
        case: None,
        annotator: None,
        version: None,
        outcome: 200,
        detail,
    })?;
    Ok(())
}

fn user(c: UserCommand) -> anyhow::Result<()> {
    match c {
        UserCommand::Add {
            name,
            role,
            project,
        } => {
            let role = Role::parse(&role)?;
            voxmark_project::accounts::check_user_name(&name)?;
            let mut p = open(&project)?;
            if p.user(&name)?.is_some() {
                anyhow::bail!("account {name} exists already");
            }
            let pw = new_password(&name)?;
            let u = p.add_user(&name, role, &auth::hash_password(&pw)?)?;
            audit_local(
                &mut p,
                "add-user",
                format!("account {name} as {}", role.as_str()),
            )?;
            println!("account {} added as {}", u.name, u.role.as_str());
        }
        UserCommand::List { project, json } => {
            let us = open(&project)?.users()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&us)?);
            } else {
                for u in us {
                    println!(
                        "{:<24} {:<10} {}",
                        u.name,
                        u.role.as_str(),
                        if u.disabled { "disabled" } else { "" }
                    );
                }
            }
        }
        UserCommand::Disable { name, project } => {
            let mut p = open(&project)?;
            p.set_user_disabled(&name, true)?;
            audit_local(&mut p, "change-user", format!("account {name} disabled"))?;
            println!("account {name} disabled; its tokens are revoked");
        }
        UserCommand::Enable { name, project } => {
            let mut p = open(&project)?;
            p.set_user_disabled(&name, false)?;
            audit_local(&mut p, "change-user", format!("account {name} enabled"))?;
            println!("account {name} enabled");
        }
        UserCommand::SetRole {
            name,
            role,
            project,
        } => {
            let mut p = open(&project)?;
            let u = p.set_user_role(&name, Role::parse(&role)?)?;
            audit_local(
                &mut p,
                "change-user",
                format!("account {name} is now {}", u.role.as_str()),
            )?;
            println!("account {} is now {}", u.name, u.role.as_str());
        }
        UserCommand::SetPassword { name, project } => {
            let mut p = open(&project)?;
            if p.user(&name)?.is_none() {
                anyhow::bail!("no account {name}");
            }
            let pw = new_password(&name)?;
            p.set_user_password(&name, &auth::hash_password(&pw)?)?;
            let n = p.revoke_user_tokens(&name)?;
            audit_local(
                &mut p,
                "change-user",
                format!("password of {name} set; {n} token(s) revoked"),
            )?;
            println!("password of {name} changed; {n} token(s) revoked");
        }
    }
    Ok(())
}

fn token(c: TokenCommand) -> anyhow::Result<()> {
    match c {
        TokenCommand::Create {
            user,
            project,
            days,
            label,
        } => {
            if !(1..=366).contains(&days) {
                anyhow::bail!("--days must be between 1 and 366");
            }
            let mut p = open(&project)?;
            let u = p
                .user(&user)?
                .ok_or_else(|| anyhow::anyhow!("no account {user}"))?;
            if u.disabled {
                anyhow::bail!("account {user} is disabled");
            }
            let t = auth::new_token()?;
            let id = p.add_token(
                &user,
                &auth::token_sha256(&t),
                &label,
                unix_now() + days * 86_400,
            )?;
            audit_local(
                &mut p,
                "create-token",
                format!("token {id} for {user}, {days} day(s): {label}"),
            )?;
            eprintln!(
                "token {id} for {user} ({}), valid {days} day(s); it is shown once:",
                u.role.as_str()
            );
            println!("{t}");
        }
        TokenCommand::List {
            project,
            user,
            json,
        } => {
            let ts = open(&project)?.tokens(user.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&ts)?);
            } else {
                let now = unix_now();
                for t in ts {
                    let state = if t.revoked_at.is_some() {
                        "revoked"
                    } else if t.expires_unix <= now {
                        "expired"
                    } else {
                        "live"
                    };
                    println!(
                        "{:<6} {:<20} {:<8} {}  {}",
                        t.id, t.user, state, t.created_at, t.label
                    );
                }
            }
        }
        TokenCommand::Revoke { id, user, project } => {
            let mut p = open(&project)?;
            match (id, user) {
                (Some(id), None) => {
                    if !p.revoke_token_id(id)? {
                        anyhow::bail!("no live token {id}");
                    }
                    audit_local(&mut p, "revoke-token", format!("token {id}"))?;
                    println!("token {id} revoked");
                }
                (None, Some(u)) => {
                    let n = p.revoke_user_tokens(&u)?;
                    audit_local(&mut p, "revoke-token", format!("{n} token(s) of {u}"))?;
                    println!("{n} token(s) of {u} revoked");
                }
                _ => anyhow::bail!("give a token id, or --user NAME (every token of the account)"),
            }
        }
    }
    Ok(())
}
