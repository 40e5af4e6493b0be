//! A stand-in for the two pieces of EKS that moto lacks, in front of moto: managed
//! addons (moto answers an HTML 404) and the cluster security group EKS makes for every
//! cluster (moto reports none, and launch templates need it).
//!
//! Everything else goes to moto untouched. Addons live here in memory and, like moto's
//! clusters, are ACTIVE at once; updates (which moto applies at once but cannot
//! describe) are reported done. When a cluster is created, the stand-in makes a security
//! group in its VPC in moto, as EKS does, reports its id as the cluster's
//! `clusterSecurityGroupId`, and deletes it with the cluster. The stand-in's own calls to
//! moto carry the test-support User-Agent, so moto's recorder shows them as the harness's.
//! Addon calls are recorded here ([`EksStandIn::addon_calls`]).

use std::collections::BTreeMap;
use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::moto::{Moto, query_request, xml_text};
use crate::support::proxy::wire::{self, Request, Response};

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

struct State {
    moto: SocketAddr,
    moto_url: String,
    /// Addons by (cluster, addon name), as EKS returns them.
    addons: BTreeMap<(String, String), Value>,
    /// Cluster security group ids by cluster name.
    cluster_groups: BTreeMap<String, String>,
    /// Addon calls, as `METHOD /path`.
    calls: Vec<String>,
}

