use std::collections::BTreeMap;

use super::*;
use crate::provider::{Live, ObservedOwnership, Status};
use crate::stack::testing::{example_stack, prod_stack};
use crate::stack::{Component, OutputRef, Ownership, Stack, Value};

fn a(text: &str) -> Address {
    text.parse().unwrap()
}

/// The value the live state reports for `r`: stable, and tells where it came from.
fn output_value(r: &OutputRef) -> Value {
    Value::Str(format!("{}:{}", r.address, r.output))
}

/// A live state where every resource of `stack` exists as desired, owned and ready.
fn converged(stack: &Stack) -> LiveState {
    let mut outputs: BTreeMap<Address, BTreeMap<String, Value>> = BTreeMap::new();
    for resource in stack.resources() {
        for r in resource.spec.refs() {
            outputs
                .entry(r.address.clone())
                .or_default()
                .insert(r.output.clone(), output_value(&r));
        }
    }
    let mut live = LiveState::new();
    for resource in stack.resources() {
        let id = format!("id-{}", resource.address);
        let attributes = resource.spec.resolve(&|r| Some(output_value(r)));
        live.insert(Live {
            address: resource.address.clone(),
            kind: resource.kind,
            id,
            ownership: match resource.ownership {
                Ownership::Managed => ObservedOwnership::Owned,
                Ownership::Adopted => ObservedOwnership::Adopted,
            },
            status: Status::Ready,
            attributes,
            outputs: outputs.remove(&resource.address).unwrap_or_default(),
        });
    }
    live
}

fn set_attribute(live: &mut LiveState, address: &str, attribute: &str, value: Value) {
    let mut found = live.get(&a(address)).unwrap().clone();
    found.attributes.insert(attribute, value);
    live.insert(found);
}

fn actions(plan: &Plan) -> BTreeMap<String, Action> {
    plan.changes
        .iter()
        .filter(|c| c.action != Action::NoOp)
        .map(|c| (c.address.to_string(), c.action))
        .collect()
}

#[test]
fn offline_plan_creates_every_owned_resource_and_reads_nothing() {
    let stack = prod_stack();
    let plan = plan_offline(&stack);
    assert!(plan.is_applicable(), "{:?}", plan.conflicts);
    let managed = stack
        .resources()
        .iter()
        .filter(|r| r.ownership == Ownership::Managed)
        .count();
    assert_eq!(
        plan.counts(),
        Counts {
            create: managed,
            update: 0,
            replace: 0,
            delete: 0
        }
    );
    let vpc = plan.change(&a("network.vpc")).unwrap();
    assert_eq!(vpc.action, Action::NoOp);
    assert_eq!(vpc.id.as_deref(), Some("vpc-0a1b2c3d4e5f60718"));
    // What the cloud assigns is unknown; what the profile decides is written out.
    let cluster = plan.change(&a("eks.cluster")).unwrap();
    let role = cluster
        .diffs
        .iter()
        .find(|d| d.attribute == "role_arn")
        .unwrap();
    assert!(!role.after.as_ref().unwrap().is_known());
    let db = plan.change(&a("rds.cluster")).unwrap();
    let group = db
        .diffs
        .iter()
        .find(|d| d.attribute == "db_cluster_parameter_group_name")
        .unwrap();
    assert_eq!(group.after, Some(Value::from("prod-bpa-params")));
}

#[test]
fn converged_live_state_plans_no_change() {
    let stack = prod_stack();
    let plan = plan_apply(&stack, &converged(&stack), &Providers::new());
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert!(!plan.has_changes(), "{:?}", actions(&plan));
    assert_eq!(
        plan.summary(),
        "0 to create, 0 to update, 0 to replace, 0 to delete"
    );
}

