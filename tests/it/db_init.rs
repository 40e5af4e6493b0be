//! `db init` through the real binary against a throwaway PostgreSQL server.

use std::path::{Path, PathBuf};

use predicates::prelude::*;

use crate::support::moto::{Moto, xml_text};
use crate::support::postgres::{Postgres, SUPERUSER, SUPERUSER_PASSWORD, Tls, block_on};
use crate::support::{bpa_infra, write_profile};

const KONG_PASSWORD: &str = "Kong-pw-0ne";
const CAMUNDA_PASSWORD: &str = "Camunda-pw-tw0";

fn profile_text(master: &str) -> String {
    format!(
        r#"apiVersion: bpa-infra/v1
name: dbtest
region: us-west-2
network:
  vpc:
    cidr: 10.20.0.0/16
  availability_zones: [us-west-2a, us-west-2b, us-west-2c]
eks:
  version: "1.35"
  node_groups:
    - name: node-1
      instance_type: m5.xlarge
      data_volume: {{ size_gib: 100 }}
rds:
  engine_version: "16.4"
  instance_class: db.m5d.large
  storage: {{ type: gp3, size_gib: 400, iops: 12000 }}
  master_username: {master}
  master_password: {{ from_env: BPA_TEST_MASTER_PASSWORD }}
  deletion_protection: false
  databases:
    - {{ name: kong, user: kong, password_env: BPA_KONG_DB_PASSWORD }}
    - {{ name: process-engine, user: camunda, password_env: BPA_CAMUNDA_DB_PASSWORD }}
ecr:
  repositories: [bpa/ui]
ingress:
  host: bpa.example.com
"#
    )
}

struct Setup {
    _dir: tempfile::TempDir,
    profile: PathBuf,
}

fn setup(master: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(dir.path(), "dbtest.yaml", &profile_text(master));
    Setup { _dir: dir, profile }
}

/// Runs `db init` with the given passwords and returns (stdout, stderr).
fn db_init(
    profile: &Path,
    pg: &Postgres,
    master_password: &str,
    kong: &str,
    camunda: &str,
    extra: &[&str],
) -> (String, String) {
    let out = bpa_infra()
        .arg("-p")
        .arg(profile)
        .args(["db", "init", "--host", "127.0.0.1", "--port"])
        .arg(pg.port().to_string())
        .args(extra)
        .env("BPA_TEST_MASTER_PASSWORD", master_password)
        .env("BPA_KONG_DB_PASSWORD", kong)
        .env("BPA_CAMUNDA_DB_PASSWORD", camunda)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "db init failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for secret in [master_password, kong, camunda] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a password leaked:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    (stdout, stderr)
}

fn row(stdout: &str, object: &str, name: &str) -> String {
    stdout
        .lines()
        .find(|l| {
            let mut words = l.split_whitespace();
            words.next() == Some(object) && words.next() == Some(name)
        })
        .unwrap_or_else(|| panic!("no `{object} {name}` row in:\n{stdout}"))
        .to_owned()
}

async fn rolpassword(pg: &Postgres, role: &str) -> String {
    pg.superuser()
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&role],
        )
        .await
        .unwrap()
        .get(0)
}

