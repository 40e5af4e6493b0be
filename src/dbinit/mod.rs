//! Database bootstrap: creates the profile's users and databases in PostgreSQL, or brings
//! them in line, and reports what it changed.
//!
//! Idempotent: a second run with the same passwords changes nothing. Passwords reach the
//! server only as md5 hashes (`md5` || md5(password || user)), which PostgreSQL stores as
//! they are; a hash travels as a bound parameter whose `Debug` is hidden, never in a
//! statement's text, so neither the server's statement log nor tokio-postgres' debug log
//! shows it. The caller passes every password in; this module reads no environment
//! variable.

pub mod sql;
mod tls;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

/// A password; its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// Returns the password itself, for the one place that must send or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

/// How the connection uses TLS (libpq's `sslmode` values that make sense here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS (a local test server, or a tunnel that encrypts already).
    Disable,
    /// TLS, without checking the server's certificate.
    Require,
    /// TLS, checking the certificate and host name against a CA bundle (the RDS one).
    VerifyFull { ca_bundle: PathBuf },
}

/// Where to connect and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub ssl_mode: SslMode,
    pub user: String,
    pub password: Password,
    pub connect_timeout: Duration,
}

/// A database the profile wants, with its owner and the owner's password.
#[derive(Debug, Clone)]
pub struct DatabaseSpec {
    pub name: String,
    pub owner: String,
    pub owner_password: Password,
}

/// What kind of object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    Role,
    Database,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Role => "role",
            Self::Database => "database",
        })
    }
}

/// What `db init` did to one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Created (a role with its password, a database with its owner).
    Created,
    /// Already as the profile wants it.
    Unchanged,
    /// The stored password hash differed from the one in the environment.
    PasswordChanged,
    /// The stored password could not be read (no superuser), so it was set again.
    PasswordSet,
    /// The role existed without the LOGIN attribute.
    LoginEnabled,
    /// The database belonged to another role.
    OwnerChanged { previous: String },
    /// The owner lacked some database privilege.
    PrivilegesGranted,
    /// The connecting user was made a member of the owner role, which PostgreSQL needs
    /// to create a database for it when the connecting user is not a superuser (RDS).
    MembershipGranted { to: String },
}

impl Action {
    /// Tells whether the action changed anything.
    pub fn is_change(&self) -> bool {
        !matches!(self, Self::Unchanged)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Created => f.write_str("created"),
            Self::Unchanged => f.write_str("unchanged"),
            Self::PasswordChanged => f.write_str("password changed"),
            Self::PasswordSet => f.write_str("password set (stored hash not readable)"),
            Self::LoginEnabled => f.write_str("login enabled"),
            Self::OwnerChanged { previous } => write!(f, "owner changed (was {previous})"),
            Self::PrivilegesGranted => f.write_str("privileges granted"),
            Self::MembershipGranted { to } => write!(f, "membership granted to {to}"),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub object: ObjectKind,
    pub name: String,
    #[serde(flatten)]
    pub action: Action,
}

/// What `db init` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// `server_version` as the server reports it.
    pub server_version: String,
    /// Every role and database the profile names, in order, with what happened to it.
    pub changes: Vec<Change>,
}

impl Report {
    /// Tells whether anything was created or changed.
    pub fn changed(&self) -> bool {
        self.changes.iter().any(|c| c.action.is_change())
    }

    fn push(&mut self, object: ObjectKind, name: &str, action: Action) {
        self.changes.push(Change {
            object,
            name: name.to_owned(),
            action,
        });
    }
}

