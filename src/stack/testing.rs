//! Profiles and stacks for the tests of the engine's modules.

use std::path::Path;

use crate::profile::Profile;

use super::Stack;

/// Loads `profiles/<name>.yaml` from the repository.
pub fn profile(name: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("profiles/{name}.yaml"));
    crate::profile::load(&path).unwrap_or_else(|e| panic!("profiles/{name}.yaml: {e}"))
}

/// The stack of the production profile: adopted VPC, four node groups, Multi-AZ DB cluster.
pub fn prod_stack() -> Stack {
    super::build(&profile("prod-us-west-2")).expect("the prod stack builds")
}

/// The stack of the example profile, which creates its own VPC.
pub fn example_stack() -> Stack {
    super::build(&profile("example")).expect("the example stack builds")
}
