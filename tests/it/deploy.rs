//! The shipped deployment files are checked, not just written: every
//! kustomization renders, every object validates against the Kubernetes 1.30
//! and 1.37 schemas (offline, strict), the gatehouse configs inside the
//! ConfigMaps pass `gatehouse check-config`, the Envoy config passes
//! `envoy --mode validate`, and the Dockerfile keeps its guarantees.
//!
//! Tools come from `KUBECTL_BIN`, `KUBERNETES_VALIDATE_BIN` and `ENVOY_BIN`, or
//! the project's `.venv` (installed by scripts/test.sh); a missing tool fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_yaml_ng::Value;

const OVERLAYS: &[&str] =
    &["base", "central", "sidecar", "revocation", "http-check", "envoy-gateway", "istio", "monitoring"];
/// Examples for other namespaces (README snippets: each file is shown as
/// shipped), rendered and validated too.
const EXAMPLES: &[(&str, &[&str])] = &[
    ("examples/ingress-nginx", &["ingress.yaml"]),
    ("examples/traefik", &["middleware.yaml"]),
    ("examples/envoy-gateway", &["securitypolicy.yaml"]),
    ("examples/istio", &["authorizationpolicy.yaml", "mesh-config.yaml"]),
];
const SCHEMA_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];

fn repo() -> PathBuf {
    gatehouse_testkit::repo_root()
}

use gatehouse_testkit::pinned_tool as tool;

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn render(overlay: &str) -> String {
    let dir = repo().join("deploy/kubernetes").join(overlay);
    let output = run(Command::new(tool("KUBECTL_BIN", "kubectl")).arg("kustomize").arg(&dir));
    String::from_utf8(output.stdout).unwrap()
}

fn objects(rendered: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(rendered)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or("")
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

#[test]
fn every_kustomization_renders_and_validates_against_the_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let path = write(dir.path(), &format!("{overlay}.yaml"), &render(overlay));
        for version in SCHEMA_VERSIONS {
            run(Command::new(tool("KUBERNETES_VALIDATE_BIN", "kubernetes-validate"))
                .args(["--strict", "--quiet", "-k", version])
                .arg(&path));
        }
    }
}

#[test]
fn the_validator_does_reject_a_broken_object() {
    // Proves the check above can fail: an unknown field under strict validation.
    let dir = tempfile::tempdir().unwrap();
    let broken = render("base").replace("terminationGracePeriodSeconds: 30", "terminationGracePeriod: 30");
    let path = write(dir.path(), "broken.yaml", &broken);
    let output = Command::new(tool("KUBERNETES_VALIDATE_BIN", "kubernetes-validate"))
        .args(["--strict", "--quiet", "-k", "1.30.0"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success(), "an unknown field must fail strict validation");
}

#[test]
fn gatehouse_configs_in_config_maps_pass_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for overlay in OVERLAYS {
        for object in objects(&render(overlay)).iter().filter(|o| kind(o) == "ConfigMap") {
            let Some(config) = object["data"]["config.yaml"].as_str() else { continue };
            let path = write(dir.path(), &format!("{overlay}-config.yaml"), config);
            run(Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("check-config").arg("--config").arg(&path));
            checked += 1;
        }
    }
    assert_eq!(checked, OVERLAYS.len(), "every overlay ships a gatehouse config");
}

/// The `allowed_headers` patterns `check-config` prints for a gatehouse config.
fn patterns_printed_for(config: &Path) -> String {
    let output =
        run(Command::new(env!("CARGO_BIN_EXE_gatehouse")).arg("check-config").arg("--config").arg(config));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = stdout.lines().find_map(|l| l.split_once("allowed_headers: { patterns: ")).map(|(_, p)| p);
    line.and_then(|p| p.strip_suffix(" }"))
        .unwrap_or_else(|| panic!("no allowed_headers line in:\n{stdout}"))
        .to_owned()
}

/// The `allowed_headers` patterns an Envoy config ships with.
fn patterns_shipped_in(envoy_config: &str) -> &str {
    let line =
        envoy_config.lines().find(|l| l.trim_end().ends_with("# test:allowed_headers")).expect("marked line");
    let value = line.split_once("patterns: ").expect("a patterns line").1;
    value.split_once("  #").expect("the marker").0
}