/// Why `db init` failed.
#[derive(Debug, thiserror::Error)]
pub enum DbInitError {
    #[error("cannot connect to PostgreSQL at {host}:{port} as {user}")]
    Connect {
        host: String,
        port: u16,
        user: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("CA bundle {}: {message}", path.display())]
    CaBundle { path: PathBuf, message: String },
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
    #[error("cannot {what}")]
    Statement {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Connects to `target` and creates or updates every role and database in `databases`.
pub async fn run(target: &Target, databases: &[DatabaseSpec]) -> Result<Report, DbInitError> {
    let client = connect(target).await?;
    let mut report = Report::default();
    let session = Session::start(&client, &mut report).await?;

    // One role may own several databases; it has one password (the profile checks that).
    let mut roles: Vec<(&str, &Password)> = Vec::new();
    for db in databases {
        if !roles.iter().any(|(name, _)| *name == db.owner) {
            roles.push((&db.owner, &db.owner_password));
        }
    }
    for (role, password) in roles {
        let action = session.ensure_role(role, password).await?;
        tracing::info!(role, %action, "role");
        report.push(ObjectKind::Role, role, action);
    }
    for db in databases {
        if let Some(action) = session.ensure_membership(&db.owner).await? {
            tracing::info!(role = %db.owner, %action, "role");
            report.push(ObjectKind::Role, &db.owner, action);
        }
        let action = session.ensure_database(&db.name, &db.owner).await?;
        tracing::info!(database = %db.name, %action, "database");
        report.push(ObjectKind::Database, &db.name, action);
        if session.ensure_privileges(&db.name, &db.owner).await? {
            report.push(ObjectKind::Database, &db.name, Action::PrivilegesGranted);
        }
    }
    Ok(report)
}

async fn connect(target: &Target) -> Result<Client, DbInitError> {
    let mut config = tokio_postgres::Config::new();
    config
        .host(&target.host)
        .port(target.port)
        .user(&target.user)
        .password(target.password.expose())
        .dbname("postgres")
        .application_name("bpa-infra db init")
        .connect_timeout(target.connect_timeout);
    let connect_error = |source| DbInitError::Connect {
        host: target.host.clone(),
        port: target.port,
        user: target.user.clone(),
        source,
    };
    tracing::info!(
        host = %target.host,
        port = target.port,
        user = %target.user,
        ssl_mode = ?target.ssl_mode,
        "connecting"
    );
    let tls_config = match &target.ssl_mode {
        SslMode::Disable => None,
        SslMode::Require => Some(tls::encrypt_only()?),
        SslMode::VerifyFull { ca_bundle } => Some(tls::verify_full(ca_bundle)?),
    };
    let client = match tls_config {
        None => {
            config.ssl_mode(tokio_postgres::config::SslMode::Disable);
            let (client, connection) = config.connect(NoTls).await.map_err(connect_error)?;
            tokio::spawn(drive(connection));
            client
        }
        Some(tls_config) => {
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let tls = tokio_postgres_rustls::MakeRustlsConnect::new(tls_config);
            let (client, connection) = config.connect(tls).await.map_err(connect_error)?;
            tokio::spawn(drive(connection));
            client
        }
    };
    Ok(client)
}

async fn drive<S, T>(connection: tokio_postgres::Connection<S, T>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Err(err) = connection.await {
        tracing::debug!(error = %err, "PostgreSQL connection closed");
    }
}

/// The connected session and what it knows about the connecting user.
struct Session<'c> {
    client: &'c Client,
    current_user: String,
    superuser: bool,
    /// PostgreSQL 16 and later need the SET option on a role (not only membership) to
    /// create a database owned by it.
    membership_privilege: &'static str,
}

impl<'c> Session<'c> {
    async fn start(client: &'c Client, report: &mut Report) -> Result<Self, DbInitError> {
        // Only passwords set from here on are md5; the hashes below are md5 anyway, but the
        // session setting keeps anything else set here consistent with the profile.
        client
            .batch_execute("SET password_encryption = 'md5'")
            .await
            .map_err(stmt("set password_encryption = 'md5'"))?;
        let row = client
            .query_one(
                "SELECT current_user::text, \
                        (SELECT rolsuper FROM pg_roles WHERE rolname = current_user), \
                        current_setting('server_version'), \
                        current_setting('server_version_num')::int",
                &[],
            )
            .await
            .map_err(stmt("read the connecting user and server version"))?;
        report.server_version = row.get(2);
        let version_num: i32 = row.get(3);
        Ok(Self {
            client,
            current_user: row.get(0),
            superuser: row.get(1),
            membership_privilege: if version_num >= 160000 {
                "SET"
            } else {
                "MEMBER"
            },
        })
    }

