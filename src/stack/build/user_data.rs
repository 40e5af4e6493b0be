//! The node user data: a shell script, in the MIME multi-part form managed node groups
//! take, that prepares the data volume, directories and kernel parameters.

use crate::profile::NodeGroup;

/// Where the data volume is attached; AL2023's udev rules keep this name as a symlink
/// to the NVMe device on Nitro instances.
pub(super) const DATA_DEVICE: &str = "/dev/xvdb";

/// Returns the launch template's user data: a MIME multi-part document whose shell part
/// runs before nodeadm on AL2023. A managed node group takes user data only in MIME
/// multi-part form and adds its own bootstrap part after ours (EKS User Guide,
/// "Customize managed nodes with launch templates", Amazon EC2 user data,
/// <https://docs.aws.amazon.com/eks/latest/userguide/launch-templates.html>). It mounts
/// the data volume at `/opt`, creates the node's data directories and persists the
/// kernel parameters.
pub(super) fn user_data(group: &NodeGroup) -> String {
    let mut script = String::new();
    script.push_str("#!/bin/bash\n");
    script.push_str(&format!(
        "# Written by bpa-infra for node group {}.\n",
        group.name
    ));
    script.push_str("set -euo pipefail\n");
    script.push_str(&format!("device={DATA_DEVICE}\n"));
    script.push_str("for _ in $(seq 1 60); do [ -e \"$device\" ] && break; sleep 2; done\n");
    script.push_str("device=$(readlink -f \"$device\")\n");
    script.push_str("blkid \"$device\" >/dev/null 2>&1 || mkfs -t xfs \"$device\"\n");
    script.push_str("if ! mountpoint -q /opt; then\n");
    // The AMI keeps the CNI plugins under /opt/cni: copy /opt onto the new volume before
    // mounting over it, or pods would get no network.
    script.push_str("  mkdir -p /mnt/bpa-opt && mount \"$device\" /mnt/bpa-opt\n");
    script.push_str("  cp -a -n /opt/. /mnt/bpa-opt/ && umount /mnt/bpa-opt\n");
    script.push_str("  grep -q ' /opt ' /etc/fstab || echo \"UUID=$(blkid -s UUID -o value \"$device\") /opt xfs defaults,nofail 0 2\" >> /etc/fstab\n");
    script.push_str("  mount /opt\n");
    script.push_str("fi\n");
    if !group.data_dirs.is_empty() {
        script.push_str(&format!("mkdir -p {}\n", group.data_dirs.join(" ")));
    }
    if !group.sysctls.is_empty() {
        script.push_str("cat > /etc/sysctl.d/90-bpa.conf <<'EOF'\n");
        for (key, value) in &group.sysctls {
            script.push_str(&format!("{key} = {value}\n"));
        }
        script.push_str("EOF\n");
        script.push_str("sysctl --system >/dev/null\n");
    }
    format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BPA-INFRA\"\n\n--BPA-INFRA\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\n\n{script}\n--BPA-INFRA--\n"
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::prod;
    use super::*;
    use crate::stack::Value;
    use crate::stack::testing::prod_stack;

    #[test]
    fn user_data_prepares_the_node_before_nodeadm() {
        let profile = prod();
        let text = user_data(&profile.eks.node_groups[0]);
        assert!(text.contains("Content-Type: text/x-shellscript"));
        assert!(text.contains("mkdir -p /opt/bpa/data/zookeeper /opt/bpa/data/kafka"));
        assert!(text.contains("vm.max_map_count = 262144"));
        assert!(text.contains("/etc/sysctl.d/"));
    }

    /// Splits a MIME multi-part document into its parts' headers and bodies, checking
    /// what cloud-init relies on: the top-level headers, the boundary parameter, every
    /// part opened by `--boundary` on its own line and the document closed by
    /// `--boundary--`.
    fn mime_parts(document: &str) -> Vec<(Vec<(String, String)>, String)> {
        let (head, body) = document
            .split_once("\n\n")
            .expect("headers end with an empty line");
        let headers: Vec<(&str, &str)> = head
            .lines()
            .map(|l| l.split_once(": ").expect("a header line"))
            .collect();
        assert!(headers.contains(&("MIME-Version", "1.0")), "{headers:?}");
        let content_type = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Content-Type"))
            .expect("a Content-Type")
            .1;
        assert!(
            content_type.starts_with("multipart/mixed;"),
            "{content_type}"
        );
        let boundary = content_type
            .split("boundary=")
            .nth(1)
            .expect("a boundary")
            .trim_matches('"');
        assert!(!boundary.is_empty() && boundary.len() <= 70);
        let delimiter = format!("--{boundary}");
        let closing = format!("--{boundary}--");
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(
            lines.first(),
            Some(&delimiter.as_str()),
            "the body opens with the first boundary"
        );
        assert_eq!(
            lines.iter().filter(|l| **l == closing).count(),
            1,
            "closed exactly once"
        );
        let close = lines.iter().position(|l| *l == closing).unwrap();
        assert!(
            lines[close + 1..].iter().all(|l| l.trim().is_empty()),
            "nothing after the closing boundary"
        );
        let mut parts = Vec::new();
        for chunk in lines[..close].split(|l| *l == delimiter).skip(1) {
            let blank = chunk
                .iter()
                .position(|l| l.is_empty())
                .expect("part headers end with an empty line");
            let headers = chunk[..blank]
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once(": ").expect("a part header");
                    (k.to_owned(), v.to_owned())
                })
                .collect();
            let body = chunk[blank + 1..].join("\n");
            assert!(
                !body.contains(&delimiter),
                "a part body must not contain the boundary"
            );
            parts.push((headers, body));
        }
        parts
    }

    #[test]
    fn launch_template_user_data_is_a_valid_mime_document_preparing_the_node() {
        let stack = prod_stack();
        let template = stack
            .get(&"eks.launch_template[node-1]".parse().unwrap())
            .unwrap();
        let user_data = template
            .spec
            .get("user_data")
            .and_then(Value::as_str)
            .unwrap();
        insta::assert_snapshot!("user_data_node_1", user_data);

        let parts = mime_parts(user_data);
        assert_eq!(parts.len(), 1);
        let (headers, script) = &parts[0];
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "Content-Type" && v.starts_with("text/x-shellscript")),
            "{headers:?}"
        );
        assert!(script.starts_with("#!/bin/bash\n"));
        // Formats only a blank volume, mounts it at /opt by UUID, persisted and idempotent.
        assert!(script.contains("blkid \"$device\" >/dev/null 2>&1 || mkfs -t xfs \"$device\""));
        assert!(script.contains("UUID=$(blkid -s UUID -o value \"$device\") /opt xfs"));
        assert!(script.contains("grep -q ' /opt ' /etc/fstab ||"));
        assert!(script.contains("if ! mountpoint -q /opt; then"));
        assert!(script.contains("mkdir -p /opt/bpa/data/zookeeper /opt/bpa/data/kafka"));
        assert!(script.contains("/etc/sysctl.d/") && script.contains("vm.max_map_count = 262144"));
        assert!(script.contains("sysctl --system"));

        // Each node group gets its own directories.
        let node4 = stack
            .get(&"eks.launch_template[node-4]".parse().unwrap())
            .unwrap();
        let script4 =
            &mime_parts(node4.spec.get("user_data").and_then(Value::as_str).unwrap())[0].1;
        assert!(script4.contains("mkdir -p /opt/bpa/data/elk /opt/bpa/data/metrics"));
    }
}
