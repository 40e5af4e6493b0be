#!/usr/bin/env python3
"""Writes operations.json: the Admin API operations bpa-infra calls, cut from MongoDB's
OpenAPI spec with their parameters, request media types and required body fields, and
responses (media types with x-sunset, statuses, error bodies).

Usage: extract.py ATLAS_API_TRANSFORMED_YAML > operations.json

The input is `openapi/atlas-api-transformed.yaml` of `mongodb/atlas-sdk-go`. That file
keeps one version per operation, so listClusters' older versions and their sunsets are
added from `openapi/v2.yaml` of `mongodb/openapi` (LIST_CLUSTERS_VERSIONS below).
"""
import json
import sys

import yaml

OPERATIONS = [
    "listPrivateEndpointService",
    "getPrivateEndpointService",
    "createPrivateEndpointService",
    "deletePrivateEndpointService",
    "getPrivateEndpoint",
    "createPrivateEndpoint",
    "deletePrivateEndpoint",
    "listClusters",
]
# mongodb/openapi openapi/v2.yaml, listClusters, responses.200.content.
LIST_CLUSTERS_VERSIONS = {
    "application/vnd.atlas.2023-01-01+json": {"x-sunset": "2026-11-30"},
    "application/vnd.atlas.2023-02-01+json": {"x-sunset": "2026-03-01"},
    "application/vnd.atlas.2024-08-05+json": {"x-sunset": None},
}


def node_ref(ref):
    return ref.lstrip("#/").split("/")


def deref(spec, node):
    if isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node_ref(node["$ref"]):
            target = target[part]
        return deref(spec, target)
    return node


def schema_required(spec, schema, provider="AWS"):
    schema = deref(spec, schema or {})
    required = list(schema.get("required", []))
    mapping = schema.get("x-xgen-discriminator", {}).get("mapping", {})
    required += mapping.get(provider, {}).get("required", [])
    return sorted(set(required))


def main(path):
    spec = yaml.safe_load(open(path))
    out = []
    for route, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or op.get("operationId") not in OPERATIONS:
                continue
            params = []
            for p in op.get("parameters", []):
                p = deref(spec, p)
                s = p.get("schema", {})
                params.append({
                    "name": p["name"],
                    "in": p["in"],
                    "required": bool(p.get("required")),
                    "schema": {k: s[k] for k in ("type", "pattern", "enum", "minimum", "maximum") if k in s},
                })
            body = None
            if "requestBody" in op:
                rb = op["requestBody"]
                body = {
                    "required": bool(rb.get("required")),
                    "content": {
                        mt: {"required": schema_required(spec, c.get("schema"))}
                        for mt, c in rb["content"].items()
                    },
                }
            responses = {}
            for status, r in op["responses"].items():
                r = deref(spec, r)
                responses[status] = {
                    "content": {
                        mt: {"x-sunset": (str(c["x-sunset"]) if c.get("x-sunset") else None)}
                        for mt, c in (r.get("content") or {}).items()
                    },
                    "example": next(
                        (c.get("example") for c in (r.get("content") or {}).values() if c.get("example")),
                        None,
                    ),
                }
            if op["operationId"] == "listClusters":
                responses["200"]["content"] = LIST_CLUSTERS_VERSIONS
            out.append({
                "operationId": op["operationId"],
                "method": method.upper(),
                "path": route,
                "description": op.get("description", "").split("\n")[0],
                "parameters": params,
                "requestBody": body,
                "responses": responses,
            })
    out.sort(key=lambda o: OPERATIONS.index(o["operationId"]))
    components = {
        name: deref(spec, r).get("content", {}).get("application/json", {}).get("example")
        for name, r in spec["components"]["responses"].items()
    }
    headers = spec["components"]["headers"]
    json.dump({
        "source": {
            "mongodb/atlas-sdk-go": {
                "path": "openapi/atlas-api-transformed.yaml",
                "commit": "68a9d51c470a255f82f2c50e3126e9a40c1560e2",
                "date": "2026-08-18",
            },
            "mongodb/openapi": {
                "path": "openapi/v2.yaml",
                "commit": "0002f827310d9c43cb0e37d95fafef88c74f8b2a",
                "used_for": "listClusters 200 content: every version and its x-sunset",
            },
        },
        "operations": out,
        "errorResponses": components,
        "headers": {"Retry-After": headers["HeaderRetryAfter"]["description"]},
    }, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
