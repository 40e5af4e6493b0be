//! The one integration-test binary: runs the real `bpa-infra` binary, a module per command.
//!
//! One binary on purpose: every extra test binary is another long link with the AWS SDK.

mod atlas;
mod cli_errors;
mod db_init;
mod demo;
mod harness;
mod identity;
mod json_contract;
mod network_eks;
mod plan;
mod profiles_corpus;
mod rds_ecr;
mod reliability;
mod render;
mod support;
mod teardown;
mod validate;
