//! Specs: the desired attributes of a resource as plain data.
//!
//! A [`Value`] is JSON-like, plus three things a plan must treat specially: a reference
//! to another resource's output (unknown until that resource exists), a reference to a
//! secret (resolved by the provider at apply time, so secrets never sit in a spec, a plan
//! or a log), and a sensitive value (masked wherever it is shown or saved).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::address::{Address, AddressError};

/// A reference to an output of another resource, written `network.vpc.id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OutputRef {
    pub address: Address,
    pub output: String,
}

impl OutputRef {
    pub fn new(address: &Address, output: &str) -> Self {
        Self {
            address: address.clone(),
            output: output.to_owned(),
        }
    }
}

impl fmt::Display for OutputRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.address, self.output)
    }
}

impl FromStr for OutputRef {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Keys may contain dots (`bpa/ui.v2`), outputs never do: split after the last `]`.
        let tail_start = s.rfind(']').map_or(0, |i| i + 1);
        let dot = s[tail_start..].rfind('.').map(|i| i + tail_start);
        match dot {
            Some(dot) if dot + 1 < s.len() => Ok(Self {
                address: s[..dot].parse()?,
                output: s[dot + 1..].to_owned(),
            }),
            _ => Err(AddressError::Malformed(s.to_owned())),
        }
    }
}

/// Where a secret comes from, e.g. `env:BPA_DB_MASTER_PASSWORD`. The reference is not
/// itself secret; the value it points to is read by the provider when it needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretRef(String);

impl SecretRef {
    /// Refers to an environment variable of the process that applies the plan.
    pub fn env(variable: &str) -> Self {
        Self(format!("env:{variable}"))
    }

    /// Returns the scheme (`env`) and the name within it.
    pub fn parts(&self) -> (&str, &str) {
        self.0.split_once(':').unwrap_or(("", &self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One attribute value.
#[derive(Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    /// Another resource's output; "(known after apply)" until that resource exists.
    Ref(OutputRef),
    /// A secret the provider reads at apply time; only the reference is ever stored.
    Secret(SecretRef),
    /// A value that must never be shown: masked in text, JSON, saved plans and logs.
    Sensitive(Box<Value>),
}

impl Value {
    /// Makes a reference to `address`'s output `output`.
    pub fn output(address: &Address, output: &str) -> Self {
        Self::Ref(OutputRef::new(address, output))
    }

    /// Makes a list of strings.
    pub fn strings<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::List(items.into_iter().map(|s| Self::Str(s.into())).collect())
    }

    /// Makes a map from string pairs.
    pub fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Self::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (k.clone(), Self::Str(v.clone())))
                .collect(),
        )
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Tells whether the value holds no unresolved reference.
    pub fn is_known(&self) -> bool {
        let mut known = true;
        self.visit_refs(&mut |_| known = false);
        known
    }

    /// Tells whether any part of the value is secret or sensitive.
    pub fn is_sensitive(&self) -> bool {
        match self {
            Self::Secret(_) | Self::Sensitive(_) => true,
            Self::List(items) => items.iter().any(Self::is_sensitive),
            Self::Map(map) => map.values().any(Self::is_sensitive),
            _ => false,
        }
    }

    /// Calls `f` for every output reference inside the value.
    pub fn visit_refs(&self, f: &mut impl FnMut(&OutputRef)) {
        match self {
            Self::Ref(r) => f(r),
            Self::List(items) => items.iter().for_each(|v| v.visit_refs(f)),
            Self::Map(map) => map.values().for_each(|v| v.visit_refs(f)),
            Self::Sensitive(inner) => inner.visit_refs(f),
            _ => {}
        }
    }

    /// Replaces every reference `lookup` knows by its value; the others stay references.
    pub fn resolve(&self, lookup: &impl Fn(&OutputRef) -> Option<Value>) -> Value {
        match self {
            Self::Ref(r) => lookup(r).unwrap_or_else(|| self.clone()),
            Self::List(items) => Self::List(items.iter().map(|v| v.resolve(lookup)).collect()),
            Self::Map(map) => Self::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.resolve(lookup)))
                    .collect(),
            ),
            Self::Sensitive(inner) => Self::Sensitive(Box::new(inner.resolve(lookup))),
            _ => self.clone(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Self::Str(s.clone())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Self::Int(i64::from(i))
    }
}

