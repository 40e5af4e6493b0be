//! Helpers shared by the integration tests.

pub mod atlas;
pub mod moto;
pub mod postgres;
pub mod proxy;

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root, where `profiles/` and `templates/` live.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `bpa-infra` command run from the repository root with a clean environment:
/// no AWS credentials or profile settings leak in from the developer's shell.
pub fn bpa_infra() -> Command {
    let mut cmd = Command::cargo_bin("bpa-infra").expect("the binary is built for tests");
    cmd.current_dir(root());
    for var in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "BPA_INFRA_PROFILE",
        "BPA_INFRA_ATLAS_BASE_URL",
        "MONGODB_ATLAS_BASE_URL",
        "MONGODB_ATLAS_CLIENT_ID",
        "MONGODB_ATLAS_CLIENT_SECRET",
        "MONGODB_ATLAS_PUBLIC_KEY",
        "MONGODB_ATLAS_PRIVATE_KEY",
        "NO_COLOR",
    ] {
        cmd.env_remove(var);
    }
    // Never let a test reach for the instance-metadata address.
    cmd.env("AWS_EC2_METADATA_DISABLED", "true");
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/bpa-infra-test/config");
    cmd.env(
        "AWS_SHARED_CREDENTIALS_FILE",
        "/nonexistent/bpa-infra-test/credentials",
    );
    cmd
}

/// Writes `text` to a profile file in `dir` and returns its path.
pub fn write_profile(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test profile");
    path
}
