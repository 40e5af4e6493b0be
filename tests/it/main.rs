//! The one integration-test binary: runs the real `bpa-infra` binary, a module per command.
//!
//! One binary on purpose: every extra test binary is another long link with the AWS SDK.

mod atlas;
mod db_init;
mod harness;
mod network_eks;
mod profiles_corpus;
mod reliability;
mod rds_ecr;
mod render;
mod support;
mod validate;