impl From<u16> for Value {
    fn from(i: u16) -> Self {
        Self::Int(i64::from(i))
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Self::List(items)
    }
}

impl From<BTreeMap<String, Value>> for Value {
    fn from(map: BTreeMap<String, Value>) -> Self {
        Self::Map(map)
    }
}

impl From<SecretRef> for Value {
    fn from(secret: SecretRef) -> Self {
        Self::Secret(secret)
    }
}

impl From<OutputRef> for Value {
    fn from(r: OutputRef) -> Self {
        Self::Ref(r)
    }
}

/// Compact, single-line and masked: the form used in messages and logs.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => write!(f, "{}", serde_json::to_string(s).map_err(|_| fmt::Error)?),
            Self::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Map(map) => {
                f.write_str("{")?;
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, " {k} = {v}")?;
                }
                f.write_str(if map.is_empty() { "}" } else { " }" })
            }
            Self::Ref(_) => f.write_str("(known after apply)"),
            Self::Secret(secret) => write!(f, "(sensitive, from {secret})"),
            Self::Sensitive(_) => f.write_str("(sensitive)"),
        }
    }
}

/// Like `Display`, so that a `{:?}` in a log can never reveal a sensitive value.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ref(r) => write!(f, "ref({r})"),
            other => fmt::Display::fmt(other, f),
        }
    }
}

/// JSON form: plain JSON for plain data; `{"ref": "network.vpc.id"}`,
/// `{"secret": "env:NAME"}` and `{"sensitive": true}` (the value itself is never written).
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Int(i) => serializer.serialize_i64(*i),
            Self::Str(s) => serializer.serialize_str(s),
            Self::List(items) => items.serialize(serializer),
            Self::Map(map) => map.serialize(serializer),
            Self::Ref(r) => single_entry(serializer, "ref", &r.to_string()),
            Self::Secret(s) => single_entry(serializer, "secret", s.as_str()),
            Self::Sensitive(_) => single_entry(serializer, "sensitive", &true),
        }
    }
}

fn single_entry<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

/// Reads the JSON form back. A sensitive value comes back masked (`Sensitive(Null)`):
/// a saved plan is compared, never applied from its values.
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        i64::try_from(u)
            .map(Value::Int)
            .map_err(|_| E::custom(format!("{u} is too large")))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = BTreeMap::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            map.insert(key, value);
        }
        if map.len() == 1 {
            let (key, value) = map.iter().next().expect("one entry");
            match (key.as_str(), value) {
                ("ref", Value::Str(r)) => {
                    return r.parse().map(Value::Ref).map_err(de::Error::custom);
                }
                ("secret", Value::Str(s)) => return Ok(Value::Secret(SecretRef(s.clone()))),
                ("sensitive", Value::Bool(true)) => {
                    return Ok(Value::Sensitive(Box::new(Value::Null)));
                }
                _ => {}
            }
        }
        Ok(Value::Map(map))
    }
}

/// The desired (or observed) attributes of a resource, ordered by attribute name so that
/// every rendering of it is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Spec(BTreeMap<String, Value>);

impl Spec {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an attribute; the builder form used by the stack builder.
    pub fn with(mut self, attribute: &str, value: impl Into<Value>) -> Self {
        self.insert(attribute, value);
        self
    }

    pub fn insert(&mut self, attribute: &str, value: impl Into<Value>) {
        self.0.insert(attribute.to_owned(), value.into());
    }

    pub fn remove(&mut self, attribute: &str) -> Option<Value> {
        self.0.remove(attribute)
    }

    pub fn get(&self, attribute: &str) -> Option<&Value> {
        self.0.get(attribute)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Returns the resource's deterministic name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.get("name").and_then(Value::as_str)
    }

