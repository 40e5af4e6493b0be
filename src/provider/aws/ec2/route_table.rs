//! Route tables (`ResourceKind::RouteTable`) with their routes and subnet associations.
//!
//! Calls: `CreateRouteTable`, `DescribeRouteTables`, `CreateRoute`, `ReplaceRoute`,
//! `DeleteRoute`, `AssociateRouteTable`, `ReplaceRouteTableAssociation`,
//! `DisassociateRouteTable`, `DeleteRouteTable`.

use async_trait::async_trait;
use aws_sdk_ec2::types::{Filter, ResourceType};

use super::{
    Ec2, absent, address_of, already_associated, filter, list_of, live, name_filters, once,
    outputs, ownership, pick, profile_filters, tag_map, tag_specification, unsupported,
    wait_until_ready, with_tags,
};
use crate::provider::aws::sdk_error;
use crate::provider::aws::support::{
    Backoff, client_token, ignore_order, known_str, order_like, resume, strings, vanished,
};
use crate::provider::{
    AttributeChange, Live, ObservedOwnership, ProviderError, ResourceProvider, Status,
    default_change_class, diff_attributes,
};
use crate::stack::{Address, Component, Resource, ResourceKind, Spec, Value};

/// The provider of [`ResourceKind::RouteTable`].
pub(super) struct RouteTableProvider(pub(super) Ec2);

/// One route as the spec writes it: a destination and one target.
fn route_value(route: &aws_sdk_ec2::types::Route) -> Option<Value> {
    let destination = route.destination_cidr_block()?;
    let target = [
        ("gateway_id", route.gateway_id()),
        ("nat_gateway_id", route.nat_gateway_id()),
        ("transit_gateway_id", route.transit_gateway_id()),
        (
            "vpc_peering_connection_id",
            route.vpc_peering_connection_id(),
        ),
        ("network_interface_id", route.network_interface_id()),
    ]
    .into_iter()
    .find_map(|(key, id)| Some((key, id?)))?;
    Some(Value::Map(
        [
            (
                "destination_cidr_block".to_owned(),
                Value::from(destination),
            ),
            (target.0.to_owned(), Value::from(target.1)),
        ]
        .into(),
    ))
}

fn route_destination(route: &Value) -> Option<&str> {
    route.as_map()?.get("destination_cidr_block")?.as_str()
}

#[async_trait]
impl ResourceProvider for RouteTableProvider {
    async fn create(&self, desired: &Resource) -> Result<Live, ProviderError> {
        if let Some(live) = resume(self, desired).await? {
            return Ok(live);
        }
        let address = &desired.address;
        let spec = &desired.spec;
        let output = self
            .0
            .client
            .create_route_table()
            .vpc_id(known_str(spec.get("vpc_id")).unwrap_or_default())
            .client_token(client_token(desired))
            .tag_specifications(tag_specification(ResourceType::RouteTable, spec))
            .customize()
            .config_override(once())
            .send()
            .await
            .map_err(|e| sdk_error(address, "ec2:CreateRouteTable", e))?;
        let id = output
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned();
        self.set_routes(address, &id, &[], &list_of(spec.get("routes")))
            .await?;
        self.set_subnets(address, &id, &[], &strings(spec.get("subnet_ids")))
            .await?;
        let tables = self.describe(address, Vec::new(), vec![id.clone()]).await?;
        let table = tables.first().ok_or_else(|| vanished(address, &id))?;
        Ok(Self::to_live(
            address,
            table,
            ObservedOwnership::Owned,
            spec,
        ))
    }

    async fn read(&self, desired: &Resource) -> Result<Option<Live>, ProviderError> {
        let found = pick(
            desired,
            self.describe(
                &desired.address,
                name_filters(desired, "tag:Name"),
                Vec::new(),
            )
            .await?,
            |t| t.tags(),
        );
        Ok(found.map(|table| {
            Self::to_live(
                &desired.address,
                &table,
                ownership(desired, &tag_map(table.tags())),
                &desired.spec,
            )
        }))
    }