    async fn ensure_role(&self, role: &str, password: &Password) -> Result<Action, DbInitError> {
        let hash = sql::md5_password_hash(password.expose(), role);
        let existing = self
            .client
            .query_opt(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1",
                &[&role],
            )
            .await
            .map_err(stmt(format!("look up role `{role}`")))?;
        let Some(existing) = existing else {
            self.set_password("CREATE ROLE %I LOGIN PASSWORD %L", role, &hash)
                .await
                .map_err(stmt(format!("create role `{role}`")))?;
            return Ok(Action::Created);
        };
        let can_login: bool = existing.get(0);
        let action = match self.stored_password(role).await? {
            Some(stored) if stored == hash => {
                if can_login {
                    return Ok(Action::Unchanged);
                }
                self.client
                    .batch_execute(&format!("ALTER ROLE {} LOGIN", sql::quote_ident(role)))
                    .await
                    .map_err(stmt(format!("enable login for role `{role}`")))?;
                return Ok(Action::LoginEnabled);
            }
            Some(_) => Action::PasswordChanged,
            None => Action::PasswordSet,
        };
        self.set_password("ALTER ROLE %I WITH LOGIN PASSWORD %L", role, &hash)
            .await
            .map_err(stmt(format!("set the password of role `{role}`")))?;
        Ok(action)
    }

    /// Runs a `format()` pattern with the role and the password hash, building the
    /// statement on the server: the hash travels as a bound parameter (hidden from
    /// tokio-postgres' debug log), never in SQL text.
    async fn set_password(
        &self,
        pattern: &str,
        role: &str,
        hash: &str,
    ) -> Result<(), tokio_postgres::Error> {
        // `Client::transaction` needs `&mut`; plain BEGIN/COMMIT keep the session shared.
        self.client.batch_execute("BEGIN").await?;
        let body = format!(
            "BEGIN EXECUTE format({}, {}, current_setting('bpa_infra.password_hash')); END",
            sql::quote_literal(pattern),
            sql::quote_literal(role),
        );
        let result = async {
            // Local to the transaction: the setting is gone once it ends.
            self.client
                .execute(
                    "SELECT set_config('bpa_infra.password_hash', $1, true)",
                    &[&Hidden(hash)],
                )
                .await?;
            self.client
                .batch_execute(&format!("DO {}", sql::quote_literal(&body)))
                .await
        }
        .await;
        match result {
            Ok(()) => self.client.batch_execute("COMMIT").await,
            Err(err) => {
                // The statement's error is the one worth reporting.
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(err)
            }
        }
    }

