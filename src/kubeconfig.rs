//! Kubeconfig for the EKS cluster: the entry `bpa-infra kubeconfig` prints, and merging
//! it into an existing kubeconfig file without touching the other clusters in it.
//!
//! Credentials come from `aws eks get-token` as an exec plugin, like the entries
//! `aws eks update-kubeconfig` writes: nothing secret is stored in the file. Entries are
//! named by the cluster ARN, also like the AWS CLI, so the two replace each other's
//! entry instead of adding a second one.

use std::path::Path;

use serde_yaml::{Mapping, Value};

use crate::provider::aws::ClusterAccess;

/// Why a kubeconfig could not be merged or written.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("{path}: not a kubeconfig file: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The exec credential plugin's API version; `aws eks get-token` answers in it.
const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1beta1";

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn mapping<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Mapping(pairs.into_iter().map(|(k, v)| (string(k), v)).collect())
}

/// The user entry: a token from `aws eks get-token` for this cluster and region, with
/// the named AWS profile when one was used to reach the cluster.
fn user(access: &ClusterAccess, aws_profile: Option<&str>) -> Value {
    let args = [
        "--region",
        access.region.as_str(),
        "eks",
        "get-token",
        "--cluster-name",
        access.name.as_str(),
        "--output",
        "json",
    ];
    let mut exec = Mapping::new();
    exec.insert(string("apiVersion"), string(EXEC_API_VERSION));
    exec.insert(string("command"), string("aws"));
    exec.insert(
        string("args"),
        Value::Sequence(args.iter().map(|a| string(a)).collect()),
    );
    if let Some(profile) = aws_profile {
        exec.insert(
            string("env"),
            Value::Sequence(vec![mapping([
                ("name", string("AWS_PROFILE")),
                ("value", string(profile)),
            ])]),
        );
    }
    exec.insert(string("interactiveMode"), string("IfAvailable"));
    exec.insert(string("provideClusterInfo"), Value::Bool(false));
    mapping([
        ("name", string(&access.arn)),
        ("user", mapping([("exec", Value::Mapping(exec))])),
    ])
}

fn cluster(access: &ClusterAccess) -> Value {
    mapping([
        ("name", string(&access.arn)),
        (
            "cluster",
            mapping([
                ("server", string(&access.endpoint)),
                (
                    "certificate-authority-data",
                    string(&access.certificate_authority_data),
                ),
            ]),
        ),
    ])
}

fn context(access: &ClusterAccess) -> Value {
    mapping([
        ("name", string(&access.arn)),
        (
            "context",
            mapping([
                ("cluster", string(&access.arn)),
                ("user", string(&access.arn)),
            ]),
        ),
    ])
}

/// Returns a kubeconfig holding only the cluster, as a YAML value.
pub fn kubeconfig(access: &ClusterAccess, aws_profile: Option<&str>) -> Value {
    mapping([
        ("apiVersion", string("v1")),
        ("kind", string("Config")),
        ("preferences", Value::Mapping(Mapping::new())),
        ("clusters", Value::Sequence(vec![cluster(access)])),
        ("contexts", Value::Sequence(vec![context(access)])),
        ("users", Value::Sequence(vec![user(access, aws_profile)])),
        ("current-context", string(&access.arn)),
    ])
}

/// Returns the kubeconfig of [`kubeconfig`] as YAML text, what `kubeconfig` prints.
pub fn to_yaml(access: &ClusterAccess, aws_profile: Option<&str>) -> String {
    serde_yaml::to_string(&kubeconfig(access, aws_profile)).expect("a kubeconfig value serializes")
}

/// Merges the cluster into the kubeconfig text `existing` (empty for none) and makes it
/// the current context: its cluster, context and user entries replace those of the same
/// name, every other entry and setting stays. `path` only names the file in errors.
pub fn merge(
    existing: &str,
    access: &ClusterAccess,
    aws_profile: Option<&str>,
    path: &str,
) -> Result<String, KubeconfigError> {
    let invalid = |message: String| KubeconfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let mut config = if existing.trim().is_empty() {
        Mapping::new()
    } else {
        match serde_yaml::from_str::<Value>(existing).map_err(|e| invalid(e.to_string()))? {
            Value::Mapping(map) => map,
            Value::Null => Mapping::new(),
            _ => return Err(invalid("the top level is not a mapping".to_owned())),
        }
    };
    for (key, value) in [("apiVersion", "v1"), ("kind", "Config")] {
        config.entry(string(key)).or_insert_with(|| string(value));
    }
    for (list, entry) in [
        ("clusters", cluster(access)),
        ("contexts", context(access)),
        ("users", user(access, aws_profile)),
    ] {
        let items = config
            .entry(string(list))
            .or_insert_with(|| Value::Sequence(Vec::new()));
        if items.is_null() {
            *items = Value::Sequence(Vec::new());
        }
        let Value::Sequence(items) = items else {
            return Err(invalid(format!("`{list}` is not a list")));
        };
        match items
            .iter_mut()
            .find(|item| item.get("name") == Some(&string(&access.arn)))
        {
            Some(item) => *item = entry,
            None => items.push(entry),
        }
    }
    config.insert(string("current-context"), string(&access.arn));
    serde_yaml::to_string(&Value::Mapping(config)).map_err(|e| invalid(e.to_string()))
}