    async fn list(&self, profile: &str) -> Result<Vec<Live>, ProviderError> {
        let placeholder = Address::new(Component::Network, "route_table");
        let found = self
            .describe(&placeholder, profile_filters(profile), Vec::new())
            .await?;
        Ok(found
            .iter()
            .filter_map(|t| {
                Some(Self::to_live(
                    &address_of(t.tags())?,
                    t,
                    ObservedOwnership::Owned,
                    &Spec::new(),
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
        let address = &desired.address;
        for change in changes {
            match change.attribute.as_str() {
                "routes" => {
                    let current = list_of(live.attributes.get("routes"));
                    self.set_routes(
                        address,
                        &live.id,
                        &current,
                        &list_of(desired.spec.get("routes")),
                    )
                    .await?;
                }
                "subnet_ids" => {
                    let current = strings(live.attributes.get("subnet_ids"));
                    self.set_subnets(
                        address,
                        &live.id,
                        &current,
                        &strings(desired.spec.get("subnet_ids")),
                    )
                    .await?;
                }
                "tags" => self.0.put_tags(address, &live.id, &desired.spec).await?,
                other => return Err(unsupported(address, other)),
            }
        }
        let tables = self
            .describe(address, Vec::new(), vec![live.id.clone()])
            .await?;
        let table = tables.first().ok_or_else(|| vanished(address, &live.id))?;
        Ok(Self::to_live(
            address,
            table,
            live.ownership.clone(),
            &desired.spec,
        ))
    }

    fn diff(&self, desired: &Resource, live: &Live) -> Vec<AttributeChange> {
        let mut changes = diff_attributes(desired, live, default_change_class);
        ignore_order(&mut changes, &["routes", "subnet_ids"]);
        changes
    }

    async fn delete(&self, live: &Live, _desired: Option<&Resource>) -> Result<(), ProviderError> {
        self.disassociate(&live.address, &live.id, |_| true).await?;
        match self
            .0
            .client
            .delete_route_table()
            .route_table_id(&live.id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => match sdk_error(&live.address, "ec2:DeleteRouteTable", e) {
                ProviderError::NotFound { .. } => Ok(()),
                err => Err(err),
            },
        }
    }

    async fn wait_ready(&self, live: &Live) -> Result<Live, ProviderError> {
        let address = &live.address;
        wait_until_ready(address, &live.id, Backoff::FAST, || async {
            let found = absent(
                self.describe(address, Vec::new(), vec![live.id.clone()])
                    .await,
            )?
            .unwrap_or_default();
            Ok(found
                .first()
                .map(|t| Self::to_live(address, t, live.ownership.clone(), &live.attributes)))
        })
        .await
    }
}

impl RouteTableProvider {
    async fn describe(
        &self,
        address: &Address,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<aws_sdk_ec2::types::RouteTable>, ProviderError> {
        self.0
            .client
            .describe_route_tables()
            .set_filters((!filters.is_empty()).then_some(filters))
            .set_route_table_ids((!ids.is_empty()).then_some(ids))
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| sdk_error(address, "ec2:DescribeRouteTables", e))
    }

    fn to_live(
        address: &Address,
        table: &aws_sdk_ec2::types::RouteTable,
        ownership: ObservedOwnership,
        hint: &Spec,
    ) -> Live {
        let id = table.route_table_id().unwrap_or_default();
        // Only the routes someone added: the VPC's local routes come with the table.
        let mut routes: Vec<Value> = table
            .routes()
            .iter()
            .filter(|r| r.origin().is_none_or(|o| o.as_str() == "CreateRoute"))
            .filter_map(route_value)
            .collect();
        let order: Vec<String> = match hint.get("routes") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|r| route_destination(r).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        routes.sort_by_key(|r| {
            let destination = route_destination(r).unwrap_or_default().to_owned();
            (
                order
                    .iter()
                    .position(|d| *d == destination)
                    .unwrap_or(usize::MAX),
                destination,
            )
        });
        let subnets: Vec<String> = table
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
            .filter_map(|a| a.subnet_id().map(str::to_owned))
            .collect();
        let attributes = Spec::new()
            .with("vpc_id", table.vpc_id().unwrap_or_default())
            .with("routes", Value::List(routes))
            .with("subnet_ids", order_like(hint.get("subnet_ids"), subnets));
        let attributes = with_tags(attributes, table.tags());
        let outputs = outputs(&[("id", Some(id))]);
        live(
            address,
            ResourceKind::RouteTable,
            id,
            ownership,
            Status::Ready,
            attributes,
            outputs,
        )
    }

    async fn add_route(
        &self,
        address: &Address,
        id: &str,
        route: &Value,
        replace: bool,
    ) -> Result<(), ProviderError> {
        let Some(map) = route.as_map() else {
            return Ok(());
        };
        let get = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        if replace {
            self.0
                .client
                .replace_route()
                .route_table_id(id)
                .set_destination_cidr_block(get("destination_cidr_block"))
                .set_gateway_id(get("gateway_id"))
                .set_nat_gateway_id(get("nat_gateway_id"))
                .send()
                .await
                .map_err(|e| sdk_error(address, "ec2:ReplaceRoute", e))?;
        } else {
            let created = self
                .0
                .client
                .create_route()
                .route_table_id(id)
                .set_destination_cidr_block(get("destination_cidr_block"))
                .set_gateway_id(get("gateway_id"))
                .set_nat_gateway_id(get("nat_gateway_id"))
                .send()
                .await;
            if let Err(e) = created {
                match sdk_error(address, "ec2:CreateRoute", e) {
                    // Added by an earlier attempt, maybe to another target: set it.
                    ProviderError::AlreadyExists { .. } => {
                        return Box::pin(self.add_route(address, id, route, true)).await;
                    }
                    err => return Err(err),
                }
            }
        }
        Ok(())
    }

    /// Makes the table's routes those of `wanted`.
    async fn set_routes(
        &self,
        address: &Address,
        id: &str,
        current: &[Value],
        wanted: &[Value],
    ) -> Result<(), ProviderError> {
        for route in wanted {
            let destination = route_destination(route);
            match current.iter().find(|c| route_destination(c) == destination) {
                Some(existing) if existing == route => {}
                Some(_) => self.add_route(address, id, route, true).await?,
                None => self.add_route(address, id, route, false).await?,
            }
        }
        for route in current {
            let destination = route_destination(route);
            if !wanted.iter().any(|w| route_destination(w) == destination) {
                self.0
                    .client
                    .delete_route()
                    .route_table_id(id)
                    .set_destination_cidr_block(destination.map(str::to_owned))
                    .send()
                    .await
                    .map_err(|e| sdk_error(address, "ec2:DeleteRoute", e))?;
            }
        }
        Ok(())
    }

    /// Associates the table with exactly the subnets of `wanted`. A subnet associated
    /// with another table is moved over, as a subnet has one table at a time.
    async fn set_subnets(
        &self,
        address: &Address,
        id: &str,
        current: &[String],
        wanted: &[String],
    ) -> Result<(), ProviderError> {
        for subnet in wanted.iter().filter(|s| !current.contains(s)) {
            let elsewhere = self
                .describe(
                    address,
                    vec![filter("association.subnet-id", [subnet.as_str()])],
                    Vec::new(),
                )
                .await?
                .iter()
                .flat_map(|t| t.associations().to_vec())
                .find(|a| a.subnet_id() == Some(subnet.as_str()))
                .and_then(|a| a.route_table_association_id().map(str::to_owned));
            match elsewhere {
                Some(association) => {
                    self.0
                        .client
                        .replace_route_table_association()
                        .association_id(association)
                        .route_table_id(id)
                        .send()
                        .await
                        .map_err(|e| sdk_error(address, "ec2:ReplaceRouteTableAssociation", e))?;
                }
                None => {
                    self.0
                        .client
                        .associate_route_table()
                        .route_table_id(id)
                        .subnet_id(subnet)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| sdk_error(address, "ec2:AssociateRouteTable", e))
                        .or_else(|err| {
                            if already_associated(&err) {
                                Ok(())
                            } else {
                                Err(err)
                            }
                        })?;
                }
            }
        }
        let stale: Vec<&String> = current.iter().filter(|s| !wanted.contains(s)).collect();
        if !stale.is_empty() {
            self.disassociate(address, id, |subnet| {
                stale.iter().any(|s| s.as_str() == subnet)
            })
            .await?;
        }
        Ok(())
    }

    async fn disassociate(
        &self,
        address: &Address,
        id: &str,
        which: impl Fn(&str) -> bool,
    ) -> Result<(), ProviderError> {
        let tables = absent(
            self.describe(address, Vec::new(), vec![id.to_owned()])
                .await,
        )?
        .unwrap_or_default();
        for association in tables.iter().flat_map(|t| t.associations().to_vec()) {
            let (Some(subnet), Some(association_id)) = (
                association.subnet_id(),
                association.route_table_association_id(),
            ) else {
                continue;
            };
            if association.main().unwrap_or(false) || !which(subnet) {
                continue;
            }
            match self
                .0
                .client
                .disassociate_route_table()
                .association_id(association_id)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) => match sdk_error(address, "ec2:DisassociateRouteTable", e) {
                    ProviderError::NotFound { .. } => {}
                    err => return Err(err),
                },
            }
        }
        Ok(())
    }
}