    /// Reads a role's stored password hash; `None` when pg_authid is not readable (only
    /// superusers may read it, and the RDS master user is not one) or it has none.
    async fn stored_password(&self, role: &str) -> Result<Option<String>, DbInitError> {
        match self
            .client
            .query_opt(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
        {
            Ok(row) => Ok(row.and_then(|row| row.get::<_, Option<String>>(0))),
            Err(err) if err.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Ok(None),
            Err(err) => Err(stmt(format!("read the password hash of role `{role}`"))(
                err,
            )),
        }
    }

    async fn ensure_membership(&self, role: &str) -> Result<Option<Action>, DbInitError> {
        if self.superuser {
            return Ok(None);
        }
        let row = self
            .client
            .query_one(
                "SELECT pg_has_role(current_user, $1, $2)",
                &[&role, &self.membership_privilege],
            )
            .await
            .map_err(stmt(format!("check membership in role `{role}`")))?;
        if row.get(0) {
            return Ok(None);
        }
        self.client
            .batch_execute(&format!("GRANT {} TO CURRENT_USER", sql::quote_ident(role)))
            .await
            .map_err(stmt(format!(
                "grant role `{role}` to `{}`",
                self.current_user
            )))?;
        Ok(Some(Action::MembershipGranted {
            to: self.current_user.clone(),
        }))
    }

    async fn ensure_database(&self, name: &str, owner: &str) -> Result<Action, DbInitError> {
        let existing = self
            .client
            .query_opt(
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1",
                &[&name],
            )
            .await
            .map_err(stmt(format!("look up database `{name}`")))?;
        match existing {
            None => {
                // CREATE DATABASE cannot run inside a transaction or a DO block.
                self.client
                    .batch_execute(&format!(
                        "CREATE DATABASE {} OWNER {}",
                        sql::quote_ident(name),
                        sql::quote_ident(owner)
                    ))
                    .await
                    .map_err(stmt(format!("create database `{name}`")))?;
                Ok(Action::Created)
            }
            Some(row) => {
                let current: String = row.get(0);
                if current == owner {
                    return Ok(Action::Unchanged);
                }
                self.client
                    .batch_execute(&format!(
                        "ALTER DATABASE {} OWNER TO {}",
                        sql::quote_ident(name),
                        sql::quote_ident(owner)
                    ))
                    .await
                    .map_err(stmt(format!(
                        "change the owner of database `{name}` to `{owner}`"
                    )))?;
                Ok(Action::OwnerChanged { previous: current })
            }
        }
    }

    /// Grants the owner every database privilege it lacks; tells whether it granted any.
    async fn ensure_privileges(&self, name: &str, owner: &str) -> Result<bool, DbInitError> {
        let row = self
            .client
            .query_one(
                "SELECT has_database_privilege($1, $2, 'CREATE') \
                    AND has_database_privilege($1, $2, 'CONNECT') \
                    AND has_database_privilege($1, $2, 'TEMPORARY')",
                &[&owner, &name],
            )
            .await
            .map_err(stmt(format!("check privileges of `{owner}` on `{name}`")))?;
        if row.get(0) {
            return Ok(false);
        }
        self.client
            .batch_execute(&format!(
                "GRANT ALL PRIVILEGES ON DATABASE {} TO {}",
                sql::quote_ident(name),
                sql::quote_ident(owner)
            ))
            .await
            .map_err(stmt(format!("grant privileges on `{name}` to `{owner}`")))?;
        Ok(true)
    }
}

/// A text parameter whose `Debug` hides it: tokio-postgres logs every parameter with
/// `Debug` at debug level, and an md5 hash logs in as well as the password itself.
struct Hidden<'a>(&'a str);

impl fmt::Debug for Hidden<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"****\"")
    }
}

impl ToSql for Hidden<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

/// Wraps a PostgreSQL error with what was being done.
fn stmt(what: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> DbInitError {
    let what = what.into();
    move |source| DbInitError::Statement { what, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_parameters_do_not_show_in_debug_output() {
        let hash = sql::md5_password_hash("secret", "kong");
        assert_eq!(format!("{:?}", Hidden(&hash)), "\"****\"");
    }

    #[test]
    fn passwords_do_not_show_in_debug_output() {
        let spec = DatabaseSpec {
            name: "kong".into(),
            owner: "kong".into(),
            owner_password: Password::new("hunter2-secret"),
        };
        assert!(!format!("{spec:?}").contains("hunter2"));
    }

    #[test]
    fn report_serialises_without_secrets_and_with_actions() {
        let mut report = Report::default();
        report.push(ObjectKind::Role, "kong", Action::Created);
        report.push(
            ObjectKind::Database,
            "process-engine",
            Action::OwnerChanged {
                previous: "postgres".into(),
            },
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["changes"][0]["action"], "created");
        assert_eq!(json["changes"][1]["action"], "owner_changed");
        assert_eq!(json["changes"][1]["previous"], "postgres");
        assert!(report.changed());
    }
}