#[test]
fn diffs_classify_update_reboot_and_replacement() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    set_attribute(
        &mut live,
        "rds.cluster",
        "backup_retention_period",
        1u32.into(),
    );
    set_attribute(&mut live, "rds.cluster", "engine_version", "16.3".into());
    set_attribute(
        &mut live,
        "eks.nodegroup[node-2]",
        "instance_types",
        Value::strings(["m5.xlarge"]),
    );
    let mut tags = live
        .get(&a("ecr.repository[bpa/ui]"))
        .unwrap()
        .attributes
        .get("tags")
        .unwrap()
        .as_map()
        .unwrap()
        .clone();
    tags.insert("team".into(), "old-team".into());
    set_attribute(
        &mut live,
        "ecr.repository[bpa/ui]",
        "tags",
        Value::Map(tags),
    );

    let plan = plan_apply(&stack, &live, &Providers::new());
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let db = plan.change(&a("rds.cluster")).unwrap();
    assert_eq!(db.action, Action::Update);
    assert!(db.needs_reboot, "a minor engine upgrade needs a restart");
    let attributes: Vec<&str> = db.diffs.iter().map(|d| d.attribute.as_str()).collect();
    assert_eq!(attributes, ["backup_retention_period", "engine_version"]);
    assert_eq!(db.diffs[0].before, Some(Value::Int(1)));
    assert_eq!(db.diffs[0].after, Some(Value::Int(7)));

    let group = plan.change(&a("eks.nodegroup[node-2]")).unwrap();
    assert_eq!(group.action, Action::Replace);
    assert_eq!(
        group.reason.as_deref(),
        Some("instance_types forces replacement")
    );
    assert_eq!(
        plan.change(&a("ecr.repository[bpa/ui]")).unwrap().action,
        Action::Update
    );
    // The late addons only run after the node groups; they do not use them.
    assert_eq!(
        plan.change(&a("eks.addon[coredns]")).unwrap().action,
        Action::NoOp
    );
    assert_eq!(
        plan.summary(),
        "0 to create, 2 to update, 1 to replace, 0 to delete"
    );
}

#[test]
fn replacing_a_resource_replaces_what_uses_it() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    set_attribute(&mut live, "iam.node_role", "name", "renamed-by-hand".into());
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert_eq!(
        plan.change(&a("iam.node_role")).unwrap().action,
        Action::Replace
    );
    for group in ["node-1", "node-2", "node-3", "node-4"] {
        let change = plan.change(&a(&format!("eks.nodegroup[{group}]"))).unwrap();
        assert_eq!(change.action, Action::Replace);
        assert_eq!(
            change.reason.as_deref(),
            Some("node_role_arn forces replacement")
        );
    }
    assert_eq!(
        plan.change(&a("eks.addon[coredns]")).unwrap().action,
        Action::NoOp
    );
    assert_eq!(plan.change(&a("eks.cluster")).unwrap().action, Action::NoOp);

    // A launch template could take the new security group in place, but the old group
    // cannot be deleted while the template uses it: the template is replaced, and so is
    // the node group that uses the template.
    let mut live = converged(&stack);
    set_attribute(
        &mut live,
        "eks.node_security_group",
        "description",
        "old".into(),
    );
    let plan = plan_apply(&stack, &live, &Providers::new());
    let template = plan.change(&a("eks.launch_template[node-1]")).unwrap();
    assert_eq!(template.action, Action::Replace);
    assert_eq!(
        template.reason.as_deref(),
        Some("eks.node_security_group is replaced, and it uses it")
    );
    let group = plan.change(&a("eks.nodegroup[node-1]")).unwrap();
    assert_eq!(group.action, Action::Replace);
    assert_eq!(
        group.reason.as_deref(),
        Some("eks.launch_template[node-1] is replaced, and it uses it")
    );

    // The database uses its security group: replacing the group is refused.
    let mut live = converged(&stack);
    set_attribute(&mut live, "rds.security_group", "description", "old".into());
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(plan.conflicts.len(), 1);
    assert_eq!(plan.conflicts[0].address, a("rds.cluster"));
}

#[test]
fn launch_template_update_rolls_its_node_group() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    set_attribute(
        &mut live,
        "eks.launch_template[node-1]",
        "user_data",
        "old".into(),
    );
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(
        plan.change(&a("eks.launch_template[node-1]"))
            .unwrap()
            .action,
        Action::Update
    );
    let group = plan.change(&a("eks.nodegroup[node-1]")).unwrap();
    assert_eq!(
        group.action,
        Action::Update,
        "the new template version is known after apply"
    );
    assert_eq!(group.diffs.len(), 1);
    assert!(!group.diffs[0].after.as_ref().unwrap().is_known());
    assert_eq!(
        plan.change(&a("eks.nodegroup[node-2]")).unwrap().action,
        Action::NoOp
    );
}