/// Envoy sends gatehouse only what the gatehouse config deployed beside it
/// reads — exactly the list `check-config` prints for that overlay's config.
#[test]
fn shipped_envoy_configs_pass_the_headers_their_overlays_gatehouse_config_reads() {
    let dir = tempfile::tempdir().unwrap();
    for (template, overlay) in
        [("sidecar.yaml", "sidecar"), ("central.yaml", "central"), ("http-service.yaml", "http-check")]
    {
        let objects = objects(&render(overlay));
        let config =
            objects.iter().find_map(|o| o["data"]["config.yaml"].as_str()).expect("a gatehouse config");
        let printed = patterns_printed_for(&write(dir.path(), &format!("{overlay}.yaml"), config));
        assert!(printed.starts_with("[{ exact: authorization }"), "{printed}");
        let shipped = std::fs::read_to_string(repo().join("deploy/envoy").join(template)).unwrap();
        assert_eq!(patterns_shipped_in(&shipped), printed, "{template} beside the {overlay} overlay");
    }
}

#[test]
fn the_sidecar_envoy_config_map_is_the_tested_file_and_validates() {
    let dir = tempfile::tempdir().unwrap();
    let objects = objects(&render("sidecar"));
    let envoy = objects
        .iter()
        .find(|o| {
            kind(o) == "ConfigMap"
                && o["metadata"]["name"].as_str().is_some_and(|n| n.starts_with("envoy-sidecar"))
        })
        .expect("envoy-sidecar ConfigMap");
    let config = envoy["data"]["envoy.yaml"].as_str().unwrap();
    let shipped = std::fs::read_to_string(repo().join("deploy/envoy/sidecar.yaml")).unwrap();
    assert_eq!(config, shipped, "the pod mounts deploy/envoy/sidecar.yaml itself");
    let path = write(dir.path(), "envoy.yaml", config);
    run(Command::new(tool("ENVOY_BIN", "envoy"))
        .args(["--mode", "validate", "--log-level", "error", "-c"])
        .arg(&path));
    // The Deployment mounts that ConfigMap (with its hash suffix) where Envoy reads it.
    let deployment = objects.iter().find(|o| kind(o) == "Deployment").unwrap();
    let volumes = deployment["spec"]["template"]["spec"]["volumes"].as_sequence().unwrap();
    let name = envoy["metadata"]["name"].as_str().unwrap();
    assert!(volumes.iter().any(|v| v["configMap"]["name"].as_str() == Some(name)));
    sidecar_checks_over_a_socket_only_envoy_shares(deployment, config);
}

