//! A throwaway PostgreSQL server for the `db init` tests.
//!
//! `initdb` into a temporary directory, `pg_ctl start` on a free loopback port with md5
//! password authentication for TCP and a test CA's certificate for TLS, `pg_ctl stop`
//! on drop. The server binaries come from `BPA_TEST_PG_BIN` (set by `scripts/test`), from
//! `PATH`, or from `/usr/lib/postgresql/*/bin`; without them the test fails and says how
//! to install them. PostgreSQL refuses to run as root, so as root (CI, containers) the
//! server runs as the `postgres` user (or `nobody`) through `runuser` or `setpriv`.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use tempfile::TempDir;

/// The bootstrap superuser and its password.
pub const SUPERUSER: &str = "bpaadmin";
pub const SUPERUSER_PASSWORD: &str = "Boot-strap-pw-1";

/// How the server treats connections without TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS offered, plain connections accepted too.
    Optional,
    /// Plain TCP connections are rejected.
    Required,
}

/// A running PostgreSQL server, stopped when dropped.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    /// Certificate of the CA that signed the server's certificate (PEM).
    pub ca_cert: PathBuf,
    /// Holds the data directory; removed after `drop` has stopped the server.
    _dir: TempDir,
}

#[derive(Debug, Clone)]
struct RunAs {
    user: String,
    uid: u32,
    gid: u32,
}

impl Postgres {
    /// Starts a server that accepts plain and TLS connections.
    pub fn start() -> Self {
        Self::start_with(Tls::Optional)
    }

    /// Starts a server with the given TLS policy.
    pub fn start_with(tls: Tls) -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("bpa-infra-pg-")
            .tempdir()
            .expect("create a temporary directory");
        let run_as = run_as();
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, SUPERUSER_PASSWORD).expect("write the password file");
        let ca_cert = make_certificates(dir.path());
        if let Some(user) = &run_as {
            chown_tree(dir.path(), user);
        }

        let initdb = run(
            &run_as,
            Command::new(bin.join("initdb"))
                .arg("--pgdata")
                .arg(&data)
                .args([
                    "--username",
                    SUPERUSER,
                    "--auth-local=trust",
                    "--auth-host=md5",
                ])
                .args(["--encoding=UTF8", "--locale=C", "--no-sync"])
                .arg(format!("--pwfile={}", pwfile.display())),
        );
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}",
            describe(&initdb)
        );

        // Only md5 for TCP; with Tls::Required, plain TCP is refused outright.
        let mut hba = String::from("local all all trust\n");
        match tls {
            Tls::Optional => hba.push_str("host all all 127.0.0.1/32 md5\n"),
            Tls::Required => hba.push_str(
                "hostssl all all 127.0.0.1/32 md5\nhostnossl all all 127.0.0.1/32 reject\n",
            ),
        }
        std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        let mut conf = String::new();
        writeln!(conf, "listen_addresses = '127.0.0.1'").unwrap();
        writeln!(conf, "unix_socket_directories = '{}'", dir.path().display()).unwrap();
        writeln!(conf, "ssl = on").unwrap();
        writeln!(
            conf,
            "ssl_cert_file = '{}'",
            dir.path().join("server.crt").display()
        )
        .unwrap();
        writeln!(
            conf,
            "ssl_key_file = '{}'",
            dir.path().join("server.key").display()
        )
        .unwrap();
        writeln!(conf, "fsync = off").unwrap();
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path).expect("read postgresql.conf");
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing).expect("write postgresql.conf");
        if let Some(user) = &run_as {
            chown_tree(dir.path(), user);
        }

        let log = dir.path().join("server.log");
        // A port found free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let start = run(
                &run_as,
                Command::new(bin.join("pg_ctl"))
                    .arg("--pgdata")
                    .arg(&data)
                    .arg("--log")
                    .arg(&log)
                    .args(["--wait", "--timeout=60", "--silent"])
                    .arg(format!("--options=-p {port}"))
                    .arg("start"),
            );
            if start.status.success() {
                return Self {
                    bin,
                    data,
                    port,
                    run_as,
                    ca_cert,
                    _dir: dir,
                };
            }
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            if !log_text.contains("could not bind") && !log_text.contains("in use") {
                panic!(
                    "pg_ctl start failed:\n{}\nserver log:\n{log_text}",
                    describe(&start)
                );
            }
        }
        panic!("pg_ctl start failed five times: no free port");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Returns the path of `psql` from the same installation as the server.
    pub fn psql(&self) -> PathBuf {
        let psql = self.bin.join("psql");
        if psql.is_file() {
            psql
        } else {
            PathBuf::from("psql")
        }
    }

    /// Connects over TCP without TLS.
    pub async fn connect(
        &self,
        user: &str,
        password: &str,
        dbname: &str,
    ) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) = tokio_postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .password(password)
            .dbname(dbname)
            .connect_timeout(Duration::from_secs(10))
            .connect(tokio_postgres::NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Connects as the bootstrap superuser to `postgres`.
    pub async fn superuser(&self) -> tokio_postgres::Client {
        self.connect(SUPERUSER, SUPERUSER_PASSWORD, "postgres")
            .await
            .expect("the superuser connects")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = run(
            &self.run_as,
            Command::new(self.bin.join("pg_ctl"))
                .arg("--pgdata")
                .arg(&self.data)
                .args(["--mode=immediate", "--wait", "--silent", "stop"]),
        );
    }
}