#[test]
fn resources_not_owned_are_conflicts_never_changes() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    let mut db = live.get(&a("rds.cluster")).unwrap().clone();
    db.ownership = ObservedOwnership::Unowned;
    live.insert(db);
    let mut repo = live.get(&a("ecr.repository[bpa/ui]")).unwrap().clone();
    repo.ownership = ObservedOwnership::OtherProfile {
        profile: "staging".into(),
    };
    live.insert(repo);
    set_attribute(&mut live, "network.vpc", "cidr_block", "10.9.0.0/16".into());

    let plan = plan_apply(&stack, &live, &Providers::new());
    assert!(!plan.is_applicable());
    let conflicted: Vec<String> = plan
        .conflicts
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        conflicted,
        ["network.vpc", "ecr.repository[bpa/ui]", "rds.cluster"]
    );
    assert!(
        plan.conflicts[0]
            .reason
            .contains("cidr_block is \"10.9.0.0/16\", the profile says \"10.0.0.0/16\"")
    );
    assert!(
        plan.conflicts[1]
            .reason
            .contains("belongs to profile staging")
    );
    assert!(
        plan.conflicts[2]
            .reason
            .contains("not created by bpa-infra")
    );
    assert!(plan.change(&a("rds.cluster")).is_none(), "never touched");
    assert!(!plan.has_changes());
}

#[test]
fn forbidden_changes_and_lost_data_are_conflicts() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    set_attribute(&mut live, "rds.cluster", "port", 5433u16.into());
    set_attribute(&mut live, "rds.cluster", "storage_encrypted", false.into());
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(plan.conflicts.len(), 1);
    let reason = &plan.conflicts[0].reason;
    assert!(
        reason.contains("port: Multi-AZ DB clusters do not support changing the port"),
        "{reason}"
    );
    assert!(
        reason
            .contains("storage_encrypted: changing storage_encrypted would replace the db_cluster"),
        "{reason}"
    );
    assert_eq!(plan.change(&a("rds.cluster")).unwrap().action, Action::NoOp);

    // Replacing what the database uses would replace the database: refused too.
    let mut live = converged(&stack);
    set_attribute(
        &mut live,
        "rds.parameter_group",
        "family",
        "postgres15".into(),
    );
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(
        plan.change(&a("rds.parameter_group")).unwrap().action,
        Action::Replace
    );
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0]
            .reason
            .contains("rds.parameter_group is replaced")
    );
}

#[test]
fn leftovers_are_deleted_and_adopted_ones_never() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    let mut old = live.get(&a("ecr.repository[bpa/ui]")).unwrap().clone();
    old.address = a("ecr.repository[bpa/old]");
    old.id = "bpa/old".into();
    live.insert_leftover(old);
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(
        actions(&plan),
        BTreeMap::from([("ecr.repository[bpa/old]".to_owned(), Action::Delete)])
    );

    let fake = crate::provider::fake::FakeCloud::new().providers();
    let destroy = plan_destroy(&stack, &live, &fake);
    let deleted: Vec<String> = destroy
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.address.to_string())
        .collect();
    assert_eq!(
        deleted.first().map(String::as_str),
        Some("ecr.repository[bpa/old]")
    );
    let position = |address: &str| deleted.iter().position(|d| d == address).unwrap();
    assert!(position("eks.nodegroup[node-1]") < position("eks.cluster"));
    assert!(position("rds.cluster") < position("rds.parameter_group"));
    assert!(
        !deleted
            .iter()
            .any(|d| d.starts_with("network.vpc") || d.starts_with("network.subnet[node/"))
    );
    assert_eq!(
        plan_destroy(&stack, &live, &fake)
            .change(&a("network.vpc"))
            .unwrap()
            .reason
            .as_deref(),
        Some("adopted: never deleted")
    );
    // The prod database has deletion protection on: `down` says so instead of trying.
    assert_eq!(destroy.conflicts.len(), 1);
    assert!(destroy.conflicts[0].reason.contains("deletion protection"));
}

