#!/usr/bin/env python3
"""One local AWS for bpa-infra: moto's server plus the calls moto lacks.

    python3 scripts/emulator.py -H 127.0.0.1 -p 5000

moto (pinned in scripts/test) answers EC2, IAM, EKS clusters and node groups, RDS, ECR, STS
and the rest. It lacks, and this launcher adds, as extensions running inside moto's server:

* EKS managed addons (Create/Describe/List/Update/Delete, DescribeAddonVersions), with the
  status sequence EKS reports (CREATING -> ACTIVE, UPDATING -> ACTIVE, DELETING -> gone)
  and `configurationValues` checked as EKS checks them (JSON or YAML, an object, and for
  vpc-cni only the keys its configuration schema defines);
* EKS access entries and access policy associations, and the access policies EKS offers;
* EKS Pod Identity associations (also those an addon makes for its service account);
* the cluster security group EKS makes for every cluster (moto reports none), the cluster's
  `accessConfig` (one-way mode changes), UpdateClusterVersion (one minor version at a
  time) and UpdateNodegroupVersion, and `DescribeUpdate` for every update;
* the RDS for PostgreSQL catalogue (DescribeDBEngineVersions, for which moto answers
  HTTP 500, and DescribeOrderableDBInstanceOptions, for which it answers nothing).

Every EKS request, the ones moto answers too, is first checked against the operation's
input shape in botocore's EKS model (required members, enums, lengths, ranges, patterns),
and refused as EKS refuses it: `InvalidParameterException`, HTTP 400, JSON body with
`message` and header `x-amzn-ErrorType`. Error codes and HTTP statuses come from the model's
error shapes. Everything that is not one of these calls goes to moto untouched; the extra
calls are recorded in moto's recorder like moto's own.

Environment:
  EMULATOR_TRANSITION_READS  how many reads a transitional status (CREATING, UPDATING,
                             DELETING) lasts before it settles (default 0: the answer to
                             the call reports it, the first read sees the end state).
"""

import copy
import io
import datetime
import json
import os
import random
import re
import string
import sys
import threading
import uuid
from urllib.parse import parse_qs, quote, unquote

import botocore.session
import yaml
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.responses import ActionResult
from moto.moto_api import recorder
from werkzeug.wrappers import Request

ACCOUNT = DEFAULT_ACCOUNT_ID
TRANSITION_READS = int(os.environ.get("EMULATOR_TRANSITION_READS", "0"))

# --- the RDS for PostgreSQL catalogue ---------------------------------------------------

# Modelled on what RDS offers in us-west-2 (`aws rds describe-orderable-db-instance-options
# --engine postgres`): the versions and classes the tests and the example profiles use, and
# a few they use to be refused.
PG_VERSIONS = ["15.8", "16.3", "16.4", "16.6", "17.2", "17.4"]
# Orderable as a Multi-AZ DB cluster (and as a Multi-AZ DB instance).
PG_CLUSTER_CLASSES = [
    "db.m5d.large", "db.m5d.xlarge", "db.m5d.2xlarge", "db.m5d.4xlarge",
    "db.m6gd.large", "db.m6gd.xlarge", "db.r6gd.large", "db.r6gd.xlarge",
]
# Orderable only as a (Multi-AZ) DB instance.
PG_INSTANCE_CLASSES = [
    "db.t3.medium", "db.m5.large", "db.m5.xlarge", "db.m6g.large", "db.r6g.large",
    "db.r6g.xlarge",
]
# (storage type, GiB min, GiB max, IOPS range or None)
PG_CLUSTER_STORAGE = [
    ("io1", 100, 65536, (1000, 256000)),
    ("io2", 100, 65536, (1000, 256000)),
    ("gp3", 20, 65536, None),
]
PG_INSTANCE_STORAGE = [("gp2", 20, 65536, None)] + PG_CLUSTER_STORAGE


def pg_family(version):
    return "postgres" + version.split(".")[0]


def rds_describe_db_engine_versions(self):
    if self.params.get("Engine") != "postgres":
        # moto has no DescribeDBEngineVersions at all; only PostgreSQL is catalogued here.
        raise NotImplementedError("DescribeDBEngineVersions is only answered for postgres")
    want_version = self.params.get("EngineVersion")
    want_family = self.params.get("DBParameterGroupFamily")
    versions = [
        {
            "Engine": "postgres",
            "EngineVersion": v,
            "DBParameterGroupFamily": pg_family(v),
            "Status": "available",
        }
        for v in PG_VERSIONS
        if want_version in (None, v) and want_family in (None, pg_family(v))
    ]
    return ActionResult({"DBEngineVersions": versions})


def rds_describe_orderable_db_instance_options(self):
    if self.params.get("Engine") != "postgres":
        return _MOTO_ORDERABLE[0](self)
    want_version = self.params.get("EngineVersion")
    want_class = self.params.get("DBInstanceClass")
    options = []
    for version in PG_VERSIONS:
        if want_version not in (None, version):
            continue
        classes = [(c, True, PG_CLUSTER_STORAGE) for c in PG_CLUSTER_CLASSES]
        classes += [(c, False, PG_INSTANCE_STORAGE) for c in PG_INSTANCE_CLASSES]
        for instance_class, clusters, storage in classes:
            if want_class not in (None, instance_class):
                continue
            for storage_type, min_gib, max_gib, iops in storage:
                option = {
                    "Engine": "postgres",
                    "EngineVersion": version,
                    "DBInstanceClass": instance_class,
                    "MultiAZCapable": True,
                    "SupportsClusters": clusters,
                    "Vpc": True,
                    "SupportsStorageEncryption": True,
                    "StorageType": storage_type,
                    "MinStorageSize": min_gib,
                    "MaxStorageSize": max_gib,
                }
                if iops:
                    option["MinIopsPerDbInstance"], option["MaxIopsPerDbInstance"] = iops
                options.append(option)
    return ActionResult({"OrderableDBInstanceOptions": options})


_MOTO_ORDERABLE = []


def teach_rds():
    """Adds the catalogue to moto's RDS (on the first RDS call: moto.rds takes seconds to
    import, and most runs of the emulator never call RDS)."""
    from moto.rds.responses import RDSResponse

    if not _MOTO_ORDERABLE:
        _MOTO_ORDERABLE.append(RDSResponse.describe_orderable_db_instance_options)
        RDSResponse.describe_db_engine_versions = rds_describe_db_engine_versions
        RDSResponse.describe_orderable_db_instance_options = rds_describe_orderable_db_instance_options


# --- botocore's EKS model: routes and input validation ---------------------------------


class LazyModel:
    """botocore's EKS model and the routes of its operations, loaded on the first EKS call."""

    def __init__(self):
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                self._model = botocore.session.get_session().get_service_model("eks")
        return self._model

    def __getattr__(self, name):
        return getattr(self._load(), name)


