//! The RDS for PostgreSQL catalogue that moto lacks, answered in front of moto.
//!
//! moto answers `DescribeDBEngineVersions` with an HTTP 500 and
//! `DescribeOrderableDBInstanceOptions` for `postgres` with an empty list, so the
//! binary's pre-flight checks (which refuse a plan whose database RDS could not create)
//! would refuse every database. [`RdsCatalogue`] sits between the caller and moto and
//! answers those two reads for the `postgres` engine from a small catalogue modelled on
//! what RDS offers in us-west-2 (the versions and classes the tests use, and a few they
//! use to be refused); every other request goes to moto untouched. The answers are
//! read-only, so moto's recorder misses nothing that could change state; the catalogue
//! counts what it answered ([`RdsCatalogue::answered`]).

use std::io::BufReader;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use super::proxy::wire::{self, Request, Response};

const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// PostgreSQL versions RDS offers, in this catalogue.
pub const ENGINE_VERSIONS: [&str; 6] = ["15.8", "16.3", "16.4", "16.6", "17.2", "17.4"];

/// Classes orderable as a Multi-AZ DB cluster (and as a Multi-AZ DB instance).
const CLUSTER_CLASSES: [&str; 8] = [
    "db.m5d.large",
    "db.m5d.xlarge",
    "db.m5d.2xlarge",
    "db.m5d.4xlarge",
    "db.m6gd.large",
    "db.m6gd.xlarge",
    "db.r6gd.large",
    "db.r6gd.xlarge",
];

/// Classes orderable only as a (Multi-AZ) DB instance.
const INSTANCE_CLASSES: [&str; 6] = [
    "db.t3.medium",
    "db.m5.large",
    "db.m5.xlarge",
    "db.m6g.large",
    "db.r6g.large",
    "db.r6g.xlarge",
];

/// One orderable option: storage type, GiB range, IOPS range.
struct StorageOption {
    storage_type: &'static str,
    storage: (u32, u32),
    iops: Option<(u32, u32)>,
}

const CLUSTER_STORAGE: [StorageOption; 3] = [
    StorageOption {
        storage_type: "io1",
        storage: (100, 65536),
        iops: Some((1000, 256_000)),
    },
    StorageOption {
        storage_type: "io2",
        storage: (100, 65536),
        iops: Some((1000, 256_000)),
    },
    StorageOption {
        storage_type: "gp3",
        storage: (20, 65536),
        iops: None,
    },
];

const INSTANCE_STORAGE: [StorageOption; 4] = [
    StorageOption {
        storage_type: "gp2",
        storage: (20, 65536),
        iops: None,
    },
    StorageOption {
        storage_type: "gp3",
        storage: (20, 65536),
        iops: None,
    },
    StorageOption {
        storage_type: "io1",
        storage: (100, 65536),
        iops: Some((1000, 256_000)),
    },
    StorageOption {
        storage_type: "io2",
        storage: (100, 65536),
        iops: Some((1000, 256_000)),
    },
];

/// The catalogue in front of one upstream (moto); stops when dropped.
pub struct RdsCatalogue {
    addr: SocketAddr,
    answered: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl RdsCatalogue {
    /// Listens on a free loopback port and forwards what it does not answer to `upstream`.
    pub fn in_front_of(upstream: SocketAddr) -> RdsCatalogue {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the RDS catalogue");
        let addr = listener.local_addr().expect("the catalogue's address");
        let answered = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (answered, stop) = (answered.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let answered = answered.clone();
                    std::thread::spawn(move || serve(stream, upstream, &answered));
                }
            })
        };
        RdsCatalogue {
            addr,
            answered,
            stop,
            accept: Some(accept),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many catalogue reads it answered itself.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

impl Drop for RdsCatalogue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, upstream: SocketAddr, answered: &AtomicU64) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(Some(request)) = wire::read_request(&mut reader, &mut writer) {
        let response = match catalogue_answer(&request) {
            Some(response) => {
                answered.fetch_add(1, Ordering::Relaxed);
                response
            }
            None => wire::send(upstream, &request, UPSTREAM_TIMEOUT).unwrap_or_else(|err| {
                Response::new(
                    502,
                    Vec::new(),
                    format!("RDS catalogue: moto did not answer: {err}").into_bytes(),
                )
            }),
        };
        if response
            .write_to(&mut writer, request.method == "HEAD")
            .is_err()
            || !request.keep_alive()
        {
            break;
        }
    }
}

