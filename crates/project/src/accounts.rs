//! The team server's records in the project database: accounts with one role each, bearer
//! tokens, failed logins and the audit log. Policy (who may do what) and password hashing
//! live in `voxmark-server`; this module only stores and reads, so that every server process
//! on one database sees the same accounts, revocations, rate limits and audit trail.
//!
//! Tokens are stored as the sha256 of the token, never the token itself: a copy of the
//! database does not hand out sessions. Passwords arrive here already hashed (argon2id PHC
//! strings). The audit log is append-only: nothing here updates or deletes its rows.

use crate::db::Value;
use crate::{int, text, Project};
use serde::{Deserialize, Serialize};
use voxmark_volume::error::{Error, Result};
use voxmark_volume::fs::clock::now_rfc3339;

/// A project role (one per account). Ordered from most to least power, but permissions are
/// a table (`voxmark-server`'s policy), not a ladder: a reviewer cannot annotate, a lead
/// cannot review.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Lead,
    Reviewer,
    Annotator,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Lead,
        Role::Reviewer,
        Role::Annotator,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Lead => "lead",
            Role::Reviewer => "reviewer",
            Role::Annotator => "annotator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{s:?} is not a role (admin, lead, reviewer, annotator, viewer)"
                ))
            })
    }
}

/// An account as listed (never with its password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: String,
    pub updated_at: String,
}

/// A token as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub user: String,
    pub label: String,
    pub created_at: String,
    /// Unix seconds.
    pub expires_unix: i64,
    pub revoked_at: Option<String>,
}

/// What a presented token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    Valid(UserInfo),
    Expired,
    Revoked,
    UserDisabled(String),
    Unknown,
}

/// One audit record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub at: String,
    pub user: String,
    pub role: String,
    pub remote: String,
    pub action: String,
    pub case: Option<String>,
    pub annotator: Option<String>,
    pub version: Option<i64>,
    /// The HTTP status the request was answered with.
    pub outcome: i64,
    pub detail: String,
}

/// Account names: 1–64 of `A-Z a-z 0-9 . _ @ -`, starting with a letter or digit. Names
/// appear in logs, file names of exports and URLs, so nothing else is accepted.
pub fn check_user_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{:?} is not a usable account name (1-64 of A-Z a-z 0-9 . _ @ -, starting with a letter or digit)",
            name.chars().take(80).collect::<String>()
        )))
    }
}

/// Seconds since 1970 (UTC).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn user_of(r: &[Value]) -> Result<UserInfo> {
    Ok(UserInfo {
        name: text(&r[0]),
        role: Role::parse(&text(&r[1]))?,
        disabled: int(&r[2]) != 0,
        created_at: text(&r[3]),
        updated_at: text(&r[4]),
    })
}

const USER_COLUMNS: &str = "u.name, u.role, u.disabled, u.created_at, u.updated_at";

impl Project {
    /// Adds an account. `password_hash`: an argon2id PHC string.
    pub fn add_user(&mut self, name: &str, role: Role, password_hash: &str) -> Result<UserInfo> {
        check_user_name(name)?;
        let now = now_rfc3339();
        self.db.write(|db| {
            if !db
                .query("SELECT 1 FROM users WHERE name = $1", &[name.into()])?
                .is_empty()
            {
                return Err(Error::invalid(format!("account {name} exists already")));
            }
            db.exec(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
                &[name.into(), role.as_str().into(), password_hash.into(), now.as_str().into()],
            )?;
            Ok(())
        })?;
        self.user(name)?
            .ok_or_else(|| Error::Corrupt(format!("account {name} vanished after it was added")))
    }

    /// Every account, by name.
    pub fn users(&mut self) -> Result<Vec<UserInfo>> {
        self.db.read(|db| {
            db.query(
                &format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"),
                &[],
            )?
            .iter()
            .map(|r| user_of(r))
            .collect()
        })
    }

    pub fn user(&mut self, name: &str) -> Result<Option<UserInfo>> {
        self.db.read(|db| {
            db.query(
                &format!("SELECT {USER_COLUMNS} FROM users u WHERE u.name = $1"),
                &[name.into()],
            )?
            .first()
            .map(|r| user_of(r))
            .transpose()
        })
    }

    /// The account and its password hash, for a login.
    pub fn user_credentials(&mut self, name: &str) -> Result<Option<(UserInfo, String)>> {
        self.db.read(|db| {
            db.query(
                &format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = $1"),
                &[name.into()],
            )?
            .first()
            .map(|r| Ok((user_of(r)?, text(&r[5]))))
            .transpose()
        })
    }

    fn update_user(&mut self, name: &str, set: &str, value: Value) -> Result<UserInfo> {
        let now = now_rfc3339();
        let n = self.db.write(|db| {
            db.exec(
                &format!("UPDATE users SET {set} = $1, updated_at = $2 WHERE name = $3"),
                &[value.clone(), now.as_str().into(), name.into()],
            )
        })?;
        if n == 0 {
            return Err(Error::NotFound(format!("no account {name}")));
        }
        self.user(name)?
            .ok_or_else(|| Error::NotFound(format!("no account {name}")))
    }