EKS = LazyModel()


class Refused(Exception):
    """An EKS error answer: the code names an error shape of the model."""

    def __init__(self, code, message, **members):
        super().__init__(message)
        self.code = code
        self.message = message
        self.members = members


def _route(operation):
    uri = operation.http["requestUri"].split("?")[0]
    labels = re.findall(r"{([^}+]+)\+?}", uri)
    pattern = re.sub(r"{[^}]+}", "([^/]+)", re.escape(uri).replace(r"\{", "{").replace(r"\}", "}"))
    return operation.http["method"], re.compile("^" + pattern + "$"), operation.name, labels


ROUTES = []


def match_route(method, raw_path):
    if not ROUTES:
        ROUTES.extend(_route(EKS.operation_model(name)) for name in EKS.operation_names)
    for route_method, pattern, name, labels in ROUTES:
        found = pattern.match(raw_path)
        if route_method == method and found:
            return name, {label: unquote(v) for label, v in zip(labels, found.groups())}
    return None, None


def _type_error(path, expected):
    return Refused("InvalidParameterException", f"{path}: expected {expected}")


def validate(shape, value, path):
    """Checks `value` against `shape` as EKS's front end does; raises Refused."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _type_error(path, "an object")
        for name in shape.required_members:
            if value.get(name) is None:
                raise Refused(
                    "InvalidParameterException",
                    f"Missing required parameter in request: {path}.{name}".replace("request.", ""),
                )
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is not None and member_value is not None:
                validate(member, member_value, f"{path}.{name}")
        return
    if kind == "list":
        if not isinstance(value, list):
            raise _type_error(path, "a list")
        _check_range(shape, len(value), path, "number of items")
        for i, item in enumerate(value):
            validate(shape.member, item, f"{path}[{i}]")
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise _type_error(path, "a map")
        _check_range(shape, len(value), path, "number of entries")
        for key, item in value.items():
            validate(shape.key, key, f"{path} key")
            validate(shape.value, item, f"{path}.{key}")
        return
    if kind == "string":
        if not isinstance(value, str):
            raise _type_error(path, "a string")
        enum = shape.enum
        if enum and value not in enum:
            raise Refused(
                "InvalidParameterException",
                f"{path}: '{value}' is not one of [{', '.join(enum)}]",
            )
        _check_range(shape, len(value), path, "length")
        pattern = shape.metadata.get("pattern")
        if pattern and not _pattern(pattern).search(value):
            raise Refused(
                "InvalidParameterException",
                f"{path}: '{value}' does not match the pattern {pattern}",
            )
        return
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(path, "an integer")
        _check_range(shape, value, path, "value")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _type_error(path, "a boolean")
        return
    if kind == "timestamp":
        if not isinstance(value, (int, float, str)):
            raise _type_error(path, "a timestamp")


_patterns = {}


def _pattern(text):
    if text not in _patterns:
        _patterns[text] = re.compile(text)
    return _patterns[text]


def _check_range(shape, size, path, what):
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        raise Refused("InvalidParameterException", f"{path}: {what} {size} is below the minimum {low}")
    if high is not None and size > high:
        raise Refused("InvalidParameterException", f"{path}: {what} {size} is above the maximum {high}")


def request_input(operation, labels, query, headers, body):
    """The operation's input as one dict, from the URI, query string, headers and body."""
    shape = operation.input_shape
    params = {}
    if shape is None:
        return params
    if body:
        try:
            document = json.loads(body)
        except ValueError as err:
            raise Refused("InvalidParameterException", f"the request body is not JSON: {err}")
        if not isinstance(document, dict):
            raise Refused("InvalidParameterException", "the request body is not a JSON object")
    else:
        document = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = labels[wire]
        elif location == "querystring":
            if wire in query:
                values = query[wire]
                if member.type_name == "list":
                    params[name] = values
                elif member.type_name in ("integer", "long"):
                    try:
                        params[name] = int(values[0])
                    except ValueError:
                        raise _type_error(name, "an integer")
                elif member.type_name == "boolean":
                    params[name] = values[0].lower() == "true"
                else:
                    params[name] = values[0]
        elif location == "header":
            if wire.lower() in headers:
                params[name] = headers[wire.lower()]
        elif name in document:
            params[name] = document[name]
    return params


def error_response(err):
    shape = EKS.shape_for(err.code)
    status = shape.metadata.get("error", {}).get("httpStatusCode", 400)
    body = {"message": err.message}
    body.update({k: v for k, v in err.members.items() if v is not None})
    return status, {"x-amzn-ErrorType": err.code}, body


# --- the EKS extensions' state ------------------------------------------------------------

LOCK = threading.RLock()
STATE = {}


def reset_state():
    with LOCK:
        STATE.clear()


def region_state(region):
    return STATE.setdefault(
        region,
        {
            "addons": {},  # (cluster, name) -> addon
            "entries": {},  # (cluster, principal) -> access entry
            "policies": {},  # (cluster, principal) -> {policy arn: associated policy}
            "pod_identity": {},  # (cluster, id) -> association
            "updates": {},  # (cluster, id) -> update
            "clusters": {},  # cluster -> {securityGroup, accessConfig}
        },
    )


def now():
    return datetime.datetime.now(datetime.timezone.utc).timestamp()


def moto_cluster(region, name):
    from moto.eks.models import eks_backends

    return eks_backends[ACCOUNT][region].clusters.get(name)


def require_cluster(region, name):
    if moto_cluster(region, name) is None:
        raise Refused(
            "ResourceNotFoundException",
            f"No cluster found for name: {name}.",
            clusterName=name,
        )


def new_update(state, cluster, update_type, params, addon=None, nodegroup=None):
    update_id = str(uuid.uuid4())
    update = {
        "id": update_id,
        "status": "InProgress",
        "type": update_type,
        "params": [{"type": k, "value": v} for k, v in params],
        "createdAt": now(),
        "errors": [],
        "_reads": TRANSITION_READS,
    }
    state["updates"][(cluster, update_id)] = update
    return update


def public(item):
    """A stored item without its bookkeeping fields."""
    return {k: copy.deepcopy(v) for k, v in item.items() if not k.startswith("_")}


def settle(item, status_field, settled):
    """Counts one read of an item in a transitional status; True once it has settled."""
    if item.get("_reads", 0) > 0:
        item["_reads"] -= 1
        return False
    item[status_field] = settled
    return True


# --- addons -------------------------------------------------------------------------------