    /// Returns a tag's value from the `tags` attribute.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.get("tags")?.as_map()?.get(key)?.as_str()
    }

    /// Lists every output reference in the spec, each once, in order.
    pub fn refs(&self) -> Vec<OutputRef> {
        let mut refs = Vec::new();
        for value in self.0.values() {
            value.visit_refs(&mut |r| {
                if !refs.contains(r) {
                    refs.push(r.clone());
                }
            });
        }
        refs
    }

    /// Replaces every reference `lookup` knows by its value.
    pub fn resolve(&self, lookup: &impl Fn(&OutputRef) -> Option<Value>) -> Spec {
        Spec(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.resolve(lookup)))
                .collect(),
        )
    }
}

impl FromIterator<(String, Value)> for Spec {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Spec(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a Spec {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::collections::btree_map::Iter<'a, String, Value>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Component;

    fn vpc() -> Address {
        Address::new(Component::Network, "vpc")
    }

    #[test]
    fn output_refs_parse_after_the_key() {
        let r: OutputRef = "ecr.repository[bpa/ui.v2].arn".parse().unwrap();
        assert_eq!(r.address.to_string(), "ecr.repository[bpa/ui.v2]");
        assert_eq!(r.output, "arn");
        assert_eq!(
            "network.vpc.id".parse::<OutputRef>().unwrap(),
            OutputRef::new(&vpc(), "id")
        );
        assert!("network.vpc".parse::<OutputRef>().is_err());
        assert!("network.vpc.".parse::<OutputRef>().is_err());
    }

    #[test]
    fn json_form_round_trips_and_masks() {
        let spec = Spec::new()
            .with("cidr_block", "10.0.0.0/16")
            .with("vpc_id", Value::output(&vpc(), "id"))
            .with("password", SecretRef::env("BPA_DB_MASTER_PASSWORD"))
            .with("token", Value::Sensitive(Box::new("hunter2".into())))
            .with("ports", Value::List(vec![5432u16.into()]))
            .with("enabled", true);
        let json = serde_json::to_string(&spec).unwrap();
        assert!(!json.contains("hunter2"));
        assert_eq!(
            json,
            r#"{"cidr_block":"10.0.0.0/16","enabled":true,"password":{"secret":"env:BPA_DB_MASTER_PASSWORD"},"ports":[5432],"token":{"sensitive":true},"vpc_id":{"ref":"network.vpc.id"}}"#
        );
        let back: Spec = serde_json::from_str(&json).unwrap();
        assert_eq!(back.get("vpc_id"), spec.get("vpc_id"));
        assert_eq!(back.get("password"), spec.get("password"));
        assert_eq!(
            back.get("token"),
            Some(&Value::Sensitive(Box::new(Value::Null)))
        );
    }

    #[test]
    fn display_and_debug_mask_sensitive_values() {
        let secret = Value::Sensitive(Box::new("hunter2".into()));
        assert_eq!(secret.to_string(), "(sensitive)");
        assert_eq!(format!("{:?}", Value::List(vec![secret])), "[(sensitive)]");
        assert_eq!(
            Value::output(&vpc(), "id").to_string(),
            "(known after apply)"
        );
        assert_eq!(
            Value::from(SecretRef::env("X")).to_string(),
            "(sensitive, from env:X)"
        );
    }

    #[test]
    fn resolves_known_references_only() {
        let subnet = Address::keyed(Component::Network, "subnet", "node/us-west-2a");
        let value = Value::List(vec![
            Value::output(&vpc(), "id"),
            Value::output(&subnet, "id"),
        ]);
        assert!(!value.is_known());
        let resolved = value.resolve(&|r| (r.address == vpc()).then(|| Value::from("vpc-1")));
        assert_eq!(
            resolved,
            Value::List(vec!["vpc-1".into(), Value::output(&subnet, "id")])
        );
        let all = value.resolve(&|_| Some(Value::from("x")));
        assert!(all.is_known());
    }

    #[test]
    fn lists_refs_once() {
        let spec = Spec::new().with("a", Value::output(&vpc(), "id")).with(
            "b",
            Value::List(vec![
                Value::output(&vpc(), "id"),
                Value::output(&vpc(), "arn"),
            ]),
        );
        assert_eq!(
            spec.refs(),
            vec![OutputRef::new(&vpc(), "id"), OutputRef::new(&vpc(), "arn")]
        );
    }
}