    pub fn set_user_role(&mut self, name: &str, role: Role) -> Result<UserInfo> {
        self.update_user(name, "role", role.as_str().into())
    }

    pub fn set_user_password(&mut self, name: &str, password_hash: &str) -> Result<UserInfo> {
        self.update_user(name, "password_hash", password_hash.into())
    }

    /// Disables (or re-enables) an account; disabling also revokes its tokens.
    pub fn set_user_disabled(&mut self, name: &str, disabled: bool) -> Result<UserInfo> {
        let u = self.update_user(name, "disabled", i64::from(disabled).into())?;
        if disabled {
            self.revoke_user_tokens(name)?;
        }
        Ok(u)
    }

    /// Stores a new token (its sha256) for `user`; returns its id.
    pub fn add_token(
        &mut self,
        user: &str,
        token_sha256: &str,
        label: &str,
        expires_unix: i64,
    ) -> Result<i64> {
        let now = now_rfc3339();
        self.db.write(|db| {
            let uid = db
                .query("SELECT id FROM users WHERE name = $1", &[user.into()])?
                .first()
                .map(|r| int(&r[0]))
                .ok_or_else(|| Error::NotFound(format!("no account {user}")))?;
            db.exec(
                "INSERT INTO tokens (user_id, token_sha256, label, created_at, expires_unix) VALUES ($1, $2, $3, $4, $5)",
                &[uid.into(), token_sha256.into(), label.into(), now.as_str().into(), expires_unix.into()],
            )?;
            Ok(db
                .query("SELECT id FROM tokens WHERE token_sha256 = $1", &[token_sha256.into()])?
                .first()
                .map(|r| int(&r[0]))
                .unwrap_or(0))
        })
    }

    /// What the token with this sha256 is at `now_unix`.
    pub fn token_state(&mut self, token_sha256: &str, now_unix: i64) -> Result<TokenState> {
        let row = self.db.read(|db| {
            Ok(db
                .query(
                    &format!(
                        "SELECT {USER_COLUMNS}, t.expires_unix, t.revoked_at FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1"
                    ),
                    &[token_sha256.into()],
                )?
                .into_iter()
                .next())
        })?;
        let Some(r) = row else {
            return Ok(TokenState::Unknown);
        };
        let user = user_of(&r)?;
        Ok(if r[6].text().is_some() {
            TokenState::Revoked
        } else if int(&r[5]) <= now_unix {
            TokenState::Expired
        } else if user.disabled {
            TokenState::UserDisabled(user.name)
        } else {
            TokenState::Valid(user)
        })
    }

    /// Revokes the token with this sha256; false when there is none (or it was revoked).
    pub fn revoke_token_hash(&mut self, token_sha256: &str) -> Result<bool> {
        let now = now_rfc3339();
        Ok(self.db.write(|db| {
            db.exec(
                "UPDATE tokens SET revoked_at = $1 WHERE token_sha256 = $2 AND revoked_at IS NULL",
                &[now.as_str().into(), token_sha256.into()],
            )
        })? > 0)
    }

    /// Revokes token `id`; false when there is none (or it was revoked).
    pub fn revoke_token_id(&mut self, id: i64) -> Result<bool> {
        let now = now_rfc3339();
        Ok(self.db.write(|db| {
            db.exec(
                "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                &[now.as_str().into(), id.into()],
            )
        })? > 0)
    }

    /// Revokes every live token of `user`; returns how many.
    pub fn revoke_user_tokens(&mut self, user: &str) -> Result<u64> {
        let now = now_rfc3339();
        self.db.write(|db| {
            db.exec(
                "UPDATE tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE name = $2)",
                &[now.as_str().into(), user.into()],
            )
        })
    }

    /// Tokens (of `user`, or everyone's), newest first.
    pub fn tokens(&mut self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        self.db.read(|db| {
            let rows = db.query(
                "SELECT t.id, u.name, t.label, t.created_at, t.expires_unix, t.revoked_at FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE $1 = '' OR u.name = $1 ORDER BY t.id DESC",
                &[user.unwrap_or("").into()],
            )?;
            Ok(rows
                .iter()
                .map(|r| TokenInfo {
                    id: int(&r[0]),
                    user: text(&r[1]),
                    label: text(&r[2]),
                    created_at: text(&r[3]),
                    expires_unix: int(&r[4]),
                    revoked_at: r[5].text().map(str::to_string),
                })
                .collect())
        })
    }

    /// Records a failed login (by account name and remote address).
    pub fn add_login_failure(&mut self, user: &str, remote: &str, at_unix: i64) -> Result<()> {
        self.db.write(|db| {
            // Old failures are of no use to the rate limit: keep the table small.
            db.exec(
                "DELETE FROM login_failures WHERE at_unix < $1",
                &[(at_unix - 86_400).into()],
            )?;
            db.exec(
                "INSERT INTO login_failures (user_name, remote, at_unix) VALUES ($1, $2, $3)",
                &[user.into(), remote.into(), at_unix.into()],
            )?;
            Ok(())
        })
    }

