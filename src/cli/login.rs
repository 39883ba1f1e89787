//! `voxmark login URL --user NAME [--ca-cert FILE]` and `voxmark logout URL`: a session with a
//! team server (`voxmark serve`). The password comes from a prompt or `VOXMARK_PASSWORD`;
//! the token is kept with mode 0600 in the user's config folder
//! (`$XDG_CONFIG_HOME/voxmark/logins.json`), and every `project` command given the URL uses it.

use clap::Args;
use std::path::PathBuf;
use voxmark_server::client::Client;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server: https://host:port (or http://127.0.0.1:port).
    pub url: String,
    #[arg(long)]
    pub user: String,
    /// A CA certificate (PEM) to trust for this server, e.g. a hospital's own CA (also:
    /// SSL_CERT_FILE).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    pub url: String,
}

pub fn login(a: LoginArgs) -> anyhow::Result<()> {
    let pw = match std::env::var("VOXMARK_PASSWORD") {
        Ok(p) => p,
        Err(_) => rpassword::prompt_password(format!("password for {} at {}: ", a.user, a.url))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot read a password from the terminal ({e}); set VOXMARK_PASSWORD for scripts"
                )
            })?,
    };
    let l = Client::login(&a.url, &a.user, &pw, a.ca_cert.as_deref())?;
    println!(
        "logged in to {} as {} (token kept in {}, valid until unix time {})",
        voxmark_server::client::normalize_url(&a.url)?,
        l.user,
        voxmark_server::client::logins_path()?.display(),
        l.expires_unix
    );
    Ok(())
}

pub fn logout(a: LogoutArgs) -> anyhow::Result<()> {
    if Client::logout(&a.url)? {
        println!("logged out of {}", a.url);
    } else {
        println!("not logged in to {}", a.url);
    }
    Ok(())
}
