//! Addresses: the stable names of resources in the stack (`rds.cluster`,
//! `eks.nodegroup[node-2]`, `network.subnet[node/us-west-2a]`).
//!
//! An address is part of the ownership tag every created resource carries, so its text
//! form must never change for a given resource: parsing and printing round-trip exactly.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One of the parts of a BPA deployment, in the order they are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    Network,
    Iam,
    Eks,
    Rds,
    Ecr,
    Atlas,
}

impl Component {
    /// Every component, in display order.
    pub const ALL: [Component; 6] = [
        Component::Network,
        Component::Iam,
        Component::Eks,
        Component::Rds,
        Component::Ecr,
        Component::Atlas,
    ];

    /// Returns the name used in addresses and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::Iam => "iam",
            Self::Eks => "eks",
            Self::Rds => "rds",
            Self::Ecr => "ecr",
            Self::Atlas => "atlas",
        }
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Component {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| AddressError::UnknownComponent(s.to_owned()))
    }
}

/// The stable name of one resource: `<component>.<name>` or `<component>.<name>[<key>]`.
///
/// Ordering is by component, then name, then key, which groups a plan by component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    component: Component,
    name: String,
    key: Option<String>,
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{0}` is not a component (expected one of network, iam, eks, rds, ecr, atlas)")]
    UnknownComponent(String),
    #[error("`{0}` is not an address (expected `component.name` or `component.name[key]`)")]
    Malformed(String),
}

impl Address {
    /// Makes `<component>.<name>`; `name` is lower-case letters, digits and `_`.
    pub fn new(component: Component, name: &str) -> Self {
        debug_assert!(valid_name(name), "invalid address name {name:?}");
        Self {
            component,
            name: name.to_owned(),
            key: None,
        }
    }

    /// Makes `<component>.<name>[<key>]`, for resources that come in sets.
    pub fn keyed(component: Component, name: &str, key: impl Into<String>) -> Self {
        let key = key.into();
        debug_assert!(valid_name(name), "invalid address name {name:?}");
        debug_assert!(valid_key(&key), "invalid address key {key:?}");
        Self {
            component,
            name: name.to_owned(),
            key: Some(key),
        }
    }

    pub fn component(&self) -> Component {
        self.component
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && !key.contains(['[', ']']) && !key.chars().any(char::is_whitespace)
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.component, self.name)?;
        if let Some(key) = &self.key {
            write!(f, "[{key}]")?;
        }
        Ok(())
    }
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let malformed = || AddressError::Malformed(s.to_owned());
        let (component, rest) = s.split_once('.').ok_or_else(malformed)?;
        let component: Component = component.parse()?;
        let (name, key) = match rest.split_once('[') {
            Some((name, key)) => {
                let key = key.strip_suffix(']').ok_or_else(malformed)?;
                if !valid_key(key) {
                    return Err(malformed());
                }
                (name, Some(key.to_owned()))
            }
            None => (rest, None),
        };
        if !valid_name(name) {
            return Err(malformed());
        }
        Ok(Self {
            component,
            name: name.to_owned(),
            key,
        })
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_plain_and_keyed_addresses() {
        for text in [
            "rds.cluster",
            "rds.parameter_group",
            "eks.nodegroup[node-2]",
            "ecr.repository[bpa/ui]",
            "network.subnet[node/us-west-2a]",
        ] {
            let address: Address = text.parse().unwrap();
            assert_eq!(address.to_string(), text);
            let json = serde_json::to_string(&address).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address);
        }
    }

    #[test]
    fn exposes_its_parts() {
        let address: Address = "ecr.repository[bpa/ui]".parse().unwrap();
        assert_eq!(address.component(), Component::Ecr);
        assert_eq!(address.name(), "repository");
        assert_eq!(address.key(), Some("bpa/ui"));
        assert_eq!(
            address,
            Address::keyed(Component::Ecr, "repository", "bpa/ui")
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for text in [
            "",
            "rds",
            "k8s.service",
            "rds.",
            "rds.Cluster",
            "eks.nodegroup[]",
            "eks.nodegroup[a",
            "eks.nodegroup[a b]",
        ] {
            assert!(text.parse::<Address>().is_err(), "{text} parsed");
        }
        assert_eq!(
            "k8s.x".parse::<Address>(),
            Err(AddressError::UnknownComponent("k8s".to_owned()))
        );
    }

    #[test]
    fn orders_by_component_first() {
        let mut addresses: Vec<Address> = [
            "atlas.vpc_endpoint",
            "network.vpc",
            "rds.cluster",
            "eks.cluster",
        ]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
        addresses.sort();
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "network.vpc",
                "eks.cluster",
                "rds.cluster",
                "atlas.vpc_endpoint"
            ]
        );
    }
}