    /// Failed logins since `since_unix`: (for this account name, from this remote address),
    /// and the time of the latest of either.
    pub fn login_failures(
        &mut self,
        user: &str,
        remote: &str,
        since_unix: i64,
    ) -> Result<(i64, i64, i64)> {
        self.db.read(|db| {
            let by_user = db.query(
                "SELECT count(*), coalesce(max(at_unix), 0) FROM login_failures WHERE user_name = $1 AND at_unix >= $2",
                &[user.into(), since_unix.into()],
            )?;
            let by_remote = db.query(
                "SELECT count(*), coalesce(max(at_unix), 0) FROM login_failures WHERE remote = $1 AND at_unix >= $2",
                &[remote.into(), since_unix.into()],
            )?;
            let (u, ul) = by_user.first().map(|r| (int(&r[0]), int(&r[1]))).unwrap_or_default();
            let (m, ml) = by_remote.first().map(|r| (int(&r[0]), int(&r[1]))).unwrap_or_default();
            Ok((u, m, ul.max(ml)))
        })
    }

    /// Forgets an account's failed logins (after a successful one).
    pub fn clear_login_failures(&mut self, user: &str) -> Result<()> {
        self.db.write(|db| {
            db.exec(
                "DELETE FROM login_failures WHERE user_name = $1",
                &[user.into()],
            )?;
            Ok(())
        })
    }

    /// Appends one record to the audit log.
    pub fn append_audit(&mut self, e: &AuditEntry) -> Result<()> {
        self.db.write(|db| {
            db.exec(
                "INSERT INTO audit (at, user_name, role, remote, action, case_key, annotator, version, outcome, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                &[
                    e.at.as_str().into(),
                    e.user.as_str().into(),
                    e.role.as_str().into(),
                    e.remote.as_str().into(),
                    e.action.as_str().into(),
                    e.case.clone().into(),
                    e.annotator.clone().into(),
                    e.version.into(),
                    e.outcome.into(),
                    e.detail.as_str().into(),
                ],
            )?;
            Ok(())
        })
    }

    /// The audit log, oldest first, optionally of one user and/or one case.
    pub fn audit(&mut self, user: Option<&str>, case: Option<&str>) -> Result<Vec<AuditEntry>> {
        self.db.read(|db| {
            let rows = db.query(
                "SELECT at, user_name, role, remote, action, case_key, annotator, version, outcome, detail FROM audit
                 WHERE ($1 = '' OR user_name = $1) AND ($2 = '' OR case_key = $2) ORDER BY id",
                &[user.unwrap_or("").into(), case.unwrap_or("").into()],
            )?;
            Ok(rows
                .iter()
                .map(|r| AuditEntry {
                    at: text(&r[0]),
                    user: text(&r[1]),
                    role: text(&r[2]),
                    remote: text(&r[3]),
                    action: text(&r[4]),
                    case: r[5].text().map(str::to_string),
                    annotator: r[6].text().map(str::to_string),
                    version: r[7].int(),
                    outcome: int(&r[8]),
                    detail: text(&r[9]),
                })
                .collect())
        })
    }

    /// Every slot of `case` (its annotators' statuses), for the blinding rule.
    pub fn case_slots(&mut self, case: &str) -> Result<Vec<crate::CaseRow>> {
        let sql = format!(
            "SELECT {} FROM cases c JOIN annotations a ON a.case_id = c.id WHERE c.case_key = $1 ORDER BY a.id",
            Self::SLOT_COLUMNS
        );
        self.db.read(|db| {
            Self::case_id(db, case, false)?;
            Ok(db
                .query(&sql, &[case.into()])?
                .iter()
                .map(|r| Self::row_of(r))
                .collect())
        })
    }

    /// The image (relative to the data root) and series UID of `case`.
    pub fn case_image(&mut self, case: &str) -> Result<(String, String)> {
        self.db.read(|db| {
            db.query(
                "SELECT image, series_uid FROM cases WHERE case_key = $1",
                &[case.into()],
            )?
            .first()
            .map(|r| (text(&r[0]), text(&r[1])))
            .ok_or_else(|| Error::NotFound(format!("no case {case:?} in the project")))
        })
    }

    /// Whether `case` is a gold case.
    pub fn case_is_gold(&mut self, case: &str) -> Result<bool> {
        self.db.read(|db| Self::is_gold(db, case))
    }

    /// Turns blinding on or off.
    pub fn set_blind(&mut self, blind: bool) -> Result<()> {
        let mut s = self.settings.clone();
        s.blind = blind;
        self.store_settings(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_a_safe_alphabet() {
        for ok in ["alice", "bob.smith", "r2@lab", "a-b_c"] {
            assert!(check_user_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-x",
            "a b",
            "x'; DROP TABLE users;--",
            "../etc",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_user_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_round_trip_and_unknown_is_refused() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
    }
}