# Addons EKS offers, with the service account that takes Pod Identity (None: the addon
# does not support Pod Identity) and versions (`aws eks describe-addon-versions`). Which
# addons accept Pod Identity: EKS user guide, "Amazon EKS add-ons that support EKS Pod
# Identity" (vpc-cni, aws-ebs-csi-driver, aws-efs-csi-driver, adot, amazon-cloudwatch-...).
ADDONS = {
    "vpc-cni": ("networking", "aws-node", ["v1.19.2-eksbuild.1", "v1.19.0-eksbuild.1", "v1.18.5-eksbuild.1"]),
    "coredns": ("networking", None, ["v1.11.4-eksbuild.2", "v1.11.3-eksbuild.1"]),
    "kube-proxy": ("networking", None, ["v1.32.0-eksbuild.2", "v1.31.3-eksbuild.2"]),
    "aws-ebs-csi-driver": ("storage", "ebs-csi-controller-sa", ["v1.38.1-eksbuild.2", "v1.37.0-eksbuild.1"]),
    "aws-efs-csi-driver": ("storage", "efs-csi-controller-sa", ["v2.1.4-eksbuild.1"]),
    "eks-pod-identity-agent": ("security", None, ["v1.3.4-eksbuild.1", "v1.3.2-eksbuild.2"]),
    "snapshot-controller": ("storage", None, ["v8.1.0-eksbuild.2"]),
    "aws-mountpoint-s3-csi-driver": ("storage", "s3-csi-driver-sa", ["v1.11.0-eksbuild.1"]),
}

# The top-level keys of the vpc-cni addon's configuration schema and the environment
# variables it accepts (`aws eks describe-addon-configuration --addon-name vpc-cni`,
# v1.18/v1.19: `additionalProperties: false` at both levels).
VPC_CNI_KEYS = {
    "affinity", "enableNetworkPolicy", "enableWindowsIpam", "enableWindowsPrefixDelegation",
    "env", "eniConfig", "init", "livenessProbeTimeoutSeconds", "nodeAgent", "podAnnotations",
    "podLabels", "readinessProbeTimeoutSeconds", "resources", "tolerations",
}
VPC_CNI_ENV = {
    "ADDITIONAL_ENI_TAGS", "ANNOTATE_POD_IP", "AWS_EC2_ENDPOINT", "AWS_EXTERNAL_SERVICE_CIDRS",
    "AWS_MANAGE_ENIS_NON_SCHEDULABLE", "AWS_VPC_CNI_NODE_PORT_SUPPORT", "AWS_VPC_ENI_MTU",
    "AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG",
    "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", "AWS_VPC_K8S_CNI_EXTERNALSNAT",
    "AWS_VPC_K8S_CNI_LOGLEVEL", "AWS_VPC_K8S_CNI_LOG_FILE", "AWS_VPC_K8S_CNI_RANDOMIZESNAT",
    "AWS_VPC_K8S_CNI_VETHPREFIX", "AWS_VPC_K8S_PLUGIN_LOG_FILE", "AWS_VPC_K8S_PLUGIN_LOG_LEVEL",
    "CLUSTER_ENDPOINT", "DISABLE_INTROSPECTION", "DISABLE_METRICS",
    "DISABLE_NETWORK_RESOURCE_PROVISIONING", "ENABLE_IPv4", "ENABLE_IPv6", "ENABLE_POD_ENI",
    "ENABLE_PREFIX_DELEGATION", "ENABLE_SUBNET_DISCOVERY", "ENI_CONFIG_ANNOTATION_DEF",
    "ENI_CONFIG_LABEL_DEF", "INTROSPECTION_BIND_ADDRESS", "IP_COOLDOWN_PERIOD", "MAX_ENI",
    "MINIMUM_IP_TARGET", "POD_SECURITY_GROUP_ENFORCING_MODE", "WARM_ENI_TARGET",
    "WARM_IP_TARGET", "WARM_PREFIX_TARGET",
}


def config_refused(detail):
    # EKS's wording for a configuration its schema refuses.
    return Refused(
        "InvalidParameterException",
        f"ConfigurationValue provided in request is not supported: {detail}",
    )


def check_configuration(addon_name, text):
    """Checks `configurationValues` as EKS does: JSON or YAML, an object, schema keys."""
    if text is None or text == "":
        return
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise config_refused(f"Json schema validation failed: the value is neither JSON nor YAML ({err})")
    if not isinstance(document, dict):
        raise config_refused("Json schema validation failed with error: [$: must be an object]")
    if addon_name != "vpc-cni":
        return
    for key in document:
        if key not in VPC_CNI_KEYS:
            raise config_refused(
                f"Json schema validation failed with error: [$.{key}: is not defined in the "
                "schema and the schema does not allow additional properties]"
            )
    env = document.get("env", {})
    if not isinstance(env, dict):
        raise config_refused("Json schema validation failed with error: [$.env: object expected]")
    for key, value in env.items():
        if key not in VPC_CNI_ENV:
            raise config_refused(
                f"Json schema validation failed with error: [$.env.{key}: is not defined in the "
                "schema and the schema does not allow additional properties]"
            )
        if not isinstance(value, str):
            raise config_refused(
                f"Json schema validation failed with error: [$.env.{key}: {type(value).__name__} "
                "found, string expected]"
            )


def addon_key_or_404(state, cluster, name):
    addon = state["addons"].get((cluster, name))
    if addon is None:
        raise Refused(
            "ResourceNotFoundException",
            f"No addon: {name} found in cluster: {cluster}",
            clusterName=cluster,
            addonName=name,
        )
    return addon


def read_addon(state, cluster, name):
    """The addon after one read: transitional statuses settle, a deleted one is gone."""
    addon = addon_key_or_404(state, cluster, name)
    status = addon["status"]
    if status == "DELETING" and settle(addon, "status", "DELETING"):
        del state["addons"][(cluster, name)]
        raise Refused(
            "ResourceNotFoundException",
            f"No addon: {name} found in cluster: {cluster}",
            clusterName=cluster,
            addonName=name,
        )
    if status in ("CREATING", "UPDATING"):
        settle(addon, "status", "ACTIVE")
    return addon


def addon_pod_identities(region, state, cluster, addon_name, arn, associations):
    """Makes the Pod Identity associations an addon asks for; returns their ARNs."""
    service_account = ADDONS[addon_name][1]
    arns = []
    for association in associations or []:
        if service_account is None:
            raise Refused(
                "InvalidParameterException",
                f"Addon {addon_name} does not support Pod Identity associations",
                clusterName=cluster,
                addonName=addon_name,
            )
        if association["serviceAccount"] != service_account:
            raise Refused(
                "InvalidParameterException",
                f"Service account {association['serviceAccount']} is not used by addon "
                f"{addon_name} (it uses {service_account})",
                clusterName=cluster,
                addonName=addon_name,
            )
        made = create_association(
            region, state, cluster, "kube-system", service_account, association["roleArn"], {}, owner=arn
        )
        arns.append(made["associationArn"])
    return arns