/// The stand-in: point the binary at [`EksStandIn::url`].
pub struct EksStandIn {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EksStandIn {
    pub fn in_front_of(moto: &Moto) -> EksStandIn {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the EKS stand-in");
        let addr = listener.local_addr().expect("the stand-in's address");
        let state = Arc::new(Mutex::new(State {
            moto: moto.addr(),
            moto_url: moto.endpoint_url(),
            addons: BTreeMap::new(),
            cluster_groups: BTreeMap::new(),
            calls: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = state.clone();
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        EksStandIn {
            addr,
            state,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The addon calls made so far, as `METHOD /path`.
    pub fn addon_calls(&self) -> Vec<String> {
        lock(&self.state).calls.clone()
    }

    /// The addon calls that may have changed something.
    pub fn mutating_addon_calls(&self) -> Vec<String> {
        self.addon_calls()
            .into_iter()
            .filter(|c| !c.starts_with("GET "))
            .collect()
    }

    pub fn forget_calls(&self) {
        lock(&self.state).calls.clear();
    }

    /// The addons that exist, as `cluster/name`.
    pub fn addons(&self) -> Vec<String> {
        lock(&self.state)
            .addons
            .keys()
            .map(|(c, a)| format!("{c}/{a}"))
            .collect()
    }

    /// The addon `name` of `cluster` as EKS would describe it.
    pub fn addon(&self, cluster: &str, name: &str) -> Option<Value> {
        lock(&self.state)
            .addons
            .get(&(cluster.to_owned(), name.to_owned()))
            .cloned()
    }
}

impl Drop for EksStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = wire::read_request(&mut reader, &mut writer) {
        let response = answer(&request, state);
        if response
            .write_to(&mut writer, request.method == "HEAD")
            .is_err()
            || !request.keep_alive()
        {
            break;
        }
    }
}

fn is_eks(request: &Request) -> bool {
    request
        .header("authorization")
        .is_some_and(|a| a.contains("/eks/aws4_request"))
}

fn json_response(status: u16, body: &Value, error_type: Option<&str>) -> Response {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(error_type) = error_type {
        headers.push(("x-amzn-ErrorType".to_owned(), error_type.to_owned()));
    }
    Response::new(status, headers, body.to_string().into_bytes())
}

fn not_found(message: String) -> Response {
    json_response(
        404,
        &json!({ "message": message }),
        Some("ResourceNotFoundException"),
    )
}

fn forward(request: &Request, state: &Mutex<State>) -> Response {
    let moto = lock(state).moto;
    wire::send(moto, request, UPSTREAM_TIMEOUT).unwrap_or_else(|err| {
        Response::new(
            502,
            Vec::new(),
            format!("stand-in: moto did not answer: {err}").into_bytes(),
        )
    })
}

fn answer(request: &Request, state: &Mutex<State>) -> Response {
    if !is_eks(request) {
        return forward(request, state);
    }
    let path = request.path().to_owned();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (request.method.as_str(), parts.as_slice()) {
        (method, ["clusters", cluster, "addons", rest @ ..]) => {
            lock(state).calls.push(format!("{method} {path}"));
            addon_call(request, state, cluster, rest)
        }
        // moto applies cluster and node group updates at once but cannot describe them;
        // addon updates here are done at once too.
        ("GET", ["clusters", _, "updates", id]) => json_response(
            200,
            &json!({ "update": { "id": id, "status": "Successful", "errors": [] } }),
            None,
        ),
        ("POST", ["tags", arn]) if percent_decode(arn).contains(":addon/") => {
            let arn = percent_decode(arn);
            lock(state).calls.push(format!("POST {path}"));
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let mut state = lock(state);
            let Some(addon) = state
                .addons
                .values_mut()
                .find(|a| a["addonArn"] == arn.as_str())
            else {
                return not_found(format!("Resource was not found: {arn}"));
            };
            if let (Some(tags), Some(new)) =
                (addon["tags"].as_object_mut(), body["tags"].as_object())
            {
                tags.extend(new.clone());
            } else {
                addon["tags"] = body["tags"].clone();
            }
            json_response(200, &json!({}), None)
        }
        ("POST", ["clusters"]) => {
            let response = forward(request, state);
            with_cluster_group(response, state, true)
        }
        ("GET", ["clusters", _]) => with_cluster_group(forward(request, state), state, false),
        ("DELETE", ["clusters", cluster]) => {
            let cluster = (*cluster).to_owned();
            let response = forward(request, state);
            if response.status == 200 {
                let group = {
                    let mut state = lock(state);
                    state.addons.retain(|(c, _), _| *c != cluster);
                    state.cluster_groups.remove(&cluster)
                };
                if let Some(group) = group {
                    ec2(state, "DeleteSecurityGroup", &[("GroupId", &group)]);
                }
            }
            with_cluster_group(response, state, false)
        }
        _ => forward(request, state),
    }
}

fn ec2(state: &Mutex<State>, action: &str, params: &[(&str, &str)]) -> Option<String> {
    let (moto, url) = {
        let state = lock(state);
        (state.moto, state.moto_url.clone())
    };
    let request = query_request(&url, "ec2", "2016-11-15", action, params);
    let response = wire::send(moto, &request, UPSTREAM_TIMEOUT).ok()?;
    (response.status == 200).then(|| response.text())
}

/// Adds the cluster security group to a cluster answer, making it when `create` is set
/// (in the VPC of the cluster's first subnet, as EKS makes it in the cluster's VPC).
fn with_cluster_group(response: Response, state: &Mutex<State>, create: bool) -> Response {
    if response.status != 200 {
        return response;
    }
    let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
        return response;
    };
    let Some(name) = body["cluster"]["name"].as_str().map(str::to_owned) else {
        return response;
    };
    if create && !lock(state).cluster_groups.contains_key(&name) {
        let subnet = body["cluster"]["resourcesVpcConfig"]["subnetIds"][0]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let vpc = ec2(state, "DescribeSubnets", &[("SubnetId.1", &subnet)])
            .and_then(|xml| xml_text(&xml, "vpcId"));
        if let Some(vpc) = vpc {
            let group_name = format!("eks-cluster-sg-{name}");
            let created = ec2(
                state,
                "CreateSecurityGroup",
                &[
                    ("GroupName", &group_name),
                    (
                        "GroupDescription",
                        "EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
                    ),
                    ("VpcId", &vpc),
                ],
            );
            if let Some(id) = created.and_then(|xml| xml_text(&xml, "groupId")) {
                lock(state).cluster_groups.insert(name.clone(), id);
            }
        }
    }
    if let Some(group) = lock(state).cluster_groups.get(&name) {
        body["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"] = json!(group);
    }
    json_response(200, &body, None)
}

fn addon_call(request: &Request, state: &Mutex<State>, cluster: &str, rest: &[&str]) -> Response {
    let key = |name: &str| (cluster.to_owned(), name.to_owned());
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    match (request.method.as_str(), rest) {
        ("POST", []) => {
            let name = body["addonName"].as_str().unwrap_or_default().to_owned();
            let mut state = lock(state);
            if state.addons.contains_key(&key(&name)) {
                return json_response(
                    409,
                    &json!({ "message": format!("Addon already exists: {name}") }),
                    Some("ResourceInUseException"),
                );
            }
            let mut addon = json!({
                "addonName": name,
                "clusterName": cluster,
                "status": "CREATING",
                "addonVersion": body["addonVersion"].as_str().unwrap_or("v1.0.0-eksbuild.1"),
                "addonArn": format!("arn:aws:eks:us-west-2:123456789012:addon/{cluster}/{name}/0"),
                "health": { "issues": [] },
                "tags": body["tags"].clone(),
            });
            if let Some(configuration) = body["configurationValues"].as_str() {
                addon["configurationValues"] = json!(configuration);
            }
            let answer = json!({ "addon": addon.clone() });
            addon["status"] = json!("ACTIVE");
            state.addons.insert(key(&name), addon);
            json_response(200, &answer, None)
        }
        ("GET", []) => {
            let names: Vec<String> = lock(state)
                .addons
                .keys()
                .filter(|(c, _)| c == cluster)
                .map(|(_, a)| a.clone())
                .collect();
            json_response(200, &json!({ "addons": names }), None)
        }
        ("GET", [name]) => match lock(state).addons.get(&key(name)) {
            Some(addon) => json_response(200, &json!({ "addon": addon }), None),
            None => not_found(format!("No addon: {name} found in cluster: {cluster}")),
        },
        ("DELETE", [name]) => match lock(state).addons.remove(&key(name)) {
            Some(mut addon) => {
                addon["status"] = json!("DELETING");
                json_response(200, &json!({ "addon": addon }), None)
            }
            None => not_found(format!("No addon: {name} found in cluster: {cluster}")),
        },
        ("POST", [name, "update"]) => {
            let mut state = lock(state);
            let Some(addon) = state.addons.get_mut(&key(name)) else {
                return not_found(format!("No addon: {name} found in cluster: {cluster}"));
            };
            if let Some(version) = body["addonVersion"].as_str() {
                addon["addonVersion"] = json!(version);
            }
            if let Some(configuration) = body["configurationValues"].as_str() {
                addon["configurationValues"] = json!(configuration);
            }
            json_response(
                200,
                &json!({ "update": { "id": format!("update-{name}"), "status": "InProgress", "type": "AddonUpdate" } }),
                None,
            )
        }
        _ => json_response(
            400,
            &json!({ "message": "not supported by the stand-in" }),
            Some("InvalidRequestException"),
        ),
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            text.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
