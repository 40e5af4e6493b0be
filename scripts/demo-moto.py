"""moto's server with the RDS for PostgreSQL catalogue moto lacks, for scripts/demo.

moto answers DescribeDBEngineVersions with an HTTP 500 and DescribeOrderableDBInstanceOptions
for `postgres` with an empty list, so bpa-infra's pre-flight checks would (rightly) refuse
every database of a plan. This launcher teaches moto a small catalogue modelled on what
RDS offers in us-west-2 (the integration tests answer the same two reads in front of moto:
tests/it/support/rds_catalogue.rs), then runs moto's server with the arguments given.

    python3 scripts/demo-moto.py -H 127.0.0.1 -p 5000
"""

import sys

from moto.core.responses import ActionResult
from moto.rds.models import RDSBackend
from moto.rds.responses import RDSResponse
from moto.server import main

ENGINE_VERSIONS = ["15.8", "16.3", "16.4", "16.6", "17.2", "17.4"]

# Classes orderable as a Multi-AZ DB cluster (and as a Multi-AZ DB instance), and those
# orderable only as a DB instance.
CLUSTER_CLASSES = ["db.m5d.large", "db.m5d.xlarge", "db.m6gd.large", "db.r6gd.large"]
INSTANCE_CLASSES = ["db.t3.medium", "db.m5.large", "db.m6g.large", "db.r6g.large"]

# (storage type, GiB min, GiB max, IOPS range or None)
CLUSTER_STORAGE = [
    ("io1", 100, 65536, (1000, 256000)),
    ("io2", 100, 65536, (1000, 256000)),
    ("gp3", 20, 65536, None),
]
INSTANCE_STORAGE = [("gp2", 20, 65536, None)] + CLUSTER_STORAGE


def family(version):
    return "postgres" + version.split(".")[0]


def describe_db_engine_versions(self):
    if self.params.get("Engine") != "postgres":
        return _not_implemented(self)
    want_version = self.params.get("EngineVersion")
    want_family = self.params.get("DBParameterGroupFamily")
    versions = [
        {
            "Engine": "postgres",
            "EngineVersion": v,
            "DBParameterGroupFamily": family(v),
            "Status": "available",
        }
        for v in ENGINE_VERSIONS
        if want_version in (None, v) and want_family in (None, family(v))
    ]
    return ActionResult({"DBEngineVersions": versions})


def _not_implemented(self):
    raise NotImplementedError("DescribeDBEngineVersions is only answered for postgres")


_original_orderable = RDSBackend.describe_orderable_db_instance_options


def describe_orderable_db_instance_options(self, engine, engine_version):
    if engine != "postgres":
        return _original_orderable(self, engine, engine_version)
    options = []
    for version in ENGINE_VERSIONS:
        if engine_version not in (None, version):
            continue
        classes = [(c, True, CLUSTER_STORAGE) for c in CLUSTER_CLASSES]
        classes += [(c, False, INSTANCE_STORAGE) for c in INSTANCE_CLASSES]
        for instance_class, clusters, storage in classes:
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
    return options


RDSResponse.describe_db_engine_versions = describe_db_engine_versions
RDSBackend.describe_orderable_db_instance_options = describe_orderable_db_instance_options

if __name__ == "__main__":
    main(sys.argv[1:])
