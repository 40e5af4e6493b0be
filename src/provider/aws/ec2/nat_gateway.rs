//! NAT gateways (`ResourceKind::NatGateway`), one per availability zone.
//!
//! Calls: `CreateNatGateway` (with a deterministic client token), `DescribeNatGateways`,
//! `DeleteNatGateway`; creating and deleting are waited for by polling.

use async_trait::async_trait;
use aws_sdk_ec2::types::{ConnectivityType, Filter, NatGatewayState, ResourceType};

use super::{
    Ec2, absent, address_of, already_associated, filter, live, outputs, ownership, pick,
    profile_filters, tag_map, tag_specification, unsupported, wait_until_gone, wait_until_ready,
    with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{Backoff, client_token, failed, known_str};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec};

/// The provider of [`ResourceKind::NatGateway`].
pub(super) struct NatGatewayProvider(pub(super) Ec2);

#[async_trait]
impl ResourceProvider for NatGatewayProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_nat_gateway()
            .subnet_id(known_str(spec.get("subnet_id")).unwrap_or_default())
            .allocation_id(known_str(spec.get("allocation_id")).unwrap_or_default())
            .connectivity_type(ConnectivityType::from(
                known_str(spec.get("connectivity_type")).unwrap_or("public"),
            ))
            .client_token(client_token(desired))
            .tag_specifications(tag_specification(ResourceType::Natgateway, spec))
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateNatGateway", e));
        let output = match output {
            Ok(output) => output,
            // The Elastic IP is taken: by our gateway when an earlier attempt made it and
            // its answer was lost (past the token's lifetime, or not honoured).
            Err(err) if already_associated(&err) => {
                return match self.read(desired).await? {
                    Some(live) if live.ownership == ObservedOwnership::Owned => Ok(live),
                    _ => Err(err),
                };
            }
            Err(err) => return Err(err),
        };
        let nat = output.nat_gateway().ok_or_else(|| {
            failed(
                address,
                "EmptyResponse",
                "CreateNatGateway returned no gateway",
            )
        })?;
        Ok(Self::to_live(address, nat, ObservedOwnership::Owned))
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let filters = vec![
            filter("tag:Name", [desired.spec.name().unwrap_or_default()]),
            Self::live_states(),
        ];
        let found = pick(
            desired,
            self.describe(&desired.address, filters, Vec::new()).await?,
            |n| n.tags(),
        );
        Ok(found.map(|nat| {
            Self::to_live(
                &desired.address,
                &nat,
                ownership(desired, &tag_map(nat.tags())),
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "nat_gateway");
        let mut filters = profile_filters(profile);
        filters.push(Self::live_states());
        let found = self.describe(&placeholder, filters, Vec::new()).await?;
        Ok(found
            .iter()
            .filter_map(|n| {
                Some(Self::to_live(
                    &address_of(n.tags())?,
                    n,
                    ObservedOwnership::Owned,
                ))
            })
            .collect())
    }

    async fn update(
        &self,
        desired: &Resource,
        live: &Live,
        changes: &[AttributeChange],
    ) -> Result<Live, ProviderError> {
        for change in changes {
            match change.attribute.as_str() {
                "tags" => {
                    self.0
                        .put_tags(&desired.address, &live.id, &desired.spec)
                        .await?
                }
                other => return Err(unsupported(&desired.address, other)),
            }
        }
        self.wait_ready(live).await
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        match self
            .0
            .client
            .delete_nat_gateway()
            .nat_gateway_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteNatGateway", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        wait_until_ready(address, &live.id, Backoff::SLOW, || async {
            let found = absent(
                self.describe(address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .first()
                .map(|n| Self::to_live(address, n, live.ownership.clone())))
        })
        .await
    }

    async fn wait_deleted(&self, live: &Live) -> Result<(), ProviderError> {
        // Its Elastic IP is released only once the gateway is `deleted`.
        wait_until_gone(Backoff::SLOW, || async {
            let found = absent(
                self.describe(&live.address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .iter()
                .any(|n| n.state() != Some(&NatGatewayState::Deleted)))
        })
        .await
    }
}

impl NatGatewayProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::NatGateway>, ProviderError> {
        self.0
            .client
            .describe_nat_gateways()
            .set_filter((!filters.is_empty()).then_some(filters))
            .set_nat_gateway_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeNatGateways", e))
    }

    /// The states a NAT gateway that still exists can be in: deleted ones stay listed
    /// for about an hour.
    fn live_states() -> Filter {
        filter("state", ["pending", "available", "failed", "deleting"])
    }

    fn to_live(
        address: &Address,
        nat: &aws_sdk_ec2::types::NatGateway,
        ownership: ObservedOwnership,
    ) -> Live {
        let id = nat.nat_gateway_id().unwrap_or_default();
        let first = nat.nat_gateway_addresses().first();
        let mut attributes = Spec::new().with("subnet_id", nat.subnet_id().unwrap_or_default());
        if let Some(allocation) = first.and_then(|a| a.allocation_id()) {
            attributes.insert("allocation_id", allocation);
        }
        if let Some(connectivity) = nat.connectivity_type() {
            attributes.insert("connectivity_type", connectivity.as_str());
        }
        let attributes = with_tags(attributes, nat.tags());
        let status = match nat.state() {
            Some(NatGatewayState::Available) => Status::Ready,
            Some(NatGatewayState::Failed) => Status::Failed(format!(
                "{}: {}",
                nat.failure_code().unwrap_or("Failed"),
                nat.failure_message().unwrap_or("the NAT gateway failed")
            )),
            Some(state) => Status::InProgress(state.as_str().to_owned()),
            None => Status::InProgress("pending".into()),
        };
        let outputs = outputs(&[
            ("id", Some(id)),
            ("public_ip", first.and_then(|a| a.public_ip())),
        ]);
        live(
            address,
            ResourceKind::NatGateway,
            id,
            ownership,
            status,
            attributes,
            outputs,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::create_nat_gateway::CreateNatGatewayOutput;
    use aws_sdk_ec2::types::NatGateway;
    use aws_smithy_mocks::{
        MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock,
    };

    use crate::provider::aws::support::client_token;
    use crate::stack::{ADDRESS_TAG, PROFILE_TAG, Value};

    /// An EC2 client whose calls `rules` answer; SDK retries off, so each answer's
    /// classification is what is seen.
    fn client(rules: &[&Rule]) -> Client {
        let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in rules {
            interceptor = interceptor.with_rule(rule);
        }
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new("us-west-2"))
            .credentials_provider(aws_sdk_ec2::config::Credentials::new(
                "AKID", "SECRET", None, None, "test",
            ))
            .http_client(create_mock_http_client())
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .interceptor(interceptor)
            .build();
        Client::from_conf(config)
    }

    /// An EC2 (query protocol) error answer.
    fn ec2_error(code: &str, message: &str) -> Option<String> {
        Some(format!(
            "<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
        ))
    }

    fn nat_gateway() -> Resource {
        let profile = crate::profile::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles/example.yaml"),
        )
        .unwrap();
        let stack = crate::stack::build(&profile).unwrap();
        let mut nat = stack
            .get(&"network.nat_gateway[us-west-2a]".parse().unwrap())
            .unwrap()
            .clone();
        // As the executor hands it over: references resolved.
        nat.spec = nat
            .spec
            .resolve(&|r| Some(Value::from(format!("{}-id", r.address.name()))));
        nat
    }

    #[tokio::test]
    async fn nat_gateway_is_created_once_tagged_with_a_deterministic_token() {
        let desired = nat_gateway();
        let token = client_token(&desired);
        let expected = token.clone();
        let create = mock!(Client::create_nat_gateway)
            .match_requests(move |r| {
                let tags = r
                    .tag_specifications()
                    .first()
                    .map(|t| tag_map(t.tags()))
                    .unwrap_or_default();
                r.client_token() == Some(expected.as_str())
                    && r.subnet_id() == Some("subnet-id")
                    && r.allocation_id() == Some("nat_eip-id")
                    && tags.get(PROFILE_TAG).map(String::as_str) == Some("example")
                    && tags.get(ADDRESS_TAG).map(String::as_str)
                        == Some("network.nat_gateway[us-west-2a]")
            })
            .then_output(|| {
                CreateNatGatewayOutput::builder()
                    .nat_gateway(
                        NatGateway::builder()
                            .nat_gateway_id("nat-1")
                            .subnet_id("subnet-id")
                            .state(NatGatewayState::Pending)
                            .build(),
                    )
                    .build()
            });
        let provider = NatGatewayProvider(Ec2 {
            client: client(&[&create]),
        });
        let live = provider.create(&desired).await.unwrap();
        assert_eq!(live.id, "nat-1");
        assert_eq!(live.status, Status::InProgress("pending".into()));
        assert_eq!(create.num_calls(), 1);
        assert_eq!(token, client_token(&nat_gateway()), "the same on every run");
    }

    #[tokio::test]
    async fn throttling_and_5xx_are_retryable_and_a_permanent_error_names_resource_and_code() {
        let desired = nat_gateway();
        for (status, body, code, retryable) in [
            (
                503,
                ec2_error("RequestLimitExceeded", "Request limit exceeded."),
                "RequestLimitExceeded",
                true,
            ),
            (
                500,
                ec2_error("InternalError", "An internal error has occurred"),
                "InternalError",
                true,
            ),
            (503, None, "HTTP503", true),
            (
                400,
                ec2_error("InvalidParameterValue", "Invalid value for allocationId"),
                "InvalidParameterValue",
                false,
            ),
        ] {
            let rule = mock!(Client::create_nat_gateway)
                .sequence()
                .http_status(status, body)
                .build();
            let provider = NatGatewayProvider(Ec2 {
                client: client(&[&rule]),
            });
            let err = provider.create(&desired).await.unwrap_err();
            assert_eq!(err.retryable(), retryable, "{err}");
            assert_eq!(err.code(), code, "{err}");
            assert!(
                err.to_string()
                    .starts_with("network.nat_gateway[us-west-2a]: "),
                "{err}"
            );
        }
    }
}
