//! bpa-infra: provisions the AWS side of a BPA deployment on EKS from one YAML profile.
//!
//! Data flows one way (docs/architecture.md): `profile` (parse, validate) → `stack` (desired
//! resources and their graph) → `plan` (desired vs live) → `engine` (apply or destroy,
//! reporting events). Providers behind `provider` are the only code that talks to a cloud.
//! This crate never prints and never reads the environment; the binary does.

pub mod atlas;
pub mod aws;
pub mod dbinit;
pub mod engine;
pub mod error;
pub mod kubeconfig;
#[cfg(test)]
mod layering;
pub mod lock;
pub mod outputs;
pub mod plan;
pub mod profile;
pub mod provider;
pub mod render;
pub mod stack;