/// Merges the cluster into the kubeconfig file at `path` (created, with its directory,
/// when missing). The file is replaced in one rename so a reader never sees half of it,
/// and it is readable by its owner only, as kubeconfigs are.
pub fn merge_into_file(
    path: &Path,
    access: &ClusterAccess,
    aws_profile: Option<&str>,
) -> Result<(), KubeconfigError> {
    let name = path.display().to_string();
    let io = |source| KubeconfigError::Io {
        path: name.clone(),
        source,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(io(err)),
    };
    let merged = merge(&existing, access, aws_profile, &name)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let temporary = path.with_extension("bpa-infra.tmp");
    std::fs::write(&temporary, merged).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    std::fs::rename(&temporary, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> ClusterAccess {
        ClusterAccess {
            name: "example".into(),
            arn: "arn:aws:eks:us-west-2:123456789012:cluster/example".into(),
            endpoint: "https://ABCDEF.gr7.us-west-2.eks.amazonaws.com".into(),
            certificate_authority_data: "LS0tLS1CRUdJTi==".into(),
            region: "us-west-2".into(),
        }
    }

    #[test]
    fn prints_an_exec_credential_kubeconfig() {
        insta::assert_snapshot!(to_yaml(&access(), Some("bpa-admin")), @r"
        apiVersion: v1
        kind: Config
        preferences: {}
        clusters:
        - name: arn:aws:eks:us-west-2:123456789012:cluster/example
          cluster:
            server: https://ABCDEF.gr7.us-west-2.eks.amazonaws.com
            certificate-authority-data: LS0tLS1CRUdJTi==
        contexts:
        - name: arn:aws:eks:us-west-2:123456789012:cluster/example
          context:
            cluster: arn:aws:eks:us-west-2:123456789012:cluster/example
            user: arn:aws:eks:us-west-2:123456789012:cluster/example
        users:
        - name: arn:aws:eks:us-west-2:123456789012:cluster/example
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1beta1
              command: aws
              args:
              - --region
              - us-west-2
              - eks
              - get-token
              - --cluster-name
              - example
              - --output
              - json
              env:
              - name: AWS_PROFILE
                value: bpa-admin
              interactiveMode: IfAvailable
              provideClusterInfo: false
        current-context: arn:aws:eks:us-west-2:123456789012:cluster/example
        ");
    }

    #[test]
    fn merging_keeps_other_entries_and_replaces_ours() {
        let existing = r#"
apiVersion: v1
kind: Config
clusters:
- name: kind-dev
  cluster: {server: "https://127.0.0.1:6443"}
- name: arn:aws:eks:us-west-2:123456789012:cluster/example
  cluster: {server: "https://old.example"}
contexts:
- name: kind-dev
  context: {cluster: kind-dev, user: kind-dev}
users:
- name: kind-dev
  user: {token: abc}
current-context: kind-dev
preferences: {colors: true}
"#;
        let merged = merge(existing, &access(), None, "config").unwrap();
        let value: Value = serde_yaml::from_str(&merged).unwrap();
        let names = |list: &str| -> Vec<String> {
            value[list]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect()
        };
        let arn = access().arn;
        assert_eq!(names("clusters"), vec!["kind-dev".to_owned(), arn.clone()]);
        assert_eq!(names("contexts"), vec!["kind-dev".to_owned(), arn.clone()]);
        assert_eq!(names("users"), vec!["kind-dev".to_owned(), arn.clone()]);
        assert_eq!(
            value["clusters"][1]["cluster"]["server"],
            string("https://ABCDEF.gr7.us-west-2.eks.amazonaws.com")
        );
        assert_eq!(value["users"][0]["user"]["token"], string("abc"));
        assert_eq!(value["preferences"]["colors"], Value::Bool(true));
        assert_eq!(value["current-context"], string(&arn));
        assert!(
            value["users"][1]["user"]["exec"].get("env").is_none(),
            "no AWS profile, no env"
        );
        // Merging again changes nothing.
        assert_eq!(merge(&merged, &access(), None, "config").unwrap(), merged);
    }

    #[test]
    fn merging_into_nothing_gives_the_printed_form_and_a_broken_file_is_an_error() {
        let merged: Value =
            serde_yaml::from_str(&merge("", &access(), None, "config").unwrap()).unwrap();
        assert_eq!(merged["current-context"], string(&access().arn));
        assert_eq!(merged["clusters"].as_sequence().unwrap().len(), 1);
        let err = merge("clusters: 3", &access(), None, "/home/me/.kube/config").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/home/me/.kube/config: not a kubeconfig file: `clusters` is not a list"
        );
    }

    #[test]
    fn writes_the_file_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".kube/config");
        merge_into_file(&path, &access(), None).unwrap();
        merge_into_file(&path, &access(), None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.matches("server:").count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