/// Envoy asks gatehouse over the Unix socket of the pod's config (the
/// shipped default cluster), in a volume only Envoy and gatehouse mount,
/// gatehouse running in Envoy's group (the socket is 0660).
fn sidecar_checks_over_a_socket_only_envoy_shares(deployment: &Value, envoy_config: &str) {
    let gatehouse_config =
        std::fs::read_to_string(repo().join("deploy/kubernetes/sidecar/config.yaml")).unwrap();
    let gatehouse_config: Value = serde_yaml_ng::from_str(&gatehouse_config).unwrap();
    let socket =
        gatehouse_config["server"]["grpc_addr"].as_str().unwrap().strip_prefix("unix:").expect("a socket");
    let envoy: Value = serde_yaml_ng::from_str(envoy_config).unwrap();
    let clusters = envoy["static_resources"]["clusters"].as_sequence().unwrap();
    let uds = clusters.iter().find(|c| c["name"] == "gatehouse_uds").unwrap();
    let pipe =
        &uds["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]["path"];
    assert_eq!(pipe.as_str(), Some(socket));
    assert!(
        envoy_config.contains("envoy_grpc: { cluster_name: gatehouse_uds }"),
        "the socket is the default"
    );
    let containers = deployment["spec"]["template"]["spec"]["containers"].as_sequence().unwrap();
    let dir = std::path::Path::new(socket).parent().unwrap().to_str().unwrap();
    let mounting: Vec<&str> = containers
        .iter()
        .filter(|c| {
            c["volumeMounts"]
                .as_sequence()
                .into_iter()
                .flatten()
                .any(|m| m["mountPath"].as_str() == Some(dir))
        })
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(mounting, ["envoy", "gatehouse"], "only Envoy and gatehouse see the socket");
    let group = |name: &str| {
        let c = containers.iter().find(|c| c["name"] == name).unwrap();
        c["securityContext"]["runAsGroup"].as_u64()
    };
    assert_eq!(group("gatehouse"), group("envoy"), "gatehouse runs in Envoy's group");
}

/// Every container is hardened, probed and bounded; pods drain in time;
/// gatehouse's pods are scraped.
#[test]
fn every_container_is_hardened_probed_and_bounded() {
    for overlay in OVERLAYS {
        let rendered = objects(&render(overlay));
        for workload in rendered.iter().filter(|o| matches!(kind(o), "Deployment" | "StatefulSet")) {
            let pod = &workload["spec"]["template"]["spec"];
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap_or(30);
            assert!(grace > 15, "{overlay}: grace period must exceed shutdown_delay + drain_timeout");
            assert_eq!(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault", "{overlay}");
            let containers = pod["containers"].as_sequence().unwrap();
            if containers.iter().any(|c| c["name"] == "gatehouse") {
                let annotations = &workload["spec"]["template"]["metadata"]["annotations"];
                assert_eq!(annotations["prometheus.io/scrape"], "true", "{overlay}");
            }
            for container in containers {
                let name = format!("{overlay}/{}", container["name"].as_str().unwrap());
                let security = &container["securityContext"];
                assert_eq!(security["runAsNonRoot"], true, "{name}");
                assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
                assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
                assert_eq!(security["capabilities"]["drop"][0], "ALL", "{name}");
                assert_eq!(security["seccompProfile"]["type"], "RuntimeDefault", "{name}");
                assert!(!container["readinessProbe"].is_null(), "{name}: readinessProbe");
                assert!(!container["livenessProbe"].is_null(), "{name}: livenessProbe");
                assert!(!container["resources"]["requests"].is_null(), "{name}: requests");
                assert!(!container["resources"]["limits"]["memory"].is_null(), "{name}: memory limit");
                if container["name"] == "gatehouse" {
                    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz", "{name}");
                }
            }
        }
    }
}

#[test]
fn central_is_highly_available_and_fenced() {
    let objects = objects(&render("central"));
    let of = |k: &str| objects.iter().find(|o| kind(o) == k).unwrap_or_else(|| panic!("no {k}"));
    assert!(of("Deployment")["spec"]["replicas"].as_u64().unwrap() >= 2);
    assert!(!of("Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"].is_null());
    assert!(of("HorizontalPodAutoscaler")["spec"]["minReplicas"].as_u64().unwrap() >= 2);
    assert_eq!(of("PodDisruptionBudget")["spec"]["minAvailable"], 1);
    let ingress = of("NetworkPolicy")["spec"]["ingress"].as_sequence().unwrap();
    let check_port = ingress.iter().find(|rule| rule["ports"][0]["port"] == 9001).unwrap();
    assert!(!check_port["from"][0]["podSelector"].is_null(), "only the gateway's pods reach 9001");
    let service = of("Service");
    let grpc = service["spec"]["ports"].as_sequence().unwrap().iter().find(|p| p["name"] == "grpc").unwrap();
    assert_eq!((grpc["port"].as_u64(), grpc["appProtocol"].as_str()), (Some(9001), Some("grpc")));
}

#[test]
fn revocation_keeps_redis_durable_and_fenced_and_the_admin_port_in_the_namespace() {
    let objects = objects(&render("revocation"));
    let named = |k: &str, name: &str| {
        objects
            .iter()
            .find(|o| kind(o) == k && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {k} {name}"))
    };
    // Redis acknowledges a write once it is in the append-only file, on a volume.
    let redis = named("StatefulSet", "gatehouse-redis");
    let container = &redis["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> =
        container["args"].as_sequence().unwrap().iter().filter_map(|a| a.as_str()).collect();
    for pair in [["--appendonly", "yes"], ["--appendfsync", "always"], ["--dir", "/data"]] {
        assert!(args.windows(2).any(|w| w == pair), "redis args {args:?} lack {pair:?}");
    }
    assert!(args.contains(&"--requirepass"), "redis asks for a password");
    assert_eq!(container["volumeMounts"][0]["mountPath"], "/data");
    redis_runs_durably_with(&args);
    assert_eq!(
        redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"],
        container["volumeMounts"][0]["name"]
    );

    // Only gatehouse pods reach Redis; only pods of the namespace reach the admin port.
    let to_redis = &named("NetworkPolicy", "gatehouse-redis")["spec"];
    assert_eq!(to_redis["podSelector"]["matchLabels"]["app.kubernetes.io/name"], "gatehouse-redis");
    let from = to_redis["ingress"].as_sequence().unwrap();
    assert_eq!(from.len(), 1);
    assert_eq!(from[0]["ports"][0]["port"], 6379);
    let peer = &from[0]["from"][0];
    assert!(peer["namespaceSelector"].is_null(), "no other namespace");
    assert_eq!(peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"], "authorizer");
    let admin = &named("NetworkPolicy", "gatehouse-admin")["spec"];
    let from = admin["ingress"].as_sequence().unwrap();
    assert_eq!((from.len(), &from[0]["ports"][0]["port"]), (1, &Value::from(9002)));
    assert!(from[0]["from"][0]["namespaceSelector"].is_null(), "the admin port stays in the namespace");
    for service in objects.iter().filter(|o| kind(o) == "Service") {
        let exposed = service["spec"]["type"].as_str().unwrap_or("ClusterIP");
        assert_eq!(exposed, "ClusterIP", "{}", service["metadata"]["name"].as_str().unwrap());
    }
    let main = named("Service", "gatehouse")["spec"]["ports"].as_sequence().unwrap().clone();
    assert!(main.iter().all(|p| p["port"] != 9002), "the admin port is not on the Check Service");

    // gatehouse is given what its config names.
    let deployment = objects.iter().find(|o| kind(o) == "Deployment").unwrap();
    let gatehouse = &deployment["spec"]["template"]["spec"]["containers"][0];
    let env: Vec<&str> =
        gatehouse["env"].as_sequence().unwrap().iter().filter_map(|e| e["name"].as_str()).collect();
    let config =
        objects.iter().find(|o| kind(o) == "ConfigMap").unwrap()["data"]["config.yaml"].as_str().unwrap();
    for name in ["GATEHOUSE_REDIS_URL", "GATEHOUSE_ADMIN_TOKEN"] {
        assert!(env.contains(&name) && config.contains(&format!("env: {name}")), "{name}");
    }
    let ports = gatehouse["ports"].as_sequence().unwrap();
    assert!(ports.iter().any(|p| p["name"] == "admin" && p["containerPort"] == 9002));
    assert!(config.contains("addr: 0.0.0.0:9002"));
}

/// The pinned Redis takes the manifest's arguments, asks for the password,
/// and still holds an acknowledged entry after a SIGKILL.
fn redis_runs_durably_with(args: &[&str]) {
    let password = "manifest-test-password";
    let args: Vec<String> = args.iter().map(|a| a.replace("$(REDIS_PASSWORD)", password)).collect();
    let mut redis = gatehouse_testkit::redis::Redis::start_with(&args, Some(password));
    let config = |name: &str| match redis.command(&["CONFIG", "GET", name]) {
        redis::Value::Array(pair) => redis::from_redis_value::<String>(pair[1].clone()).unwrap(),
        other => panic!("CONFIG GET {name}: {other:?}"),
    };
    assert_eq!((config("appendonly"), config("appendfsync")), ("yes".to_owned(), "always".to_owned()));
    let anonymous = redis::Client::open(format!("redis://{}", redis.addr)).unwrap();
    let refused = redis::cmd("XLEN").arg("s").query::<u64>(&mut anonymous.get_connection().unwrap());
    assert!(refused.is_err_and(|e| e.to_string().contains("NOAUTH")), "a password is required");
    redis.command(&["XADD", "s", "*", "entry", "{}"]);
    redis.kill();
    redis.restart();
    assert_eq!(redis.stream_len("s"), 1, "the acknowledged entry survived SIGKILL");
}

/// The ingress examples render and validate (Traefik's Middleware has no
/// published schema: its fields are checked here), point at gatehouse's
/// front doors, and are what the README shows.
#[test]
fn ingress_examples_validate_point_at_the_front_doors_and_are_in_the_readme() {
    let dir = tempfile::tempdir().unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for (example, files) in EXAMPLES {
        let path = write(dir.path(), &format!("{}.yaml", example.replace('/', "-")), &render(example));
        for version in SCHEMA_VERSIONS {
            run(Command::new(tool("KUBERNETES_VALIDATE_BIN", "kubernetes-validate"))
                .args(["--strict", "--quiet", "-k", version])
                .arg(&path));
        }
        for file in *files {
            let shipped =
                std::fs::read_to_string(repo().join("deploy/kubernetes").join(example).join(file)).unwrap();
            assert!(readme.contains(&shipped), "README shows {example}/{file} as shipped");
        }
    }
    let nginx = objects(&render("examples/ingress-nginx"));
    let ingress = nginx.iter().find(|o| kind(o) == "Ingress").unwrap();
    let annotations = &ingress["metadata"]["annotations"];
    let url = annotations["nginx.ingress.kubernetes.io/auth-url"].as_str().unwrap();
    assert!(url.ends_with(":9191/v1/check/nginx"), "{url}");
    let headers = nginx.iter().find(|o| kind(o) == "ConfigMap").unwrap();
    for name in ["X-Original-URI", "X-Original-Method", "X-Original-Host"] {
        assert!(headers["data"][name].as_str().is_some_and(|v| v.starts_with('$')), "{name}");
    }
    let reference = annotations["nginx.ingress.kubernetes.io/auth-proxy-set-headers"].as_str().unwrap();
    assert_eq!(reference, format!("orders/{}", headers["metadata"]["name"].as_str().unwrap()));

    let traefik = objects(&render("examples/traefik"));
    let forward =
        traefik.iter().find(|o| kind(o) == "Middleware" && !o["spec"]["forwardAuth"].is_null()).unwrap();
    let forward = &forward["spec"]["forwardAuth"];
    assert!(forward["address"].as_str().unwrap().ends_with(":9191/v1/check/traefik"));
    assert_eq!(forward["trustForwardHeader"], false, "Traefik sets X-Forwarded-* itself");
    assert_eq!(forward["authResponseHeadersRegex"], "^X-User-");
}

#[test]
fn dockerfile_builds_a_distroless_non_root_image() {
    // No container engine runs here; these are the properties the image must keep.
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let final_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(final_stage.starts_with("gcr.io/distroless/"), "final stage is distroless");
    assert!(final_stage.contains("USER nonroot"), "runs as non-root");
    assert!(final_stage.contains(r#"ENTRYPOINT ["gatehouse", "serve"]"#));
    assert!(final_stage.contains("GATEHOUSE_CONFIG=/etc/gatehouse/config.yaml"));
    assert!(!final_stage.contains("RUN "), "no shell in the final stage");
    let ignore = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(ignore.lines().next() == Some("# Only what the image build needs goes into the context."));
    assert!(ignore.contains("\n*\n") && ignore.contains("!src/"), "context is an allow-list");
}

/// The build stage sees only the files `.dockerignore` lets in, plus the
/// stubs its first `RUN` writes; Cargo must be able to load the manifest from
/// exactly those (every target Cargo.toml declares must exist).
#[test]
fn dockerfile_dependency_stage_loads_the_manifest() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    // Every bench the manifest declares needs its stub.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let sections = manifest.split("\n[").filter(|section| section.starts_with("[bench]]"));
    let names =
        sections.filter_map(|s| s.lines().find_map(|l| l.strip_prefix("name = \"")?.strip_suffix('"')));
    let benches: Vec<String> = names.map(|name| format!("benches/{name}.rs")).collect();
    assert!(!benches.is_empty(), "the manifest declares benches");
    let mut stubs = vec!["src/main.rs".to_owned(), "src/lib.rs".to_owned(), "testkit/src/lib.rs".to_owned()];
    stubs.extend(benches);
    for stub in &stubs {
        assert!(dockerfile.contains(&format!("> {stub}")), "the Dockerfile no longer writes {stub}");
    }
    let dir = tempfile::tempdir().unwrap();
    for file in ["Cargo.toml", "Cargo.lock", "build.rs", "testkit/Cargo.toml"] {
        assert!(
            dockerfile.contains(&format!("COPY {file} ")) || dockerfile.contains(&format!(" {file} ")),
            "{file}"
        );
        std::fs::create_dir_all(dir.path().join(file).parent().unwrap()).unwrap();
        std::fs::copy(repo().join(file), dir.path().join(file)).unwrap();
    }
    for stub in &stubs {
        std::fs::create_dir_all(dir.path().join(stub).parent().unwrap()).unwrap();
        write(dir.path(), stub, "fn main() {}\n");
    }
    // `--bin` names no target: Cargo stops right after loading the manifest
    // and resolving the lock file, before compiling anything.
    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--locked", "--bin", "no-such-target"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no bin target named"),
        "the manifest does not load in the build stage:\n{stderr}"
    );
}

/// The NetworkPolicy admitting Check calls (port 9001): (namespace, pod labels).
fn check_port_admits(objects: &[Value]) -> (String, Vec<(String, String)>) {
    let policy = objects.iter().find(|o| kind(o) == "NetworkPolicy").expect("a NetworkPolicy");
    let ingress = policy["spec"]["ingress"].as_sequence().unwrap();
    let rule = ingress.iter().find(|rule| rule["ports"][0]["port"] == 9001).expect("a rule for 9001");
    let from = &rule["from"][0];
    let namespace = from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as_str().unwrap();
    let labels = from["podSelector"]["matchLabels"].as_mapping().expect("a pod selector");
    let labels = labels.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_str().unwrap().to_owned()));
    (namespace.to_owned(), labels.collect())
}

/// Envoy Gateway's and Istio's overlays let in the pods those projects run
/// (the namespaces and labels their documentation gives), the examples name
/// gatehouse's Service and port, and nothing fails open.
#[test]
fn gateway_overlays_admit_the_pods_envoy_gateway_and_istio_run() {
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let envoy_gateway = objects(&render("envoy-gateway"));
    let (namespace, labels) = check_port_admits(&envoy_gateway);
    assert_eq!(namespace, "envoy-gateway-system");
    for label in [
        pair("app.kubernetes.io/name", "envoy"),
        pair("app.kubernetes.io/component", "proxy"),
        pair("app.kubernetes.io/managed-by", "envoy-gateway"),
    ] {
        assert!(labels.contains(&label), "{label:?} in {labels:?}");
    }
    let grant = envoy_gateway.iter().find(|o| kind(o) == "ReferenceGrant").expect("a ReferenceGrant");
    assert_eq!(grant["metadata"]["namespace"], "gatehouse");
    assert_eq!(grant["spec"]["to"][0]["name"], "gatehouse");
    assert_eq!(grant["spec"]["from"][0]["kind"], "SecurityPolicy");
    let policy = objects(&render("examples/envoy-gateway"));
    let ext_auth = &policy.iter().find(|o| kind(o) == "SecurityPolicy").unwrap()["spec"]["extAuth"];
    assert_eq!(ext_auth["failOpen"], false);
    let backend = &ext_auth["grpc"]["backendRefs"][0];
    assert_eq!(
        (backend["name"].as_str(), backend["namespace"].as_str()),
        (Some("gatehouse"), Some("gatehouse"))
    );
    assert_eq!(backend["port"], 9001);
    assert_eq!(grant["spec"]["from"][0]["namespace"], policy[0]["metadata"]["namespace"]);

    let istio = objects(&render("istio"));
    let (namespace, labels) = check_port_admits(&istio);
    assert_eq!((namespace.as_str(), labels), ("istio-system", vec![pair("istio", "ingressgateway")]));
    let example = objects(&render("examples/istio"));
    let authz = example.iter().find(|o| kind(o) == "AuthorizationPolicy").unwrap();
    assert_eq!(authz["metadata"]["namespace"], "istio-system");
    assert_eq!(authz["spec"]["selector"]["matchLabels"]["istio"], "ingressgateway");
    assert_eq!(
        (authz["spec"]["action"].as_str(), authz["spec"]["provider"]["name"].as_str()),
        (Some("CUSTOM"), Some("gatehouse"))
    );
    let mesh =
        std::fs::read_to_string(repo().join("deploy/kubernetes/examples/istio/mesh-config.yaml")).unwrap();
    let mesh: Value = serde_yaml_ng::from_str(&mesh).unwrap();
    let provider = &mesh["meshConfig"]["extensionProviders"][0];
    assert_eq!(provider["name"], "gatehouse");
    let grpc = &provider["envoyExtAuthzGrpc"];
    assert_eq!(grpc["service"], "gatehouse.gatehouse.svc.cluster.local");
    assert_eq!((grpc["port"].as_u64(), grpc["failOpen"].as_bool()), (Some(9001), Some(false)));
    let service = istio.iter().find(|o| kind(o) == "Service").unwrap();
    assert_eq!(
        (service["metadata"]["name"].as_str(), service["metadata"]["namespace"].as_str()),
        (Some("gatehouse"), Some("gatehouse"))
    );
}

/// The image carries the OCI annotation labels (it cannot be built here:
/// no registry is reachable to pull a base image).
#[test]
fn dockerfile_labels_the_image_with_oci_annotations() {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).unwrap();
    let final_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    for key in ["title", "description", "version", "revision", "created", "licenses", "source", "base.name"] {
        assert!(final_stage.contains(&format!("org.opencontainers.image.{key}=")), "{key}");
    }
    assert!(dockerfile.contains("GATEHOUSE_GIT_REVISION=\"${REVISION}\""), "the binary knows its revision");
}