def create_addon(region, state, p):
    cluster, name = p["clusterName"], p["addonName"]
    require_cluster(region, cluster)
    if name not in ADDONS:
        raise Refused(
            "InvalidParameterException",
            f"Addon {name} specified is not supported in {moto_cluster(region, cluster).version} kubernetes version",
            clusterName=cluster,
            addonName=name,
        )
    versions = ADDONS[name][2]
    version = p.get("addonVersion") or versions[0]
    if not re.match(r"^v\d+\.\d+\.\d+-eksbuild\.\d+$", version):
        raise Refused(
            "InvalidParameterException",
            f"Addon version specified is not supported: {version}",
            clusterName=cluster,
            addonName=name,
        )
    if (cluster, name) in state["addons"]:
        raise Refused(
            "ResourceInUseException",
            f"Addon already exists: {name}",
            clusterName=cluster,
            addonName=name,
        )
    check_configuration(name, p.get("configurationValues"))
    arn = f"arn:aws:eks:{region}:{ACCOUNT}:addon/{cluster}/{name}/{uuid.uuid4()}"
    identities = addon_pod_identities(region, state, cluster, name, arn, p.get("podIdentityAssociations"))
    addon = {
        "addonName": name,
        "clusterName": cluster,
        "status": "CREATING",
        "addonVersion": version,
        "health": {"issues": []},
        "addonArn": arn,
        "createdAt": now(),
        "modifiedAt": now(),
        "tags": p.get("tags") or {},
        "publisher": "eks",
        "owner": "aws",
        "podIdentityAssociations": identities,
        "_reads": TRANSITION_READS,
    }
    for optional in ("serviceAccountRoleArn", "configurationValues"):
        if p.get(optional):
            addon[optional] = p[optional]
    state["addons"][(cluster, name)] = addon
    return {"addon": public(addon)}


def describe_addon(region, state, p):
    require_cluster(region, p["clusterName"])
    return {"addon": public(read_addon(state, p["clusterName"], p["addonName"]))}