#[test]
fn plan_text_and_json_snapshots() {
    let stack = prod_stack();
    let plan = plan_offline(&stack);
    insta::assert_snapshot!(
        "prod_offline_text",
        render_text(&plan, &TextOptions::default())
    );
    insta::assert_snapshot!("prod_offline_json", render_json(&plan));

    let mut live = converged(&stack);
    set_attribute(&mut live, "rds.cluster", "engine_version", "16.3".into());
    set_attribute(
        &mut live,
        "eks.nodegroup[node-2]",
        "instance_types",
        Value::strings(["m5.xlarge"]),
    );
    let mut tags = live
        .get(&a("ecr.repository[bpa/ui]"))
        .unwrap()
        .attributes
        .get("tags")
        .unwrap()
        .as_map()
        .unwrap()
        .clone();
    tags.insert("team".into(), "old-team".into());
    set_attribute(
        &mut live,
        "ecr.repository[bpa/ui]",
        "tags",
        Value::Map(tags),
    );
    let mut old = live.get(&a("ecr.repository[bpa/ui]")).unwrap().clone();
    old.address = a("ecr.repository[bpa/old]");
    old.id = "bpa/old".into();
    live.insert_leftover(old);
    let mut foreign = live.get(&a("atlas.security_group")).unwrap().clone();
    foreign.ownership = ObservedOwnership::Unowned;
    live.insert(foreign);
    let plan = plan_apply(&stack, &live, &Providers::new());
    insta::assert_snapshot!(
        "prod_changes_text",
        render_text(&plan, &TextOptions::default())
    );
    insta::assert_snapshot!("prod_changes_json", render_json(&plan));
}

#[test]
fn destroy_plan_snapshot() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    let mut foreign = live.get(&a("atlas.security_group")).unwrap().clone();
    foreign.ownership = ObservedOwnership::OtherProfile {
        profile: "staging".into(),
    };
    live.insert(foreign);
    let plan = plan_destroy(
        &stack.with_dependents(&[Component::Atlas, Component::Rds]),
        &live,
        &crate::provider::fake::FakeCloud::new().providers(),
    );
    insta::assert_snapshot!(
        "prod_destroy_rds_atlas_text",
        render_text(&plan, &TextOptions::default())
    );
}