#[test]
fn creates_databases_and_users_then_changes_nothing_then_applies_a_new_password() {
    let pg = Postgres::start();
    let setup = setup(SUPERUSER);
    let init = |kong: &str, extra: &[&str]| {
        db_init(
            &setup.profile,
            &pg,
            SUPERUSER_PASSWORD,
            kong,
            CAMUNDA_PASSWORD,
            extra,
        )
    };

    let (first, _) = init(KONG_PASSWORD, &["--sslmode", "disable"]);
    assert!(row(&first, "role", "kong").ends_with("created"), "{first}");
    assert!(
        row(&first, "role", "camunda").ends_with("created"),
        "{first}"
    );
    assert!(
        row(&first, "database", "kong").ends_with("created"),
        "{first}"
    );
    assert!(
        row(&first, "database", "process-engine").ends_with("created"),
        "{first}"
    );

    block_on(async {
        let owner: String = pg
            .superuser()
            .await
            .query_one(
                "SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = 'process-engine'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(owner, "camunda");
        pg.connect("kong", KONG_PASSWORD, "kong")
            .await
            .expect("kong logs in to its database");
        pg.connect("camunda", CAMUNDA_PASSWORD, "process-engine")
            .await
            .expect("camunda logs in to its database");
        for role in ["kong", "camunda"] {
            let stored = rolpassword(&pg, role).await;
            assert!(stored.starts_with("md5"), "{role}: {stored}");
        }
    });

    let (second, _) = init(KONG_PASSWORD, &["--sslmode", "disable"]);
    assert!(second.contains("no changes"), "{second}");
    assert!(
        row(&second, "role", "kong").ends_with("unchanged"),
        "{second}"
    );
    assert!(
        row(&second, "database", "process-engine").ends_with("unchanged"),
        "{second}"
    );

    let new_password = "Kong-pw-n3w";
    let (third, _) = init(new_password, &["--sslmode", "disable", "-vv"]);
    assert!(
        row(&third, "role", "kong").ends_with("password changed"),
        "{third}"
    );
    assert!(
        row(&third, "role", "camunda").ends_with("unchanged"),
        "{third}"
    );
    assert!(third.contains("1 change "), "{third}");
    block_on(async {
        pg.connect("kong", new_password, "kong")
            .await
            .expect("the new password works");
        assert!(pg.connect("kong", KONG_PASSWORD, "kong").await.is_err());
        assert!(rolpassword(&pg, "kong").await.starts_with("md5"));
    });
}

#[test]
fn json_output_is_versioned_and_lists_every_change() {
    let pg = Postgres::start();
    let setup = setup(SUPERUSER);
    let (stdout, _) = db_init(
        &setup.profile,
        &pg,
        SUPERUSER_PASSWORD,
        KONG_PASSWORD,
        CAMUNDA_PASSWORD,
        &["--sslmode", "disable", "--output", "json"],
    );
    let json: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(json["format_version"], 1);
    assert_eq!(json["changed"], true);
    let changes = json["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["object"] == "database"
        && c["name"] == "process-engine"
        && c["action"] == "created"));
}

#[test]
fn a_master_user_without_superuser_works_like_on_rds() {
    let pg = Postgres::start();
    let master = "rdsmaster";
    let master_password = "Rds-master-pw-1";
    block_on(async {
        pg.superuser()
            .await
            .batch_execute(&format!(
                "CREATE ROLE {master} LOGIN CREATEROLE CREATEDB PASSWORD '{master_password}'"
            ))
            .await
            .unwrap();
    });
    let setup = setup(master);
    let init = || {
        db_init(
            &setup.profile,
            &pg,
            master_password,
            KONG_PASSWORD,
            CAMUNDA_PASSWORD,
            &["--sslmode", "disable"],
        )
        .0
    };

    let first = init();
    assert!(row(&first, "role", "kong").ends_with("created"), "{first}");
    assert!(first.contains("membership granted to rdsmaster"), "{first}");
    assert!(
        row(&first, "database", "process-engine").ends_with("created"),
        "{first}"
    );
    block_on(async {
        pg.connect("camunda", CAMUNDA_PASSWORD, "process-engine")
            .await
            .expect("camunda logs in");
        assert!(rolpassword(&pg, "camunda").await.starts_with("md5"));
    });

    // pg_authid is not readable without superuser: the password is set again and said so.
    let second = init();
    assert!(
        row(&second, "role", "kong").contains("password set"),
        "{second}"
    );
    assert!(
        row(&second, "database", "kong").ends_with("unchanged"),
        "{second}"
    );
    assert!(!second.contains("membership granted"), "{second}");
}