def list_addons(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    for key, addon in list(state["addons"].items()):
        # A deleted addon is listed until its deletion has settled, as in EKS.
        if key[0] == cluster and addon["status"] == "DELETING" and addon.get("_reads", 0) <= 0:
            del state["addons"][key]
    names = sorted(n for (c, n) in state["addons"] if c == cluster)
    return paginate(names, p, "addons")


def update_addon(region, state, p):
    cluster, name = p["clusterName"], p["addonName"]
    require_cluster(region, cluster)
    addon = read_addon(state, cluster, name)
    if addon["status"] not in ("ACTIVE", "DEGRADED", "CREATE_FAILED", "UPDATE_FAILED"):
        raise Refused(
            "ResourceInUseException",
            f"Addon {name} is in {addon['status']} status and cannot be updated",
            clusterName=cluster,
            addonName=name,
        )
    params = []
    if p.get("addonVersion"):
        params.append(("AddonVersion", p["addonVersion"]))
    if "configurationValues" in p:
        check_configuration(name, p["configurationValues"])
        params.append(("ConfigurationValues", p["configurationValues"]))
    if p.get("resolveConflicts"):
        params.append(("ResolveConflicts", p["resolveConflicts"]))
    if "serviceAccountRoleArn" in p:
        params.append(("ServiceAccountRoleArn", p["serviceAccountRoleArn"]))
    if "podIdentityAssociations" in p:
        for arn in addon.get("podIdentityAssociations", []):
            drop_association_by_arn(state, cluster, arn)
        addon["podIdentityAssociations"] = addon_pod_identities(
            region, state, cluster, name, addon["addonArn"], p["podIdentityAssociations"]
        )
        params.append(("PodIdentityAssociations", json.dumps(p["podIdentityAssociations"])))
    if p.get("addonVersion"):
        addon["addonVersion"] = p["addonVersion"]
    if "configurationValues" in p:
        if p["configurationValues"]:
            addon["configurationValues"] = p["configurationValues"]
        else:
            addon.pop("configurationValues", None)
    if "serviceAccountRoleArn" in p:
        addon["serviceAccountRoleArn"] = p["serviceAccountRoleArn"]
    addon["status"] = "UPDATING"
    addon["_reads"] = TRANSITION_READS
    addon["modifiedAt"] = now()
    update = new_update(state, cluster, "AddonUpdate", params)
    update["_addon"] = name
    return {"update": public(update)}


def delete_addon(region, state, p):
    cluster, name = p["clusterName"], p["addonName"]
    require_cluster(region, cluster)
    addon = read_addon(state, cluster, name)
    addon["status"] = "DELETING"
    addon["_reads"] = TRANSITION_READS
    for arn in addon.get("podIdentityAssociations", []):
        drop_association_by_arn(state, cluster, arn)
    return {"addon": public(addon)}


def describe_addon_versions(region, state, p):
    names = [p["addonName"]] if p.get("addonName") else sorted(ADDONS)
    addons = []
    for name in names:
        if name not in ADDONS:
            continue
        kind, service_account, versions = ADDONS[name]
        if p.get("types") and kind not in p["types"]:
            continue
        kube = p.get("kubernetesVersion")
        addons.append(
            {
                "addonName": name,
                "type": kind,
                "publisher": "eks",
                "owner": "aws",
                "addonVersions": [
                    {
                        "addonVersion": v,
                        "architecture": ["amd64", "arm64"],
                        "compatibilities": [
                            {"clusterVersion": kube or "1.35", "platformVersions": ["*"], "defaultVersion": i == 0}
                        ],
                        "requiresConfiguration": False,
                        "requiresIamPermissions": service_account is not None,
                    }
                    for i, v in enumerate(versions)
                ],
            }
        )
    return paginate(addons, p, "addons")


# --- access entries and access policies ---------------------------------------------------

# The access policies EKS offers (`aws eks list-access-policies`; EKS user guide, "Review
# access policy permissions").
ACCESS_POLICIES = [
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
]
ACCESS_POLICY_ARNS = {f"arn:aws:eks::aws:cluster-access-policy/{n}": n for n in ACCESS_POLICIES}
IAM_PRINCIPAL = re.compile(r"^arn:aws:iam::(\d{12}):(role|user)/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")


def cluster_extras(state, cluster):
    return state["clusters"].setdefault(
        cluster, {"accessConfig": {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}}
    )


def require_api_mode(state, cluster):
    mode = cluster_extras(state, cluster)["accessConfig"]["authenticationMode"]
    if mode not in ("API", "API_AND_CONFIG_MAP"):
        # EKS user guide, "Change authentication mode to use access entries".
        raise Refused(
            "InvalidRequestException",
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
            "to perform this operation.",
            clusterName=cluster,
        )


def entry_or_404(state, cluster, principal):
    entry = state["entries"].get((cluster, principal))
    if entry is None:
        raise Refused(
            "ResourceNotFoundException",
            f"The specified principalArn could not be found. You can view your available access "
            f"entries with 'list-access-entries'.",
            clusterName=cluster,
        )
    return entry


def make_entry(region, state, cluster, principal, entry_type, groups, username, tags):
    # The rules below: CreateAccessEntry API reference (principalArn: an IAM role or user,
    # a role only for the node types; kubernetesGroups: not for the node types) and the EKS
    # user guide, "Create access entries" (no group starting with `system:`; the username
    # EKS sets when none is given).
    found = IAM_PRINCIPAL.match(principal)
    if not found:
        raise Refused(
            "InvalidParameterException",
            f"The specified principalArn is invalid: {principal} (an IAM role or user ARN)",
            clusterName=cluster,
        )
    entry_type = entry_type or "STANDARD"
    if entry_type != "STANDARD" and found.group(2) != "role":
        raise Refused(
            "InvalidParameterException",
            f"The principalArn of an access entry of type {entry_type} must be an IAM role",
            clusterName=cluster,
        )
    if entry_type != "STANDARD" and groups:
        raise Refused(
            "InvalidParameterException",
            f"kubernetesGroups cannot be specified for an access entry of type {entry_type}",
            clusterName=cluster,
        )
    for group in groups or []:
        if group.startswith("system:"):
            raise Refused(
                "InvalidParameterException",
                f"The kubernetes group {group} is invalid: groups cannot start with 'system:'",
                clusterName=cluster,
            )
    if username is None:
        if entry_type == "STANDARD" and found.group(2) == "role":
            username = f"arn:aws:sts::{found.group(1)}:assumed-role/{found.group(3)}/{{{{SessionName}}}}"
        elif entry_type == "STANDARD":
            username = principal
        else:
            username = "system:node:{{EC2PrivateDNSName}}"
    kind = found.group(2)
    entry = {
        "clusterName": cluster,
        "principalArn": principal,
        "kubernetesGroups": list(groups or []),
        "accessEntryArn": f"arn:aws:eks:{region}:{ACCOUNT}:access-entry/{cluster}/{kind}/"
        f"{found.group(1)}/{found.group(3)}/{uuid.uuid4()}",
        "createdAt": now(),
        "modifiedAt": now(),
        "tags": tags or {},
        "username": username,
        "type": entry_type,
    }
    state["entries"][(cluster, principal)] = entry
    return entry


def create_access_entry(region, state, p):
    cluster, principal = p["clusterName"], p["principalArn"]
    require_cluster(region, cluster)
    require_api_mode(state, cluster)
    if (cluster, principal) in state["entries"]:
        raise Refused(
            "ResourceInUseException",
            f"The specified access entry resource is already in use on this cluster.",
            clusterName=cluster,
        )
    entry = make_entry(
        region, state, cluster, principal, p.get("type"), p.get("kubernetesGroups"), p.get("username"), p.get("tags")
    )
    return {"accessEntry": public(entry)}


def describe_access_entry(region, state, p):
    require_cluster(region, p["clusterName"])
    return {"accessEntry": public(entry_or_404(state, p["clusterName"], p["principalArn"]))}


def list_access_entries(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    want = p.get("associatedPolicyArn")
    principals = sorted(
        principal
        for (c, principal) in state["entries"]
        if c == cluster and (want is None or want in state["policies"].get((c, principal), {}))
    )
    return paginate(principals, p, "accessEntries")


def update_access_entry(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    entry = entry_or_404(state, cluster, p["principalArn"])
    if "kubernetesGroups" in p:
        for group in p["kubernetesGroups"]:
            if group.startswith("system:"):
                raise Refused(
                    "InvalidParameterException",
                    f"The kubernetes group {group} is invalid: groups cannot start with 'system:'",
                    clusterName=cluster,
                )
        entry["kubernetesGroups"] = list(p["kubernetesGroups"])
    if p.get("username"):
        entry["username"] = p["username"]
    entry["modifiedAt"] = now()
    return {"accessEntry": public(entry)}


def delete_access_entry(region, state, p):
    cluster, principal = p["clusterName"], p["principalArn"]
    require_cluster(region, cluster)
    entry_or_404(state, cluster, principal)
    del state["entries"][(cluster, principal)]
    state["policies"].pop((cluster, principal), None)
    return {}


def check_scope(cluster, scope):
    # AccessScope API reference: namespaces only, and then at least one, for `namespace`.
    namespaces = scope.get("namespaces") or []
    if scope["type"] == "cluster" and namespaces:
        raise Refused(
            "InvalidParameterException",
            "namespaces can only be given for an access scope of type namespace",
            clusterName=cluster,
        )
    if scope["type"] == "namespace" and not namespaces:
        raise Refused(
            "InvalidParameterException",
            "an access scope of type namespace needs at least one namespace",
            clusterName=cluster,
        )


def associate_access_policy(region, state, p):
    cluster, principal, policy = p["clusterName"], p["principalArn"], p["policyArn"]
    require_cluster(region, cluster)
    entry = entry_or_404(state, cluster, principal)
    if policy not in ACCESS_POLICY_ARNS:
        raise Refused(
            "ResourceNotFoundException",
            f"The specified policyArn could not be found: {policy}. You can view the available "
            "access policies with 'list-access-policies'.",
            clusterName=cluster,
        )
    # EKS user guide, "Associate access policies with access entries": STANDARD only.
    if entry["type"] != "STANDARD":
        raise Refused(
            "InvalidRequestException",
            f"Access policies can only be associated with access entries of type STANDARD, not {entry['type']}",
            clusterName=cluster,
        )
    check_scope(cluster, p["accessScope"])
    associated = state["policies"].setdefault((cluster, principal), {})
    previous = associated.get(policy)
    item = {
        "policyArn": policy,
        "accessScope": {"type": p["accessScope"]["type"], "namespaces": list(p["accessScope"].get("namespaces") or [])},
        "associatedAt": previous["associatedAt"] if previous else now(),
        "modifiedAt": now(),
    }
    associated[policy] = item
    return {"clusterName": cluster, "principalArn": principal, "associatedAccessPolicy": copy.deepcopy(item)}


def list_associated_access_policies(region, state, p):
    cluster, principal = p["clusterName"], p["principalArn"]
    require_cluster(region, cluster)
    entry_or_404(state, cluster, principal)
    items = [copy.deepcopy(v) for _, v in sorted(state["policies"].get((cluster, principal), {}).items())]
    answer = paginate(items, p, "associatedAccessPolicies")
    answer.update({"clusterName": cluster, "principalArn": principal})
    return answer


def disassociate_access_policy(region, state, p):
    cluster, principal, policy = p["clusterName"], p["principalArn"], p["policyArn"]
    require_cluster(region, cluster)
    entry_or_404(state, cluster, principal)
    associated = state["policies"].get((cluster, principal), {})
    if policy not in associated:
        raise Refused(
            "ResourceNotFoundException",
            f"The specified policy {policy} is not associated with the access entry.",
            clusterName=cluster,
        )
    del associated[policy]
    return {}


def list_access_policies(region, state, p):
    items = [{"name": name, "arn": arn} for arn, name in ACCESS_POLICY_ARNS.items()]
    return paginate(items, p, "accessPolicies")


# --- Pod Identity associations ------------------------------------------------------------


def role_exists(arn):
    from moto.iam.models import iam_backends

    backend = iam_backends[ACCOUNT]["global"]
    return any(role.arn == arn for role in backend.roles.values())


def association_or_404(state, cluster, association_id):
    association = state["pod_identity"].get((cluster, association_id))
    if association is None:
        raise Refused(
            "ResourceNotFoundException",
            f"No Pod Identity association found for id: {association_id}",
            clusterName=cluster,
        )
    return association


def create_association(region, state, cluster, namespace, service_account, role_arn, tags, owner=None, extra=None):
    # CreatePodIdentityAssociation API reference: the role must exist in the account, and a
    # service account has one association at most.
    if not role_exists(role_arn):
        raise Refused(
            "InvalidParameterException",
            f"The role {role_arn} does not exist or cannot be assumed",
            clusterName=cluster,
        )
    for other in state["pod_identity"].values():
        if (other["clusterName"], other["namespace"], other["serviceAccount"]) == (cluster, namespace, service_account):
            raise Refused(
                "ResourceInUseException",
                f"Association already exists: {other['associationId']} for namespace {namespace} "
                f"and service account {service_account}",
                clusterName=cluster,
            )
    association_id = "a-" + "".join(random.choices(string.ascii_lowercase + string.digits, k=17))
    association = {
        "clusterName": cluster,
        "namespace": namespace,
        "serviceAccount": service_account,
        "roleArn": role_arn,
        "associationArn": f"arn:aws:eks:{region}:{ACCOUNT}:podidentityassociation/{cluster}/{association_id}",
        "associationId": association_id,
        "tags": tags or {},
        "createdAt": now(),
        "modifiedAt": now(),
        "disableSessionTags": False,
        "externalId": str(uuid.uuid4()),
    }
    if owner:
        association["ownerArn"] = owner
    association.update(extra or {})
    state["pod_identity"][(cluster, association_id)] = association
    return association


def drop_association_by_arn(state, cluster, arn):
    for key, association in list(state["pod_identity"].items()):
        if key[0] == cluster and association["associationArn"] == arn:
            del state["pod_identity"][key]


def create_pod_identity_association(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    extra = {}
    if p.get("disableSessionTags") is not None:
        extra["disableSessionTags"] = p["disableSessionTags"]
    if p.get("targetRoleArn"):
        extra["targetRoleArn"] = p["targetRoleArn"]
    association = create_association(
        region, state, cluster, p["namespace"], p["serviceAccount"], p["roleArn"], p.get("tags"), extra=extra
    )
    return {"association": public(association)}


def describe_pod_identity_association(region, state, p):
    require_cluster(region, p["clusterName"])
    return {"association": public(association_or_404(state, p["clusterName"], p["associationId"]))}


def list_pod_identity_associations(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    items = [
        {k: a[k] for k in ("clusterName", "namespace", "serviceAccount", "associationArn", "associationId", "ownerArn") if k in a}
        for (c, _), a in sorted(state["pod_identity"].items())
        if c == cluster
        and p.get("namespace") in (None, a["namespace"])
        and p.get("serviceAccount") in (None, a["serviceAccount"])
    ]
    return paginate(items, p, "associations")


def update_pod_identity_association(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    association = association_or_404(state, cluster, p["associationId"])
    if association.get("ownerArn"):
        # EKS user guide: an addon's association is changed through the addon.
        raise Refused(
            "InvalidRequestException",
            f"Pod Identity association {p['associationId']} is owned by {association['ownerArn']}; "
            "update it through its owner",
            clusterName=cluster,
        )
    if p.get("roleArn"):
        if not role_exists(p["roleArn"]):
            raise Refused(
                "InvalidParameterException",
                f"The role {p['roleArn']} does not exist or cannot be assumed",
                clusterName=cluster,
            )
        association["roleArn"] = p["roleArn"]
    for field in ("disableSessionTags", "targetRoleArn"):
        if field in p:
            association[field] = p[field]
    association["modifiedAt"] = now()
    return {"association": public(association)}


def delete_pod_identity_association(region, state, p):
    cluster = p["clusterName"]
    require_cluster(region, cluster)
    association = association_or_404(state, cluster, p["associationId"])
    if association.get("ownerArn"):
        raise Refused(
            "InvalidRequestException",
            f"Pod Identity association {p['associationId']} is owned by {association['ownerArn']}; "
            "delete it through its owner",
            clusterName=cluster,
        )
    del state["pod_identity"][(cluster, p["associationId"])]
    return {"association": public(association)}


# --- updates, tags and pagination ---------------------------------------------------------


def describe_update(region, state, p):
    cluster = p["name"]
    require_cluster(region, cluster)
    update = state["updates"].get((cluster, p["updateId"]))
    if update is None or (p.get("addonName") and update.get("_addon") != p["addonName"]):
        raise Refused(
            "ResourceNotFoundException",
            f"No update found for ID: {p['updateId']}",
            clusterName=cluster,
            addonName=p.get("addonName"),
            nodegroupName=p.get("nodegroupName"),
        )
    if update["status"] == "InProgress":
        settle(update, "status", "Successful")
    return {"update": public(update)}


def list_updates(region, state, p):
    cluster = p["name"]
    require_cluster(region, cluster)
    ids = [
        u["id"]
        for (c, _), u in state["updates"].items()
        if c == cluster and u.get("_addon") == p.get("addonName") and u.get("_nodegroup") == p.get("nodegroupName")
    ]
    return paginate(ids, p, "updateIds")


def update_cluster_version(region, state, p):
    """UpdateClusterVersion, which moto lacks: one minor version up at a time."""
    name = p["name"]
    require_cluster(region, name)
    cluster = moto_cluster(region, name)
    current = tuple(int(x) for x in cluster.version.split("."))
    wanted = tuple(int(x) for x in p["version"].split("."))
    # EKS user guide, "Update existing cluster to new Kubernetes version": one minor
    # version at a time, never down.
    if wanted[0] != current[0] or wanted[1] != current[1] + 1:
        raise Refused(
            "InvalidParameterException",
            f"Unsupported Kubernetes minor version update from {cluster.version} to {p['version']}",
            clusterName=name,
        )
    cluster.version = p["version"]
    return {"update": public(new_update(state, name, "VersionUpdate", [("Version", p["version"])]))}


def update_nodegroup_version(region, state, p):
    """UpdateNodegroupVersion, which moto lacks: a new version or launch template version."""
    from moto.eks.models import eks_backends

    cluster_name, group_name = p["clusterName"], p["nodegroupName"]
    require_cluster(region, cluster_name)
    cluster = eks_backends[ACCOUNT][region].clusters[cluster_name]
    group = cluster.nodegroups.get(group_name)
    if group is None:
        raise Refused(
            "ResourceNotFoundException",
            f"No node group found for name: {group_name}.",
            clusterName=cluster_name,
            nodegroupName=group_name,
        )
    params = []
    if p.get("launchTemplate"):
        if not group.launch_template:
            raise Refused(
                "InvalidParameterException",
                "A launch template can only be given for a node group created with one",
                clusterName=cluster_name,
                nodegroupName=group_name,
            )
        template = dict(group.launch_template)
        template.update(p["launchTemplate"])
        group.launch_template = template
        params.append(("LaunchTemplateVersion", str(template.get("version", ""))))
    if p.get("version"):
        group.version = p["version"]
        params.append(("Version", p["version"]))
    if p.get("releaseVersion"):
        group.release_version = p["releaseVersion"]
        params.append(("ReleaseVersion", p["releaseVersion"]))
    update = new_update(state, cluster_name, "VersionUpdate", params)
    update["_nodegroup"] = group_name
    return {"update": public(update)}


def tagged_item(state, arn):
    for collection in ("addons", "entries", "pod_identity"):
        for item in state[collection].values():
            if arn in (item.get("addonArn"), item.get("accessEntryArn"), item.get("associationArn")):
                return item
    return None


def is_extension_arn(arn):
    return re.search(r":(addon|access-entry|podidentityassociation)/", arn) is not None


def tag_resource(region, state, p):
    item = tagged_item(state, p["resourceArn"])
    if item is None:
        raise Refused("NotFoundException", f"Resource was not found: {p['resourceArn']}")
    item.setdefault("tags", {}).update(p["tags"])
    return {}


def untag_resource(region, state, p):
    item = tagged_item(state, p["resourceArn"])
    if item is None:
        raise Refused("NotFoundException", f"Resource was not found: {p['resourceArn']}")
    for key in p["tagKeys"]:
        item.get("tags", {}).pop(key, None)
    return {}


def list_tags_for_resource(region, state, p):
    item = tagged_item(state, p["resourceArn"])
    if item is None:
        raise Refused("NotFoundException", f"Resource was not found: {p['resourceArn']}")
    return {"tags": dict(item.get("tags", {}))}


def paginate(items, p, field):
    start = 0
    if p.get("nextToken"):
        try:
            start = int(p["nextToken"])
        except ValueError:
            raise Refused("InvalidParameterException", "The nextToken is invalid")
    size = p.get("maxResults") or 100
    page = items[start : start + size]
    answer = {field: page}
    if start + size < len(items):
        answer["nextToken"] = str(start + size)
    return answer


HANDLERS = {
    "CreateAddon": create_addon,
    "DescribeAddon": describe_addon,
    "ListAddons": list_addons,
    "UpdateAddon": update_addon,
    "DeleteAddon": delete_addon,
    "DescribeAddonVersions": describe_addon_versions,
    "CreateAccessEntry": create_access_entry,
    "DescribeAccessEntry": describe_access_entry,
    "ListAccessEntries": list_access_entries,
    "UpdateAccessEntry": update_access_entry,
    "DeleteAccessEntry": delete_access_entry,
    "AssociateAccessPolicy": associate_access_policy,
    "ListAssociatedAccessPolicies": list_associated_access_policies,
    "DisassociateAccessPolicy": disassociate_access_policy,
    "ListAccessPolicies": list_access_policies,
    "CreatePodIdentityAssociation": create_pod_identity_association,
    "DescribePodIdentityAssociation": describe_pod_identity_association,
    "ListPodIdentityAssociations": list_pod_identity_associations,
    "UpdatePodIdentityAssociation": update_pod_identity_association,
    "DeletePodIdentityAssociation": delete_pod_identity_association,
    "DescribeUpdate": describe_update,
    "ListUpdates": list_updates,
    "UpdateClusterVersion": update_cluster_version,
    "UpdateNodegroupVersion": update_nodegroup_version,
}
TAG_HANDLERS = {
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}

# --- what moto answers, completed -------------------------------------------------------


def cluster_security_group(region, cluster_json):
    """Makes the cluster security group EKS makes in the cluster's VPC; returns its id."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[ACCOUNT][region]
    subnets = cluster_json.get("resourcesVpcConfig", {}).get("subnetIds") or []
    if not subnets:
        return None
    vpc_id = ec2.get_subnet(subnets[0]).vpc_id
    group = ec2.create_security_group(
        name=f"eks-cluster-sg-{cluster_json['name']}-{random.randint(10**9, 10**10 - 1)}",
        description="EKS created security group applied to ENI that is attached to EKS Control "
        "Plane master nodes, as well as any managed workloads.",
        vpc_id=vpc_id,
        tags={f"kubernetes.io/cluster/{cluster_json['name']}": "owned", "aws:eks:cluster-name": cluster_json["name"]},
    )
    return group.id


def on_create_cluster(region, state, params, status, body):
    if status != 200:
        return status, body
    cluster = body["cluster"]
    name = cluster["name"]
    requested = params.get("accessConfig") or {}
    extras = {
        "accessConfig": {
            # The API's default mode is CONFIG_MAP (CreateCluster API reference, accessConfig).
            "authenticationMode": requested.get("authenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": requested.get("bootstrapClusterCreatorAdminPermissions", True),
        }
    }
    state["clusters"][name] = extras
    extras["securityGroup"] = cluster_security_group(region, cluster)
    access = extras["accessConfig"]
    if access["bootstrapClusterCreatorAdminPermissions"] and access["authenticationMode"] != "CONFIG_MAP":
        # EKS gives the creating principal an access entry with the cluster admin policy.
        creator = f"arn:aws:iam::{ACCOUNT}:user/moto"
        make_entry(region, state, name, creator, "STANDARD", [], None, {})
        state["policies"][(name, creator)] = {
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy": {
                "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                "accessScope": {"type": "cluster", "namespaces": []},
                "associatedAt": now(),
                "modifiedAt": now(),
            }
        }
    return status, complete_cluster(state, body)


def complete_cluster(state, body):
    cluster = body.get("cluster")
    if not isinstance(cluster, dict):
        return body
    extras = state["clusters"].get(cluster.get("name"))
    if extras:
        if extras.get("securityGroup"):
            cluster.setdefault("resourcesVpcConfig", {})["clusterSecurityGroupId"] = extras["securityGroup"]
        cluster["accessConfig"] = dict(extras["accessConfig"])
    return body


# The one-way authentication mode moves EKS allows (EKS user guide, "Change authentication
# mode to use access entries": CONFIG_MAP -> API_AND_CONFIG_MAP -> API, never back).
MODE_RANK = {"CONFIG_MAP": 0, "API_AND_CONFIG_MAP": 1, "API": 2}


def before_update_cluster_config(region, state, params):
    access = params.get("accessConfig")
    if not access:
        return
    require_cluster(region, params["name"])
    current = cluster_extras(state, params["name"])["accessConfig"]["authenticationMode"]
    wanted = access.get("authenticationMode", current)
    if MODE_RANK[wanted] < MODE_RANK[current]:
        raise Refused(
            "InvalidParameterException",
            f"Unsupported authentication mode update from {current} to {wanted}",
            clusterName=params["name"],
        )


def on_update_cluster_config(region, state, params, status, body):
    if status != 200:
        return status, body
    name = params["name"]
    kinds = []
    if params.get("accessConfig"):
        mode = params["accessConfig"].get("authenticationMode")
        if mode:
            cluster_extras(state, name)["accessConfig"]["authenticationMode"] = mode
        kinds.append(("AccessConfigUpdate", [("AuthenticationMode", mode or "")]))
    if params.get("logging"):
        kinds.append(("LoggingUpdate", [("ClusterLogging", json.dumps(params["logging"]))]))
    if params.get("resourcesVpcConfig"):
        kinds.append(("EndpointAccessUpdate", [("ResourcesVpcConfig", json.dumps(params["resourcesVpcConfig"]))]))
    update_type, update_params = kinds[0] if kinds else ("ConfigUpdate", [])
    # UpdateClusterConfig answers an update (API reference), not the cluster moto returns.
    return status, {"update": public(new_update(state, name, update_type, update_params))}


def on_update_nodegroup_config(region, state, params, status, body):
    if status != 200:
        return status, body
    # moto applies the change at once; DescribeUpdate then reports it done.
    stored = new_update(state, params["clusterName"], "ConfigUpdate", [])
    stored["_nodegroup"] = params["nodegroupName"]
    return status, {"update": public(stored)}


def on_delete_cluster(region, state, params, status, body):
    if status != 200:
        return status, body
    name = params["name"]
    body = complete_cluster(state, body)
    # EKS deletes a cluster's addons, access entries and Pod Identity associations with it.
    for collection in ("addons", "entries", "policies", "pod_identity", "updates"):
        for key in [k for k in state[collection] if k[0] == name]:
            del state[collection][key]
    extras = state["clusters"].pop(name, None)
    if extras and extras.get("securityGroup"):
        from moto.ec2.models import ec2_backends

        try:
            ec2_backends[ACCOUNT][region].delete_security_group(group_id=extras["securityGroup"])
        except Exception:  # noqa: BLE001 - a group still in use stays, as in EKS
            pass
    return status, body


AFTER_MOTO = {
    "CreateCluster": on_create_cluster,
    "UpdateClusterConfig": on_update_cluster_config,
    "UpdateNodegroupConfig": on_update_nodegroup_config,
    "DeleteCluster": on_delete_cluster,
}
def before_create_cluster(region, state, params):
    """Checks the cluster's subnets as EKS does before it creates anything."""
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[ACCOUNT][region]
    zones = set()
    for subnet_id in params["resourcesVpcConfig"].get("subnetIds") or []:
        try:
            zones.add(ec2.get_subnet(subnet_id).availability_zone)
        except Exception:  # noqa: BLE001 - moto's InvalidSubnetIdError
            raise Refused(
                "InvalidParameterException",
                f"The subnet ID '{subnet_id}' does not exist (Service: AmazonEC2; Status Code: 400; "
                "Error Code: InvalidSubnetID.NotFound)",
                clusterName=params["name"],
            )
    # CreateCluster API reference, resourcesVpcConfig: subnets in at least two zones.
    if len(zones) < 2:
        raise Refused(
            "InvalidParameterException",
            "Subnets specified must be in at least two different AZs",
            clusterName=params["name"],
        )


BEFORE_MOTO = {
    "CreateCluster": before_create_cluster,
    "UpdateClusterConfig": before_update_cluster_config,
}

# --- the WSGI layer in front of moto's app -------------------------------------------------


def credential_scope(environ):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    found = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/aws4_request", auth)
    return (found.group(1), found.group(2)) if found else (None, None)


def json_answer(start_response, status, headers, body):
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error"}
    base = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(data))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response(f"{status} {reason.get(status, 'Error')}", base + list(headers.items()))
    return [data]


class Emulator:
    """Answers the EKS calls moto lacks and checks every EKS call; passes the rest on."""

    def __init__(self, moto_app):
        self.moto_app = moto_app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
            reset_state()
        region, service = credential_scope(environ)
        if service == "rds":
            teach_rds()
        if service != "eks":
            return self.moto_app(environ, start_response)
        return self.eks(environ, start_response, region)

    def eks(self, environ, start_response, region):
        method = environ["REQUEST_METHOD"]
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(environ.get("PATH_INFO", ""))
        raw_path = raw.split("?")[0]
        name, labels = match_route(method, raw_path)
        if name is None:
            return self.moto_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        operation = EKS.operation_model(name)
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        with LOCK:
            state = region_state(region)
            try:
                params = request_input(operation, labels, query, headers, body)
                if operation.input_shape is not None:
                    validate(operation.input_shape, params, "request")
                handler = HANDLERS.get(name)
                if name in TAG_HANDLERS and is_extension_arn(params.get("resourceArn", "")):
                    handler = TAG_HANDLERS[name]
                if handler is None and name in BEFORE_MOTO:
                    BEFORE_MOTO[name](region, state, params)
            except Refused as err:
                self.record(environ, body)
                return json_answer(start_response, *error_response(err))
            if handler is not None:
                self.record(environ, body)
                try:
                    answer = handler(region, state, params)
                except Refused as err:
                    return json_answer(start_response, *error_response(err))
                return json_answer(start_response, 200, {}, answer)
            status, moto_headers, moto_body = self.call_moto(environ)
            if status == 200 and name in AFTER_MOTO:
                document = json.loads(moto_body or b"{}")
                status, document = AFTER_MOTO[name](region, state, params, status, document)
                return json_answer(start_response, status, {}, document)
            if status == 200 and name in ("DescribeCluster",):
                return json_answer(start_response, status, {}, complete_cluster(state, json.loads(moto_body)))
            start_response(f"{status} {'OK' if status == 200 else 'Error'}", moto_headers)
            return [moto_body]

    def call_moto(self, environ):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = int(status.split(" ")[0])
            captured["headers"] = [(k, v) for k, v in headers if k.lower() != "content-length"]

        chunks = self.moto_app(environ, capture)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        headers = captured["headers"] + [("Content-Length", str(len(body)))]
        return captured["status"], headers, body

    @staticmethod
    def record(environ, body):
        recorder._record_request(Request(environ), body=body)


def main(argv):
    from moto import server

    original = server.DomainDispatcherApplication

    def wrapped(*args, **kwargs):
        return Emulator(original(*args, **kwargs))

    server.DomainDispatcherApplication = wrapped
    server.main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