/// Runs a future to completion on a fresh runtime (the tests themselves are synchronous
/// because they run the binary).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// Finds the server binaries, following symlinks (as in `/usr/local/bin/initdb`) to the
/// directory that also holds `postgres` and `psql`.
fn bin_dir() -> PathBuf {
    let dir = find_bin_dir();
    std::fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf))
        .unwrap_or(dir)
}

fn find_bin_dir() -> PathBuf {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("BPA_TEST_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            has_tools(&dir),
            "BPA_TEST_PG_BIN={} has no initdb and pg_ctl; run ./scripts/test, which installs Debian's postgresql package and sets it",
            dir.display()
        );
        return dir;
    }
    let from_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_tools(dir));
    if let Some(dir) = from_path {
        return dir;
    }
    let mut debian: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|dir| has_tools(dir))
                .collect()
        })
        .unwrap_or_default();
    debian.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    debian.pop().unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found in BPA_TEST_PG_BIN, PATH or \
             /usr/lib/postgresql/*/bin: run ./scripts/test, which installs Debian's postgresql \
             package (or `apt-get install postgresql` and set BPA_TEST_PG_BIN)"
        )
    })
}

/// Picks the unprivileged user to run the server as when the tests run as root.
fn run_as() -> Option<RunAs> {
    if current_uid() != 0 {
        return None;
    }
    for user in ["postgres", "nobody"] {
        let id = |flag: &str| -> Option<u32> {
            let out = Command::new("id").args([flag, user]).output().ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().parse().ok())?
        };
        if let (Some(uid), Some(gid)) = (id("-u"), id("-g")) {
            return Some(RunAs {
                user: user.to_owned(),
                uid,
                gid,
            });
        }
    }
    panic!(
        "running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as"
    );
}

fn current_uid() -> u32 {
    // /proc/self/status: "Uid:\treal\teffective\tsaved\tfs"; the effective uid decides.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .and_then(|euid| euid.parse().ok())
        })
        .unwrap_or_else(|| {
            let out = Command::new("id").arg("-u").output().expect("run `id -u`");
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("`id -u` prints a number")
        })
}

/// Runs a command, as `run_as` when set (runuser, or setpriv where runuser is missing).
fn run(run_as: &Option<RunAs>, command: &mut Command) -> Output {
    let command = match run_as {
        None => command,
        Some(user) => {
            let program = command.get_program().to_owned();
            let args: Vec<_> = command.get_args().map(ToOwned::to_owned).collect();
            let mut wrapped =
                if Path::new("/usr/sbin/runuser").exists() || Path::new("/sbin/runuser").exists() {
                    let mut c = Command::new("runuser");
                    c.args(["-u", &user.user, "--"]);
                    c
                } else {
                    let mut c = Command::new("setpriv");
                    c.arg(format!("--reuid={}", user.uid))
                        .arg(format!("--regid={}", user.gid))
                        .arg("--clear-groups")
                        .arg("--");
                    c
                };
            wrapped.arg(program).args(args);
            return wrapped
                .current_dir("/")
                .output()
                .expect("run a PostgreSQL tool as an unprivileged user");
        }
    };
    command
        .output()
        .unwrap_or_else(|e| panic!("run {:?}: {e}", command.get_program()))
}

fn chown_tree(path: &Path, user: &RunAs) {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read a temporary directory") {
            chown_tree(&entry.expect("a directory entry").path(), user);
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// Makes a test CA and a server certificate for 127.0.0.1 and localhost signed by it
/// (with the openssl CLI, which Debian's postgresql package brings along); returns the
/// CA certificate's path.
fn make_certificates(dir: &Path) -> PathBuf {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("run openssl ({e}): install it (`apt-get install openssl`) or run ./scripts/test")
            });
        assert!(
            out.status.success(),
            "openssl {args:?} failed:\n{}",
            describe(&out)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=bpa-infra test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write the certificate extensions");
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    ]);
    // PostgreSQL refuses a key that others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("restrict the server key");
    dir.join("ca.crt")
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