#[test]
fn missing_password_variables_are_named_before_connecting() {
    let setup = setup(SUPERUSER);
    bpa_infra()
        .arg("-p")
        .arg(&setup.profile)
        // Nothing listens on port 1: reaching it would be a different error.
        .args(["db", "init", "--host", "127.0.0.1", "--port", "1"])
        .env("BPA_TEST_MASTER_PASSWORD", "x")
        .env("BPA_KONG_DB_PASSWORD", KONG_PASSWORD)
        .assert()
        .code(64)
        .stderr(
            predicate::str::contains("BPA_CAMUNDA_DB_PASSWORD")
                .and(predicate::str::contains("rds.databases[1].password_env"))
                .and(predicate::str::contains("connect").not()),
        );
    bpa_infra()
        .arg("-p")
        .arg(&setup.profile)
        .args(["db", "init", "--host", "127.0.0.1", "--port", "1"])
        .env("BPA_KONG_DB_PASSWORD", KONG_PASSWORD)
        .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
        .assert()
        .code(64)
        .stderr(
            predicate::str::contains("BPA_TEST_MASTER_PASSWORD")
                .and(predicate::str::contains("rds.master_password")),
        );
}

#[test]
fn tls_require_encrypts_and_verify_full_checks_the_ca() {
    let pg = Postgres::start_with(Tls::Required);
    let setup = setup(SUPERUSER);
    let run = |extra: &[&str]| {
        bpa_infra()
            .arg("-p")
            .arg(&setup.profile)
            .args(["db", "init", "--host", "127.0.0.1", "--port"])
            .arg(pg.port().to_string())
            .args(extra)
            .env("BPA_TEST_MASTER_PASSWORD", SUPERUSER_PASSWORD)
            .env("BPA_KONG_DB_PASSWORD", KONG_PASSWORD)
            .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
            .assert()
    };

    // The server refuses plain TCP, so success proves the default encrypts.
    run(&[])
        .success()
        .stdout(predicate::str::contains("created"));
    run(&["--sslmode", "disable"])
        .code(1)
        .stderr(predicate::str::contains("cannot connect"));
    let ca = pg.ca_cert.to_str().unwrap();
    run(&["--ca-bundle", ca])
        .success()
        .stdout(predicate::str::contains("no changes"));

    // A CA that did not sign the server's certificate is refused.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other-ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=other CA", "-keyout"])
        .arg(other.path().join("other.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .unwrap();
    assert!(status.status.success());
    run(&[
        "--sslmode",
        "verify-full",
        "--ca-bundle",
        other_ca.to_str().unwrap(),
    ])
    .code(1)
    .stderr(predicate::str::contains("cannot connect"));
}

#[test]
fn sslmode_and_ca_bundle_must_agree() {
    let setup = setup(SUPERUSER);
    let run = |extra: &[&str]| {
        bpa_infra()
            .arg("-p")
            .arg(&setup.profile)
            .args(["db", "init", "--host", "127.0.0.1"])
            .args(extra)
            .assert()
    };
    run(&["--sslmode", "verify-full"])
        .code(64)
        .stderr(predicate::str::contains("--ca-bundle"));
    run(&["--sslmode", "disable", "--ca-bundle", "ca.pem"])
        .code(64)
        .stderr(predicate::str::contains("verify-full"));
}

#[test]
fn the_rendered_job_sql_bootstraps_with_psql() {
    let pg = Postgres::start();
    let out_dir = tempfile::tempdir().unwrap();
    bpa_infra()
        .args(["-p", "prod-us-west-2", "render", "--offline", "--out-dir"])
        .arg(out_dir.path())
        .assert()
        .success();
    let job = std::fs::read_to_string(out_dir.path().join("db-init-job.yaml")).unwrap();
    let config_map: serde_json::Value = serde_yaml::from_str(job.split("\n---\n").next().unwrap())
        .expect("the SQL ConfigMap parses");
    let sql = config_map["data"]["init.sql"].as_str().unwrap();
    let sql_file = out_dir.path().join("init.sql");
    std::fs::write(&sql_file, sql).unwrap();

    let psql = |kong: &str| {
        let out = std::process::Command::new(pg.psql())
            .args(["--no-psqlrc", "--host", "127.0.0.1", "--port"])
            .arg(pg.port().to_string())
            .args(["--username", SUPERUSER, "--dbname", "postgres", "--file"])
            .arg(&sql_file)
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .env("BPA_KONG_DB_PASSWORD", kong)
            .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "psql failed:\n{text}");
        assert!(
            !text.contains(kong) && !text.contains(CAMUNDA_PASSWORD),
            "{text}"
        );
    };
    psql(KONG_PASSWORD);
    psql(KONG_PASSWORD); // idempotent
    block_on(async {
        pg.connect("camunda", CAMUNDA_PASSWORD, "process-engine")
            .await
            .expect("camunda logs in");
        pg.connect("kong", KONG_PASSWORD, "kong")
            .await
            .expect("kong logs in");
        assert!(rolpassword(&pg, "kong").await.starts_with("md5"));
    });

    // Without a password variable the script stops with an error naming it.
    let out = std::process::Command::new(pg.psql())
        .args(["--no-psqlrc", "--host", "127.0.0.1", "--port"])
        .arg(pg.port().to_string())
        .args(["--username", SUPERUSER, "--dbname", "postgres", "--file"])
        .arg(&sql_file)
        .env("PGPASSWORD", SUPERUSER_PASSWORD)
        .env_remove("BPA_KONG_DB_PASSWORD")
        .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("BPA_KONG_DB_PASSWORD"));
}