/// The form parameters of a query-protocol request to RDS, or `None` for anything else.
fn rds_query(request: &Request) -> Option<Vec<(String, String)>> {
    let is_rds = request
        .header("authorization")
        .is_some_and(|a| a.contains("/rds/aws4_request"));
    if !is_rds || request.method != "POST" {
        return None;
    }
    let body = String::from_utf8_lossy(&request.body);
    Some(
        body.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    super::moto::percent_decode(key),
                    super::moto::percent_decode(value),
                )
            })
            .collect(),
    )
}

fn catalogue_answer(request: &Request) -> Option<Response> {
    let params = rds_query(request)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("Engine") != Some("postgres") {
        return None;
    }
    match param("Action")? {
        "DescribeDBEngineVersions" => Some(engine_versions(
            param("EngineVersion"),
            param("DBParameterGroupFamily"),
        )),
        "DescribeOrderableDBInstanceOptions" => Some(orderable_options(
            param("EngineVersion"),
            param("DBInstanceClass"),
        )),
        _ => None,
    }
}

fn family(version: &str) -> String {
    format!("postgres{}", version.split('.').next().unwrap_or(version))
}

fn xml_response(action: &str, result: &str) -> Response {
    static REQUESTS: OnceLock<AtomicU64> = OnceLock::new();
    let n = REQUESTS
        .get_or_init(|| AtomicU64::new(0))
        .fetch_add(1, Ordering::Relaxed);
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<{action}Response xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
  <{action}Result>{result}</{action}Result>
  <ResponseMetadata><RequestId>rds-catalogue-{n}</RequestId></ResponseMetadata>
</{action}Response>"#
    );
    Response::new(
        200,
        vec![("Content-Type".to_owned(), "text/xml".to_owned())],
        body.into_bytes(),
    )
}

fn engine_versions(version: Option<&str>, family_filter: Option<&str>) -> Response {
    let items: String = ENGINE_VERSIONS
        .iter()
        .filter(|v| version.is_none_or(|want| want == **v))
        .filter(|v| family_filter.is_none_or(|want| want == family(v)))
        .map(|v| {
            format!(
                "<DBEngineVersion><Engine>postgres</Engine><EngineVersion>{v}</EngineVersion>\
                 <DBParameterGroupFamily>{}</DBParameterGroupFamily><Status>available</Status>\
                 </DBEngineVersion>",
                family(v)
            )
        })
        .collect();
    xml_response(
        "DescribeDBEngineVersions",
        &format!("<DBEngineVersions>{items}</DBEngineVersions>"),
    )
}

fn orderable_options(version: Option<&str>, class: Option<&str>) -> Response {
    let mut items = String::new();
    let versions = ENGINE_VERSIONS
        .iter()
        .filter(|v| version.is_none_or(|want| want == **v));
    for v in versions {
        let classes = CLUSTER_CLASSES
            .iter()
            .map(|c| (c, true, &CLUSTER_STORAGE[..]))
            .chain(
                INSTANCE_CLASSES
                    .iter()
                    .map(|c| (c, false, &INSTANCE_STORAGE[..])),
            );
        for (c, clusters, storage) in classes {
            if class.is_some_and(|want| want != *c) {
                continue;
            }
            for option in storage {
                let iops = option.iops.map_or_else(String::new, |(min, max)| {
                    format!(
                        "<MinIopsPerDbInstance>{min}</MinIopsPerDbInstance>\
                         <MaxIopsPerDbInstance>{max}</MaxIopsPerDbInstance>"
                    )
                });
                items.push_str(&format!(
                    "<OrderableDBInstanceOption><Engine>postgres</Engine>\
                     <EngineVersion>{v}</EngineVersion><DBInstanceClass>{c}</DBInstanceClass>\
                     <MultiAZCapable>true</MultiAZCapable><SupportsClusters>{clusters}</SupportsClusters>\
                     <Vpc>true</Vpc><SupportsStorageEncryption>true</SupportsStorageEncryption>\
                     <StorageType>{}</StorageType><MinStorageSize>{}</MinStorageSize>\
                     <MaxStorageSize>{}</MaxStorageSize>{iops}</OrderableDBInstanceOption>",
                    option.storage_type, option.storage.0, option.storage.1
                ));
            }
        }
    }
    xml_response(
        "DescribeOrderableDBInstanceOptions",
        &format!("<OrderableDBInstanceOptions>{items}</OrderableDBInstanceOptions>"),
    )
}