#[test]
fn text_masks_secrets_and_colours_only_when_asked() {
    let stack = example_stack();
    let mut plan = plan_offline(&stack);
    let db = plan
        .changes
        .iter_mut()
        .find(|c| c.address == a("rds.cluster"))
        .unwrap();
    db.diffs.push(Diff {
        attribute: "master_user_password".into(),
        before: None,
        after: Some(Value::Sensitive(Box::new("hunter2".into()))),
    });
    let text = render_text(&plan, &TextOptions { color: false });
    assert!(!text.contains("hunter2"));
    assert!(text.contains("master_user_password"));
    assert!(!text.contains('\u{1b}'));
    let json = render_json(&plan);
    assert!(!json.contains("hunter2"));
    assert!(json.contains(r#""sensitive": true"#));
    let coloured = render_text(&plan, &TextOptions { color: true });
    assert!(coloured.contains("\u{1b}[32m+"), "create is green");
    assert!(text.ends_with(&format!("\n{}\n", plan.summary())));
}

#[test]
fn saved_plans_round_trip_and_report_what_moved() {
    let stack = prod_stack();
    let live = converged(&stack);
    let mut drifted = live.clone();
    set_attribute(
        &mut drifted,
        "rds.cluster",
        "backup_retention_period",
        1u32.into(),
    );
    let saved = plan_apply(&stack, &drifted, &Providers::new());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    saved.save(&path).unwrap();
    let loaded = Plan::load(&path).unwrap();
    assert_eq!(loaded, saved);
    assert!(
        loaded
            .moved_since(&plan_apply(&stack, &drifted, &Providers::new()))
            .is_empty()
    );

    // Someone fixed the drift by hand since: the saved update no longer applies.
    let now = plan_apply(&stack, &live, &Providers::new());
    let moved = loaded.moved_since(&now);
    assert_eq!(
        moved,
        vec![Moved {
            subject: "rds.cluster".into(),
            saved: "update (backup_retention_period)".into(),
            now: "no-op".into()
        }]
    );

    std::fs::write(&path, r#"{"format_version": 2}"#).unwrap();
    assert!(matches!(
        Plan::load(&path),
        Err(PlanFileError::Version { found: 2, .. })
    ));
    std::fs::write(&path, "not json").unwrap();
    let error = Plan::load(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("plan.json is not a bpa-infra plan")
    );
}

#[test]
fn tags_added_by_others_are_not_drift() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    let mut tags = live
        .get(&a("rds.security_group"))
        .unwrap()
        .attributes
        .get("tags")
        .unwrap()
        .as_map()
        .unwrap()
        .clone();
    tags.insert("added-by-someone".into(), "x".into());
    set_attribute(&mut live, "rds.security_group", "tags", Value::Map(tags));
    let plan = plan_apply(&stack, &live, &Providers::new());
    assert_eq!(
        plan.change(&a("rds.security_group")).unwrap().action,
        Action::NoOp
    );
}

#[test]
fn iam_of_another_region_or_of_an_unknown_one_is_never_changed_or_deleted() {
    let stack = prod_stack();
    let mut live = converged(&stack);
    let mut other = live.get(&a("iam.node_role")).unwrap().clone();
    other.ownership = ObservedOwnership::OtherStack {
        profile: "prod".into(),
        region: "us-east-1".into(),
    };
    live.insert(other);
    let mut legacy = live.get(&a("iam.cluster_role")).unwrap().clone();
    legacy.ownership = ObservedOwnership::Legacy;
    live.insert(legacy);

    let plan = plan_apply(&stack, &live, &Providers::new());
    let reason = |address: &str| {
        plan.conflicts
            .iter()
            .find(|c| c.address == a(address))
            .map(|c| c.reason.clone())
            .unwrap_or_else(|| panic!("no conflict at {address}: {:?}", plan.conflicts))
    };
    assert!(
        reason("iam.node_role").contains("belongs to the stack of profile prod in us-east-1"),
        "{}",
        reason("iam.node_role")
    );
    assert!(
        reason("iam.cluster_role").contains("bpa-infra:region="),
        "{}",
        reason("iam.cluster_role")
    );
    for address in ["iam.node_role", "iam.cluster_role"] {
        assert!(
            plan.change(&a(address))
                .is_none_or(|c| c.action == Action::NoOp),
            "{address}: {:?}",
            plan.change(&a(address))
        );
    }

    let destroy = plan_destroy(&stack, &live, &Providers::new());
    for address in ["iam.node_role", "iam.cluster_role"] {
        let change = destroy.change(&a(address)).unwrap();
        assert_eq!(change.action, Action::NoOp, "{address}");
    }
    assert_eq!(
        destroy.change(&a("iam.ecr_pull_policy")).unwrap().action,
        Action::Delete
    );
}

#[test]
fn a_teardown_is_refused_by_the_kept_resources_that_exist_and_use_what_it_deletes() {
    let profile = crate::stack::testing::profile("prod-us-west-2");
    let stack = prod_stack();
    let mut live = converged(&stack);
    let teardown = |components: &[Component]| {
        let without = crate::stack::build_without(&profile, components).ok();
        stack.teardown(components, without.as_ref())
    };
    let iam = teardown(&[Component::Iam]);
    let plan = plan_teardown(&iam, &live, &Providers::new());
    let conflicted: Vec<String> = plan
        .conflicts
        .iter()
        .map(|c| c.address.to_string())
        .collect();
    assert!(
        conflicted.contains(&"eks.cluster".to_owned()),
        "{conflicted:?}"
    );
    assert!(
        plan.conflicts
            .iter()
            .any(|c| c.reason.contains("uses iam.cluster_role")),
        "{:?}",
        plan.conflicts
    );
    // Gone from the cloud, the cluster and its node groups use nothing: no refusal.
    for user in iam.refusals.iter().map(|r| r.user.clone()) {
        live.remove(&user);
    }
    let plan = plan_teardown(&iam, &live, &Providers::new());
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    assert!(
        plan.changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .all(|c| c.address.component() == Component::Iam),
        "{:?}",
        plan.changes
    );

    // ECR: the pull policy is released (updated), the node role is not touched.
    let live = converged(&stack);
    let ecr = teardown(&[Component::Ecr]);
    let plan = plan_teardown(
        &ecr,
        &live,
        &crate::provider::fake::FakeCloud::new().providers(),
    );
    assert!(plan.conflicts.is_empty(), "{:?}", plan.conflicts);
    let policy = plan.change(&a("iam.ecr_pull_policy")).unwrap();
    assert_eq!(policy.action, Action::Update);
    assert_eq!(
        plan.changes[0].address,
        a("iam.ecr_pull_policy"),
        "releases come first"
    );
    assert!(plan.change(&a("iam.node_role")).is_none());
}