#[test]
fn a_managed_master_password_is_read_from_secrets_manager() {
    let moto = Moto::start();
    let cluster = moto.create_db_cluster("dbtest-bpa", "bpaadmin", Some("dbtest"));
    let arn = xml_text(&cluster, "SecretArn").expect("moto keeps a master user secret");
    let secret = moto.json(
        "secretsmanager",
        "secretsmanager.GetSecretValue",
        &serde_json::json!({ "SecretId": arn }),
    );
    let secret: serde_json::Value =
        serde_json::from_str(secret["SecretString"].as_str().unwrap()).unwrap();
    let (user, password) = (
        secret["username"].as_str().unwrap().to_owned(),
        secret["password"].as_str().unwrap().to_owned(),
    );

    // The throwaway server gets the master user the secret describes, without superuser
    // as on RDS.
    let pg = Postgres::start();
    block_on(async {
        pg.superuser()
            .await
            .batch_execute(&format!(
                "CREATE ROLE \"{user}\" LOGIN CREATEROLE CREATEDB PASSWORD '{}'",
                password.replace('\'', "''")
            ))
            .await
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        "dbtest.yaml",
        &profile_text(&user).replace(
            "master_password: { from_env: BPA_TEST_MASTER_PASSWORD }",
            "master_password: managed",
        ),
    );
    let out = moto
        .bpa_infra()
        .arg("-p")
        .arg(&profile)
        .args([
            "db",
            "init",
            "--host",
            "127.0.0.1",
            "--sslmode",
            "disable",
            "--port",
        ])
        .arg(pg.port().to_string())
        .env("BPA_KONG_DB_PASSWORD", KONG_PASSWORD)
        .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(row(&stdout, "database", "process-engine").ends_with("created"));
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
}

#[test]
fn a_database_of_the_same_name_that_no_profile_owns_is_not_connected_to_nor_its_secret_read() {
    let moto = Moto::start();
    // Someone else's cluster, untagged, with the identifier this profile would use.
    moto.create_db_cluster("dbtest-bpa", "theiradmin", None);
    let dir = tempfile::tempdir().unwrap();
    let profile = write_profile(
        dir.path(),
        "dbtest.yaml",
        &profile_text("bpaadmin").replace(
            "master_password: { from_env: BPA_TEST_MASTER_PASSWORD }",
            "master_password: managed",
        ),
    );
    moto.start_recording();
    let out = moto
        .bpa_infra()
        .arg("-p")
        .arg(&profile)
        .args(["db", "init", "--sslmode", "disable"])
        .env("BPA_KONG_DB_PASSWORD", KONG_PASSWORD)
        .env("BPA_CAMUNDA_DB_PASSWORD", CAMUNDA_PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("DB cluster `dbtest-bpa` exists but is not profile `dbtest`'s")
            && stderr.contains("it has no bpa-infra:profile tag"),
        "{stderr}"
    );
    let calls: Vec<String> = moto.recording().iter().map(|c| c.name()).collect();
    assert!(
        calls.iter().any(|c| c == "rds:DescribeDBClusters")
            && !calls.iter().any(|c| c.starts_with("secretsmanager:")),
        "{calls:?}"
    );
}

/// `md5` + md5(password + user): what PostgreSQL stores, and as good as the password.
fn md5_hash(password: &str, user: &str) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(format!("{password}{user}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("md5{hex}")
}

#[test]
fn no_password_nor_its_md5_hash_is_printed_at_the_highest_verbosity_or_rendered() {
    let pg = Postgres::start();
    // A master user without superuser, as on RDS: its runs set the passwords again each
    // time, so every hash is sent on every run.
    let master = "rdsmaster";
    let master_password = "Rds-master-Leak-7c1e";
    let kong = "Kong-Leak-pw-3b9d";
    let camunda = "Camunda-Leak-pw-5e2a";
    let new_kong = "Kong-Leak-pw-new-8f4c";
    block_on(async {
        pg.superuser()
            .await
            .batch_execute(&format!(
                "CREATE ROLE {master} LOGIN CREATEROLE CREATEDB PASSWORD '{master_password}'"
            ))
            .await
            .unwrap();
    });
    let setup = setup(master);
    let forbidden: Vec<(String, String)> = [
        ("the master password", master_password, master),
        ("kong's password", kong, "kong"),
        ("camunda's password", camunda, "camunda"),
        ("kong's new password", new_kong, "kong"),
    ]
    .into_iter()
    .flat_map(|(what, password, user)| {
        [
            (what.to_owned(), password.to_owned()),
            (format!("the md5 hash of {what}"), md5_hash(password, user)),
        ]
    })
    .collect();
    let leaks = |text: &str| -> Vec<String> {
        forbidden
            .iter()
            .filter(|(_, value)| text.contains(value.as_str()))
            .map(|(what, _)| what.clone())
            .collect()
    };
    // The check can fail: a hash in a text is found.
    assert_eq!(
        leaks(&format!("x{}x", md5_hash(camunda, "camunda"))),
        ["the md5 hash of camunda's password"]
    );

    // -vvv is the highest verbosity the CLI has (trace); text and JSON; create, set
    // again, change a password.
    let mut written: Vec<(String, String)> = Vec::new();
    for (kong_password, extra) in [
        (kong, &["-vvv", "--sslmode", "disable"][..]),
        (
            kong,
            &["-vvv", "--output", "json", "--sslmode", "disable"][..],
        ),
        (new_kong, &["-vvv", "--sslmode", "disable"][..]),
    ] {
        let (stdout, stderr) = db_init(
            &setup.profile,
            &pg,
            master_password,
            kong_password,
            camunda,
            extra,
        );
        written.push((format!("{extra:?} stdout"), stdout));
        written.push((format!("{extra:?} stderr"), stderr));
    }
    // The runs were verbose, and really set the hashes looked for.
    assert!(
        written
            .iter()
            .any(|(what, text)| what.ends_with("stderr") && text.contains("INFO")),
        "the runs logged what they did: {written:#?}"
    );
    block_on(async {
        pg.connect("kong", new_kong, "kong")
            .await
            .expect("the last run set kong's new password");
        pg.connect("camunda", camunda, "process-engine")
            .await
            .expect("camunda logs in");
        // The hash looked for is the one PostgreSQL stores.
        assert_eq!(rolpassword(&pg, "kong").await, md5_hash(new_kong, "kong"));
    });

    // render, with the passwords in its environment: none of them in a file or output.
    let out_dir = tempfile::tempdir().unwrap();
    let out = bpa_infra()
        .arg("-p")
        .arg(&setup.profile)
        .args(["-vvv", "render", "--offline", "--out-dir"])
        .arg(out_dir.path())
        .env("BPA_TEST_MASTER_PASSWORD", master_password)
        .env("BPA_KONG_DB_PASSWORD", new_kong)
        .env("BPA_CAMUNDA_DB_PASSWORD", camunda)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    written.push((
        "render stdout".into(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ));
    written.push((
        "render stderr".into(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ));
    let mut files = 0;
    for entry in std::fs::read_dir(out_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        written.push((path.display().to_string(), text));
        files += 1;
    }
    assert!(files >= 8, "render wrote its files");

    let found: Vec<String> = written
        .iter()
        .flat_map(|(what, text)| {
            leaks(text)
                .into_iter()
                .map(move |l| format!("{l} in {what}"))
        })
        .collect();
    assert!(found.is_empty(), "leaked:\n  {}", found.join("\n  "));
}
