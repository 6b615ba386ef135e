"""Static checks of the real-lab provisioning files (no VM needed).

Covers provisioning/versions.env and cilab.versions, the Helm value layers against the
chart's key list, the kubeadm templates as the scripts render them, the Vagrantfile as
Vagrant would evaluate it (with a recording stand-in for the Vagrant API, run by `ruby`),
the lab CA and token the Vagrantfile generates, the provisioning scripts and the nightly
workflow.  Tests that need `ruby`, `bash` or `openssl` skip when the tool is missing;
tools/static_checks.sh installs them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cilab.errors import ConfigError
from cilab.versions import VERSIONS_FILE, Versions, load_versions, read_defaults

ROOT = Path(__file__).resolve().parents[2]
PROV = ROOT / "provisioning"
HELM_DIR = PROV / "helm"
SCRIPTS = PROV / "scripts"
KUBEADM = PROV / "kubeadm"
CHART_KEYS = ROOT / "data" / "chart-keys" / "cilium-1.17.6.txt"
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
RUBY_LIB = PROV / "lib" / "cilab_lab.rb"

HTTP_V2 = (
    "httpV2:exemplars=true;labelsContext=source_ip,source_namespace,source_workload,"
    "destination_ip,destination_namespace,destination_workload,traffic_direction"
)
LABELS_CONTEXT = [
    "source_ip",
    "source_namespace",
    "source_workload",
    "destination_ip",
    "destination_namespace",
    "destination_workload",
    "traffic_direction",
]

needs_ruby = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed")
needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="openssl is not installed"
)


# ---- helpers ----


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Dotted paths of a values mapping; lists, scalars and empty maps are leaves."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, tree


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text("utf-8"))


def chart_keys() -> tuple[set[str], set[str]]:
    exact, wildcard = set(), set()
    for raw in CHART_KEYS.read_text("utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith(".*"):
            wildcard.add(line[:-2])
        else:
            exact.add(line)
    return exact, wildcard


def key_is_valid(key: str, exact: set[str], wildcard: set[str]) -> bool:
    if key in exact:
        return True
    parts = key.split(".")
    return any(".".join(parts[:i]) in wildcard for i in range(1, len(parts)))


def get(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        node = node[part]
    return node


def helm_merge(base: Any, layer: Any) -> Any:
    """Helm's -f merge: maps merge key by key, everything else (lists too) is replaced."""
    if isinstance(base, dict) and isinstance(layer, dict):
        merged = dict(base)
        for key, value in layer.items():
            merged[key] = helm_merge(base.get(key), value)
        return merged
    return layer


def script_lines(path: Path) -> list[str]:
    return path.read_text("utf-8").splitlines()


def shell_calls(path: Path, function: str) -> list[list[str]]:
    """Arguments of each call of a shell function, joining backslash-continued lines."""
    text = path.read_text("utf-8").replace("\\\n", " ")
    calls = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith(function + " "):
            calls.append(stripped.split()[1:])
    return calls


# ---- Helm layers ----

HELM_FILES = sorted(HELM_DIR.glob("*.yaml"))


def test_helm_layers_exist() -> None:
    assert {p.name for p in HELM_FILES} >= {"base.yaml", "hubble.yaml", "redaction.yaml"}


@pytest.mark.parametrize("path", HELM_FILES, ids=lambda p: p.name)
def test_every_helm_key_exists_in_the_chart(path: Path) -> None:
    exact, wildcard = chart_keys()
    unknown = [key for key, _ in flatten(load_yaml(path)) if not key_is_valid(key, exact, wildcard)]
    assert not unknown, f"{path.name}: keys not in {CHART_KEYS.name}: {unknown}"


def test_chart_key_list_names_its_source_and_has_the_keys_the_lab_needs() -> None:
    text = CHART_KEYS.read_text("utf-8")
    assert "chart cilium 1.17.6" in text
    assert "cilium/cilium-cli@e694be34c47899284f16280b9d23ce5bbeb7ccd6" in text
    exact, _ = chart_keys()
    assert len(exact) > 900
    # fileMaxSizeMb sits under hubble.export, not under hubble.export.static.
    assert "hubble.export.fileMaxSizeMb" in exact
    assert "hubble.export.static.fileMaxSizeMb" not in exact
    # Commented out in values.yaml, read by the templates.
    assert "kubeProxyReplacement" in exact
    assert "hubble.redact.http.urlQuery" in exact
    # Removed options that templates/validate.yaml rejects are not valid keys.
    assert "tunnel" not in exact


def test_base_stage_values() -> None:
    base = load_yaml(HELM_DIR / "base.yaml")
    defaults = load_versions({})
    assert get(base, "hubble.enabled") is False
    assert get(base, "operator.replicas") == 1
    assert base["kubeProxyReplacement"] is True
    assert base["k8sServiceHost"] == defaults.ctr_ip
    assert base["k8sServicePort"] == 6443
    assert base["routingMode"] == "native"
    assert base["autoDirectNodeRoutes"] is True
    assert base["ipv4NativeRoutingCIDR"] == defaults.cilium_pod_cidr
    assert get(base, "ipam.mode") == "cluster-pool"
    assert get(base, "ipam.operator.clusterPoolIPv4PodCIDRList") == [defaults.cilium_pod_cidr]
    assert get(base, "bpf.masquerade") is True
    assert get(base, "endpointHealthChecking.enabled") is False
    assert base["healthChecking"] is False
    assert base["installNoConntrackIptablesRules"] is True
    assert get(base, "endpointRoutes.enabled") is True
    assert get(base, "debug.enabled") is True


def test_base_has_the_exact_lines_k8s_ctr_sh_checks() -> None:
    # k8s-ctr.sh greps these lines to refuse a base.yaml that disagrees with versions.env.
    defaults = load_versions({})
    lines = (HELM_DIR / "base.yaml").read_text("utf-8").splitlines()
    assert f"k8sServiceHost: {defaults.ctr_ip}" in lines
    assert f"ipv4NativeRoutingCIDR: {defaults.cilium_pod_cidr}" in lines
    assert f"      - {defaults.cilium_pod_cidr}" in lines
    ctr = (SCRIPTS / "k8s-ctr.sh").read_text("utf-8")
    assert 'grep -qx "k8sServiceHost: ${CTR_IP}"' in ctr
    assert 'grep -qx "ipv4NativeRoutingCIDR: ${CILIUM_POD_CIDR}"' in ctr
    assert 'grep -qx "      - ${CILIUM_POD_CIDR}"' in ctr


def test_hubble_layer_values() -> None:
    hubble = load_yaml(HELM_DIR / "hubble.yaml")
    assert get(hubble, "hubble.enabled") is True
    assert get(hubble, "hubble.relay.enabled") is True
    assert get(hubble, "hubble.ui.enabled") is True
    assert get(hubble, "hubble.ui.service.type") == "NodePort"
    assert get(hubble, "hubble.ui.service.nodePort") == 31234
    assert get(hubble, "hubble.export.static.enabled") is True
    assert get(hubble, "hubble.export.static.filePath") == "/var/run/cilium/hubble/events.log"
    assert "fileMaxSizeMb" not in get(hubble, "hubble.export.static")
    assert get(hubble, "prometheus.enabled") is True
    assert get(hubble, "operator.prometheus.enabled") is True
    assert get(hubble, "hubble.metrics.enableOpenMetrics") is True
    metrics = get(hubble, "hubble.metrics.enabled")
    assert metrics == ["dns", "drop", "tcp", "flow", "port-distribution", "icmp", HTTP_V2]
    http = [m for m in metrics if m.startswith("httpV2:")]
    assert len(http) == 1
    options = dict(part.split("=", 1) for part in http[0].split(":", 1)[1].split(";"))
    assert options["exemplars"] == "true"
    assert options["labelsContext"].split(",") == LABELS_CONTEXT
    assert "\\" not in http[0]


def test_redaction_layer_uses_chart_values_not_extra_args() -> None:
    redaction = load_yaml(HELM_DIR / "redaction.yaml")
    assert get(redaction, "hubble.redact.enabled") is True
    assert get(redaction, "hubble.redact.http.urlQuery") is True
    assert "extraArgs" not in redaction
    # The agents read cilium-config only at start: the layer must roll them (the seed's
    # extraArgs did so by changing the pod template).
    assert redaction.get("rollOutCiliumPods") is True


def test_layers_merge_like_helm() -> None:
    base, hubble, redaction = (
        load_yaml(HELM_DIR / f"{n}.yaml") for n in ("base", "hubble", "redaction")
    )
    merged = helm_merge(helm_merge(base, hubble), redaction)
    assert get(merged, "hubble.enabled") is True
    assert get(merged, "operator.replicas") == 1  # kept from base
    assert get(merged, "operator.prometheus.enabled") is True
    assert get(merged, "hubble.ui.service.nodePort") == 31234  # kept from hubble
    assert get(merged, "hubble.redact.http.urlQuery") is True
    assert merged["k8sServiceHost"] == base["k8sServiceHost"]


# ---- versions.env and cilab.versions ----


def test_versions_file_is_found_relative_to_the_package() -> None:
    assert VERSIONS_FILE == PROV / "versions.env"


def test_every_line_is_overridable_and_matches_the_dataclass() -> None:
    defaults = read_defaults()
    fields = {name.upper() for name in Versions.__dataclass_fields__}
    assert set(defaults) == fields
    for raw in VERSIONS_FILE.read_text("utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key = line.split("=", 1)[0]
            assert line.startswith(f"{key}=${{{key}:-"), line


def test_versions_env_defaults_equal_load_versions() -> None:
    defaults = read_defaults()
    versions = load_versions({})
    for key, value in defaults.items():
        assert str(getattr(versions, key.lower())) == value, key


def test_pinned_values() -> None:
    v = load_versions({})
    assert v.kubernetes_version == "1.33.2"
    assert v.kubernetes_pkg_version == "1.33.2-1.1"
    assert v.kubernetes_minor == "1.33"
    assert v.containerd_version == "1.7.27"
    assert v.containerd_pkg_version == "1.7.27-1"
    assert v.cilium_version == "1.17.6"
    assert (v.cilium_cli_version, v.hubble_cli_version, v.helm_version) == (
        "0.18.6",
        "1.17.5",
        "3.18.4",
    )
    assert v.helm_sha256_amd64 == "f8180838c23d7c7d797b208861fecb591d9ce1690d8704ed1e4cb8e2add966c1"
    assert v.box_for("virtualbox") == ("bento/ubuntu-24.04", "202502.21.0")
    assert v.box_for("libvirt") == ("bento/ubuntu-24.04", "202510.26.0")
    assert v.worker_count == 2
    assert v.node_ips == {
        "k8s-ctr": "192.168.10.100",
        "k8s-w1": "192.168.10.101",
        "k8s-w2": "192.168.10.102",
    }
    assert (v.ctr_cpus, v.ctr_memory_mb, v.worker_cpus, v.worker_memory_mb) == (2, 2048, 2, 1536)
    assert (v.pod_cidr, v.service_cidr, v.cilium_pod_cidr) == (
        "10.244.0.0/16",
        "10.96.0.0/16",
        "172.20.0.0/16",
    )
    assert v.bootstrap_token_ttl not in ("0", "0s")


def test_load_versions_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CILIUM_VERSION", "1.17.17")
    assert load_versions().cilium_version == "1.17.17"


def test_environment_overrides() -> None:
    v = load_versions(
        {
            "CILIUM_VERSION": "1.18.0-rc.1",
            "WORKER_COUNT": "3",
            "KUBERNETES_VERSION": "1.33.5",
            "CONTAINERD_PKG_REVISION": "1~ubuntu.24.04~noble",
            "UNRELATED": "x",
            "CILAB_SOMETHING": "y",
        }
    )
    assert v.cilium_version == "1.18.0-rc.1"
    assert v.worker_count == 3
    assert v.kubernetes_pkg_version == "1.33.5-1.1"
    assert v.containerd_pkg_version == "1.7.27-1~ubuntu.24.04~noble"
    assert v.node_ips["k8s-w3"] == "192.168.10.103"


def test_empty_override_means_unset() -> None:
    assert load_versions({"CILIUM_VERSION": ""}).cilium_version == "1.17.6"


@pytest.mark.parametrize(
    "key,value",
    [
        ("KUBERNETES_VERSION", "1.33"),
        ("KUBERNETES_VERSION", "latest"),
        ("KUBERNETES_VERSION", "v1.33.2"),
        ("CILIUM_VERSION", "abc"),
        ("CILIUM_VERSION", "1.17"),
        ("HELM_VERSION", "3.18"),
        ("WORKER_COUNT", "0"),
        ("WORKER_COUNT", "x"),
        ("WORKER_COUNT", "-1"),
        ("HELM_SHA256_AMD64", "abc"),
        ("CTR_IP", "192.168.10.300"),
        ("CTR_IP", "10.0.0.5"),
        ("CTR_IP", "192.168.10.101"),
        ("POD_CIDR", "10.244.0.1/16"),
        ("SERVICE_CIDR", "172.20.0.0/24"),
        ("BOOTSTRAP_TOKEN_TTL", "0s"),
        ("BOOTSTRAP_TOKEN_TTL", "forever"),
        ("BOX_VERSION_LIBVIRT", "latest"),
    ],
)
def test_malformed_override_raises_config_error(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_versions({key: value})
    message = str(info.value)
    assert "\n" not in message
    assert key in message and repr(value) in message and "expected" in message


def test_as_properties() -> None:
    props = load_versions({"CILIUM_VERSION": "1.17.17"}).as_properties()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in props.items())
    assert props["CILIUM_VERSION"] == "1.17.17"
    assert props["KUBERNETES_PKG_VERSION"] == "1.33.2-1.1"
    assert props["WORKER_COUNT"] == "2"
    assert set(read_defaults()) <= set(props)


def test_shell_sourcing_gives_the_same_values() -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CILIUM_VERSION": "1.17.17",
        "WORKER_COUNT": "",
    }
    script = f"set -eu; set -a; . '{VERSIONS_FILE}'; set +a; env -0"
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, check=True).stdout
    shell_env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    expected = load_versions({"CILIUM_VERSION": "1.17.17", "WORKER_COUNT": ""}).as_properties()
    for key in read_defaults():
        assert shell_env[key] == expected[key], key


@needs_ruby
@pytest.mark.parametrize(
    "env",
    [
        {},
        {"CILIUM_VERSION": "1.17.17", "WORKER_COUNT": "3", "CTR_IP": "192.168.10.50"},
        {"NODE_IP_PREFIX": "192.168.56", "CTR_IP": "192.168.56.10", "TIMEZONE": "Asia/Seoul"},
    ],
)
def test_ruby_reader_agrees_with_python(env: dict[str, str]) -> None:
    result = ruby_versions(env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = load_versions(env)
    for key, value in data["values"].items():
        assert value == str(getattr(expected, key.lower())), key
    assert {n["name"]: n["ip"] for n in data["nodes"]} == expected.node_ips


@needs_ruby
@pytest.mark.parametrize(
    "key,value",
    [
        ("KUBERNETES_VERSION", "1.33"),
        ("CILIUM_VERSION", "abc"),
        ("WORKER_COUNT", "0"),
        ("WORKER_COUNT", "x"),
        ("POD_CIDR", "172.20.0.0/24"),
    ],
)
def test_ruby_reader_rejects_what_python_rejects(key: str, value: str) -> None:
    with pytest.raises(ConfigError):
        load_versions({key: value})
    result = ruby_versions({key: value})
    assert result.returncode == 2
    assert key in result.stderr and value in result.stderr and "expected" in result.stderr


def ruby_versions(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env}
    return subprocess.run(
        ["ruby", str(RUBY_LIB), "versions", str(VERSIONS_FILE)],
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


# ---- lab secrets: bootstrap token and CA ----


@pytest.fixture(scope="module")
def secrets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if shutil.which("ruby") is None:
        pytest.fail("ruby is not installed: apt-get install ruby (scripts/test does as root)", pytrace=False)
    directory = tmp_path_factory.mktemp("secrets") / "cilab"
    result = subprocess.run(
        ["ruby", str(RUBY_LIB), "secrets", str(directory)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_bootstrap_token_format_and_persistence(secrets: dict[str, str]) -> None:
    assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", secrets["token"])
    again = subprocess.run(
        ["ruby", str(RUBY_LIB), "secrets", str(Path(secrets["ca_crt"]).parent)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(again.stdout) == secrets
    key_mode = os.stat(secrets["ca_key"]).st_mode & 0o777
    assert key_mode == 0o600
    assert os.stat(Path(secrets["ca_crt"]).parent / "bootstrap-token").st_mode & 0o777 == 0o600


def test_lab_ca_is_a_kubernetes_style_ca(secrets: dict[str, str]) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    rsa = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.rsa")
    cert = x509.load_pem_x509_certificate(Path(secrets["ca_crt"]).read_bytes())
    key = serialization.load_pem_private_key(Path(secrets["ca_key"]).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert cert.public_key().public_numbers() == key.public_key().public_numbers()
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=kubernetes"
    assert cert.serial_number > 0
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.digital_signature
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert secrets["ca_cert_hash"] == "sha256:" + hashlib.sha256(spki).hexdigest()


@needs_openssl
def test_shell_ca_hash_matches_the_host_hash(secrets: dict[str, str]) -> None:
    # k8s-ctr.sh / k8s-w.sh compare the uploaded CA with CA_CERT_HASH using this function.
    out = subprocess.run(
        [
            "bash",
            "-c",
            f"source '{SCRIPTS / 'common.sh'}'; ca_cert_hash \"$1\"",
            "bash",
            secrets["ca_crt"],
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == secrets["ca_cert_hash"]


# ---- kubeadm templates, rendered by the scripts' own function ----

TEMPLATE_USERS = {"init-config.yaml.tmpl": "k8s-ctr.sh", "join-config.yaml.tmpl": "k8s-w.sh"}
FAKE_HASH = "sha256:" + "ab" * 32


def placeholders(template: Path) -> set[str]:
    return set(re.findall(r"@([A-Z0-9_]+)@", template.read_text("utf-8")))


def render_args(script: str, template: str) -> list[str]:
    for args in shell_calls(SCRIPTS / script, "render_template"):
        if template in args[0]:
            return args[2:]
    raise AssertionError(f"{script} does not render {template}")


@pytest.mark.parametrize("template,script", sorted(TEMPLATE_USERS.items()))
def test_scripts_pass_exactly_the_template_placeholders(template: str, script: str) -> None:
    assert set(render_args(script, template)) == placeholders(KUBEADM / template)


def render(template: str, node_name: str, node_ip: str, tmp_path: Path) -> list[dict]:
    v = load_versions({})
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "BOOTSTRAP_TOKEN": "abcdef.0123456789abcdef",
        "BOOTSTRAP_TOKEN_TTL": v.bootstrap_token_ttl,
        "CTR_IP": v.ctr_ip,
        "NODE_NAME": node_name,
        "NODE_IP": node_ip,
        "KUBERNETES_VERSION": v.kubernetes_version,
        "POD_CIDR": v.pod_cidr,
        "SERVICE_CIDR": v.service_cidr,
        "CA_CERT_HASH": FAKE_HASH,
    }
    names = render_args(TEMPLATE_USERS[template], template)
    output = tmp_path / "out" / "config.yaml"
    subprocess.run(
        [
            "bash",
            "-c",
            f"source '{SCRIPTS / 'common.sh'}'; render_template \"$@\"",
            "bash",
            str(KUBEADM / template),
            str(output),
            *names,
        ],
        env=env,
        check=True,
    )
    assert os.stat(output).st_mode & 0o777 == 0o600
    return list(yaml.safe_load_all(output.read_text("utf-8")))


def test_init_configuration(tmp_path: Path) -> None:
    v = load_versions({})
    init, cluster = render("init-config.yaml.tmpl", "k8s-ctr", v.ctr_ip, tmp_path)
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert (init["kind"], cluster["kind"]) == ("InitConfiguration", "ClusterConfiguration")
    assert init["localAPIEndpoint"]["advertiseAddress"] == "192.168.10.100"
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "192.168.10.100"}
    ]
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert init["skipPhases"] == ["addon/kube-proxy"]
    token = init["bootstrapTokens"][0]
    assert token["token"] == "abcdef.0123456789abcdef"
    assert token["ttl"] == v.bootstrap_token_ttl and token["ttl"] not in ("0", "0s")
    assert set(token["usages"]) == {"signing", "authentication"}
    assert cluster["kubernetesVersion"] == "v1.33.2"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16"}


def test_join_configuration(tmp_path: Path) -> None:
    (join,) = render("join-config.yaml.tmpl", "k8s-w2", "192.168.10.102", tmp_path)
    assert join["apiVersion"] == "kubeadm.k8s.io/v1beta4" and join["kind"] == "JoinConfiguration"
    discovery = join["discovery"]["bootstrapToken"]
    assert discovery["apiServerEndpoint"] == "192.168.10.100:6443"
    assert discovery["caCertHashes"] == [FAKE_HASH]
    assert "unsafeSkipCAVerification" not in discovery
    assert join["nodeRegistration"]["name"] == "k8s-w2"
    assert join["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "192.168.10.102"}
    ]


def test_render_template_refuses_a_missing_value(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"source '{SCRIPTS / 'common.sh'}'; render_template \"$@\"",
            "bash",
            str(KUBEADM / "join-config.yaml.tmpl"),
            str(tmp_path / "x.yaml"),
            "CTR_IP",
        ],
        env={"PATH": os.environ["PATH"], "CTR_IP": "1.2.3.4"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "unresolved placeholder" in result.stderr
    assert not (tmp_path / "x.yaml").exists()


# ---- the Vagrantfile, evaluated with a recording stand-in for Vagrant ----

VAGRANT_STUB = r"""
require "json"
$log = []
def jsonable(v)
  case v
  when Symbol then ":#{v}"
  when Hash then v.to_h { |k, x| [k.to_s, jsonable(x)] }
  when Array then v.map { |x| jsonable(x) }
  when Proc then "<proc>"
  else v
  end
end
class Rec
  def initialize(path) @path = path end
  def respond_to_missing?(*) true end
  def method_missing(name, *args, **kw, &blk)
    n = name.to_s
    if n.end_with?("=")
      $log << { "path" => @path, "set" => n.chomp("="), "value" => jsonable(args.first) }
      return args.first
    end
    label = args.empty? ? n : "#{n}(#{args.first})"
    $log << { "path" => @path, "call" => n, "args" => jsonable(args), "kw" => jsonable(kw),
              "block" => !blk.nil? }
    child = Rec.new(@path + [label])
    if blk && n != "ruby"
      blk.arity == 2 ? blk.call(child, Rec.new(@path + [label, "override"])) : blk.call(child)
    end
    child
  end
end
module Vagrant
  def self.require_version(*) end
  def self.configure(_version) yield Rec.new(["config"]) end
end
load ARGV[0]
puts JSON.generate($log)
"""


def evaluate_vagrantfile(
    tmp_path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    stub = tmp_path / "vagrant_stub.rb"
    stub.write_text(VAGRANT_STUB, "utf-8")
    full = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotvagrant"),
        **(env or {}),
    }
    return subprocess.run(
        ["ruby", str(stub), str(PROV / "Vagrantfile")],
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


class Machine:
    def __init__(self, name: str, log: list[dict]) -> None:
        self.name = name
        prefix = ["config", "vm", f"define({name})"]
        self.entries = [e for e in log if e["path"][:3] == prefix]
        self.vm = prefix + ["vm"]

    def sets(self, path: list[str]) -> dict[str, Any]:
        return {e["set"]: e["value"] for e in self.entries if "set" in e and e["path"] == path}

    def calls(self, path: list[str], call: str) -> list[dict]:
        return [e for e in self.entries if e.get("call") == call and e["path"] == path]

    def provider(self, name: str) -> dict[str, Any]:
        return self.sets(self.vm + [f"provider({name})"])

    def box(self, provider: str) -> dict[str, Any]:
        return self.sets(self.vm + [f"provider({provider})", "override", "vm"])

    def provisioners(self) -> list[tuple[str, dict]]:
        return [(e["args"][0], e["kw"]) for e in self.calls(self.vm, "provision")]


@pytest.fixture(scope="module")
def vagrant_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    if shutil.which("ruby") is None:
        pytest.fail("ruby is not installed: apt-get install ruby (scripts/test does as root)", pytrace=False)
    tmp = tmp_path_factory.mktemp("vagrant")
    result = evaluate_vagrantfile(tmp)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), tmp


def machines(log: list[dict]) -> list[Machine]:
    return [
        Machine(e["args"][0], log)
        for e in log
        if e.get("call") == "define" and e["path"] == ["config", "vm"]
    ]


def test_vagrantfile_defines_every_node_with_its_ip(vagrant_log: tuple[list[dict], Path]) -> None:
    log, _ = vagrant_log
    expected = load_versions({}).node_ips
    found = {}
    for m in machines(log):
        networks = m.calls(m.vm, "network")
        assert [n["args"] for n in networks] == [["private_network"]]
        found[m.name] = networks[0]["kw"]["ip"]
        assert m.sets(m.vm)["hostname"] == m.name
    assert found == expected
    assert list(found) == list(expected)  # control plane defined (and brought up) first


@needs_ruby
def test_vagrantfile_follows_worker_count_and_ip_overrides(tmp_path: Path) -> None:
    env = {"WORKER_COUNT": "3", "NODE_IP_PREFIX": "192.168.56", "CTR_IP": "192.168.56.10"}
    result = evaluate_vagrantfile(tmp_path, env)
    assert result.returncode == 0, result.stderr
    found = {
        m.name: m.calls(m.vm, "network")[0]["kw"]["ip"] for m in machines(json.loads(result.stdout))
    }
    assert found == load_versions(env).node_ips


@needs_ruby
def test_vagrantfile_stops_on_a_malformed_override(tmp_path: Path) -> None:
    result = evaluate_vagrantfile(tmp_path, {"WORKER_COUNT": "0"})
    assert result.returncode != 0
    assert "WORKER_COUNT" in result.stderr and "expected" in result.stderr


def test_vagrantfile_providers(vagrant_log: tuple[list[dict], Path]) -> None:
    log, _ = vagrant_log
    v = load_versions({})
    for m in machines(log):
        ctr = m.name == "k8s-ctr"
        vb = m.provider("virtualbox")
        assert vb["cpus"] == 2 and vb["memory"] == (2048 if ctr else 1536)
        assert vb["linked_clone"] is True and vb["name"] == m.name
        customize = [c["args"][0] for c in m.calls(m.vm + ["provider(virtualbox)"], "customize")]
        assert [
            ":id" in c and "--nicpromisc2" in c and c[-1] == "allow-all" for c in customize
        ].count(True) == 1
        assert m.box("virtualbox") == {
            "box": v.box_virtualbox,
            "box_version": v.box_version_virtualbox,
        }
        lv = m.provider("libvirt")
        assert lv["cpus"] == 2 and lv["memory"] == (2048 if ctr else 1536)
        assert m.box("libvirt") == {"box": v.box_libvirt, "box_version": v.box_version_libvirt}


def test_vagrantfile_shares_nothing_and_downloads_nothing(
    vagrant_log: tuple[list[dict], Path],
) -> None:
    log, _ = vagrant_log
    synced = [e for e in log if e.get("call") == "synced_folder" and e["path"] == ["config", "vm"]]
    assert (
        synced and synced[0]["args"] == [".", "/vagrant"] and synced[0]["kw"] == {"disabled": True}
    )
    text = (PROV / "Vagrantfile").read_text("utf-8")
    assert not re.search(r"\b(curl|wget)\b|https?://", text)


def test_vagrantfile_provisioning_order(vagrant_log: tuple[list[dict], Path]) -> None:
    log, _ = vagrant_log
    for m in machines(log):
        steps = [(kind, kw.get("name") or kw.get("destination")) for kind, kw in m.provisioners()]
        shells = [name for kind, name in steps if kind == "shell"]
        uploads = [dest for kind, dest in steps if kind == "file"]
        if m.name == "k8s-ctr":
            assert shells == ["init_cfg.sh", "k8s-ctr.sh"]
            assert "/tmp/cilab/helm" in uploads and "/tmp/cilab/pki/ca.key" in uploads
        else:
            assert shells == ["init_cfg.sh", "k8s-w.sh"]
            assert "/tmp/cilab/helm" not in uploads and "/tmp/cilab/pki/ca.key" not in uploads
        assert {"/tmp/cilab/scripts", "/tmp/cilab/kubeadm", "/tmp/cilab/pki/ca.crt"} <= set(uploads)
        first_shell = next(i for i, (kind, _) in enumerate(steps) if kind == "shell")
        assert {"/tmp/cilab/scripts", "/tmp/cilab/kubeadm"} <= {d for k, d in steps[:first_shell]}
        for kind, kw in m.provisioners():
            if kind == "file":
                assert Path(kw["source"]).exists(), kw["source"]
            else:
                assert Path(kw["path"]) == SCRIPTS / kw["name"]


def test_vagrantfile_script_environment(vagrant_log: tuple[list[dict], Path]) -> None:
    log, _ = vagrant_log
    v = load_versions({})
    tokens = set()
    for m in machines(log):
        for kind, kw in m.provisioners():
            if kind != "shell":
                continue
            env = kw["env"]
            for key, value in v.as_properties().items():
                if key in read_defaults():
                    assert env[key] == value, key
            assert env["NODE_NAME"] == m.name and env["NODE_IP"] == v.node_ips[m.name]
            assert env["LAB_HOSTS"].split() == [f"{n}={ip}" for n, ip in v.node_ips.items()]
            assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", env["BOOTSTRAP_TOKEN"])
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", env["CA_CERT_HASH"])
            tokens.add(env["BOOTSTRAP_TOKEN"])
            # Every variable a script requires is passed.
            for call in shell_calls(SCRIPTS / kw["name"], "require_env"):
                missing = [name for name in call if name not in env]
                assert not missing, f"{kw['name']} on {m.name} requires {missing}"
    assert len(tokens) == 1  # one token per lab, shared by all nodes


def test_vagrantfile_keeps_secrets_in_the_dotfile_dir(vagrant_log: tuple[list[dict], Path]) -> None:
    log, tmp = vagrant_log
    secrets_dir = tmp / "dotvagrant" / "cilab"
    assert sorted(p.name for p in secrets_dir.iterdir()) == ["bootstrap-token", "ca.crt", "ca.key"]
    ctr = next(m for m in machines(log) if m.name == "k8s-ctr")
    triggers = ctr.calls(ctr.vm[:-1] + ["trigger"], "after")
    assert [t["args"] for t in triggers] == [[":destroy"]]


# ---- provisioning scripts ----

SCRIPT_FILES = sorted(SCRIPTS.glob("*.sh"))


def test_expected_scripts_exist() -> None:
    assert {p.name for p in SCRIPT_FILES} >= {"init_cfg.sh", "k8s-ctr.sh", "k8s-w.sh", "common.sh"}


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=lambda p: p.name)
def test_scripts_start_with_strict_mode(path: Path) -> None:
    lines = script_lines(path)
    assert lines[0] == "#!/usr/bin/env bash"
    code = [line for line in lines[1:] if line.strip() and not line.lstrip().startswith("#")]
    assert code[0] == "set -euo pipefail"


@pytest.mark.parametrize("path", SCRIPT_FILES, ids=lambda p: p.name)
def test_scripts_fetch_no_third_party_config(path: Path) -> None:
    text = path.read_text("utf-8")
    assert "raw.githubusercontent.com" not in text
    assert not re.search(r"\|\s*(sudo\s+)?(ba)?sh\b", text), "no curl | bash"
    assert "stable.txt" not in text
    for url in re.findall(r"https://[^\s\"')]+", text):
        assert url.startswith(
            (
                "https://pkgs.k8s.io/",
                "https://download.docker.com/",
                "https://get.helm.sh/",
                "https://github.com/cilium/",
                "https://helm.cilium.io/",
                "https://${CTR_IP}:",
            )
        ), url


def test_init_cfg_pins_and_holds_packages() -> None:
    text = (SCRIPTS / "init_cfg.sh").read_text("utf-8")
    for pkg in ("kubelet", "kubeadm", "kubectl"):
        assert f'"{pkg}=${{K8S_PKG}}"' in text
    assert '"containerd.io=${CONTAINERD_PKG}"' in text
    assert "apt-mark hold kubelet kubeadm kubectl containerd.io" in text
    assert "pkgs.k8s.io/core:/stable:/v${K8S_MINOR}/deb/ /" in text
    assert "SystemdCgroup = false/SystemdCgroup = true" in text
    assert "KUBELET_EXTRA_ARGS=--node-ip=${NODE_IP}" in text
    assert "br_netfilter" in text and "overlay" in text
    assert "net.ipv4.ip_forward = 1" in text and "net.bridge.bridge-nf-call-iptables = 1" in text


def test_fstab_swap_edit(tmp_path: Path) -> None:
    line = next(
        s for s in script_lines(SCRIPTS / "init_cfg.sh") if s.startswith("sed -E -i 's/^([^#")
    )
    fstab = tmp_path / "fstab"
    fstab.write_text(
        "UUID=1 / ext4 defaults 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n# /old none swap sw 0 0\n",
        "utf-8",
    )
    command = line.replace("/etc/fstab", str(fstab))
    subprocess.run(["bash", "-c", command], check=True)
    subprocess.run(["bash", "-c", command], check=True)  # idempotent
    lines = fstab.read_text("utf-8").splitlines()
    assert lines[0] == "UUID=1 / ext4 defaults 0 1"
    assert lines[1] == "# disabled for kubelet by cilab: /swap.img\tnone\tswap\tsw\t0\t0"
    assert lines[2] == "# /old none swap sw 0 0"


def test_containerd_config_edit() -> None:
    # The two lines of containerd 1.7's `containerd config default` that init_cfg.sh edits.
    text = (SCRIPTS / "init_cfg.sh").read_text("utf-8")
    match = re.search(
        r"sed -i -e '([^']+)' \\\n\s+-e \"(.+)\" /etc/containerd/config.toml.new", text
    )
    assert match, "the containerd sed command changed shape"
    sample = '    sandbox_image = "registry.k8s.io/pause:3.8"\n            SystemdCgroup = false\n'
    pause = load_versions({}).pause_image
    result = subprocess.run(
        [
            "sed",
            "-e",
            match.group(1),
            "-e",
            match.group(2).replace("${PAUSE_IMAGE}", pause).replace('\\"', '"'),
        ],
        input=sample,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == (f'    sandbox_image = "{pause}"\n            SystemdCgroup = true\n')


def test_k8s_ctr_installs_cilium_with_the_base_layer() -> None:
    text = (SCRIPTS / "k8s-ctr.sh").read_text("utf-8")
    assert "helm repo add cilium https://helm.cilium.io/" in text
    assert re.search(
        r'helm upgrade --install cilium cilium/cilium --version "\$CILIUM_VERSION" '
        r'-n kube-system \\\n\s+-f "\$BASE_VALUES"',
        text,
    )
    assert 'BASE_VALUES="$CILAB_HOME/helm/base.yaml"' in text
    assert "--reuse-values" not in text
    assert "kubeadm init --config" in text and "rollout status ds/cilium" in text
    for tool in ("helm", "cilium", "hubble"):
        assert re.search(rf"install_tool {tool} ", text)


def test_k8s_w_joins_with_config_and_pins_the_ca() -> None:
    text = (SCRIPTS / "k8s-w.sh").read_text("utf-8")
    assert "kubeadm join --config" in text
    assert "unsafeSkipCAVerification" not in text
    assert (KUBEADM / "join-config.yaml.tmpl").read_text("utf-8").count("caCertHashes") == 1


# ---- tools/derive_chart_keys.py ----


def test_derive_chart_keys_on_a_small_chart(tmp_path: Path) -> None:
    values = (
        "a:\n  b: 1\n  c: [x, y]\n  d: {}\n# -- documented only in a comment\n"
        '#flag: "false"\ne: null\n'
    )
    templates = {
        "templates/config.yaml": "{{ .Values.a.b }} {{ .Values.flag }} {{ $.Values.a.d.free }}"
        " {{ .Values.AsMap }} {{ .Values.a }} {{ .Values.g.h }}",
        "templates/validate.yaml": '{{ if .Values.removed }}{{ fail "gone" }}{{ end }}',
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in {
            "values.yaml": values,
            "Chart.yaml": "name: demo\nversion: 0.1.0\n",
            **templates,
        }.items():
            data = text.encode()
            info = tarfile.TarInfo(f"demo/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    chart = tmp_path / "demo-0.1.0.tgz"
    chart.write_bytes(buffer.getvalue())
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "derive_chart_keys.py"),
            str(chart),
            "--origin",
            "unit test",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys = [k for k in out.splitlines() if k and not k.startswith("#")]
    assert keys == ["a.b", "a.c", "a.d", "a.d.*", "e", "flag", "g.h"]
    assert "# Source: unit test" in out and "chart demo 0.1.0" in out


# ---- the nightly workflow ----


def test_nightly_workflow() -> None:
    doc = load_yaml(WORKFLOW)
    triggers = doc.get("on", doc.get(True))  # PyYAML reads a bare `on` key as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    assert set(triggers["workflow_dispatch"]["inputs"]) == {"box", "box_version"}  # the fallback box
    render, job = doc["jobs"]["chart-render"], doc["jobs"]["real-lab"]
    # the cheap render job gates the VM job
    assert job["needs"] == "chart-render" and render["timeout-minutes"] <= 15
    render_text = yaml.safe_dump(render)
    assert 'python tools/check_stage_render.py --version "${{ matrix.cilium }}"' in render_text
    assert "sha256sum -c" in render_text and "HELM_SHA256_AMD64" in render_text
    assert job["runs-on"] == "ubuntu-24.04"
    assert job["timeout-minutes"] == 75
    matrix = job["strategy"]["matrix"]["cilium"]
    assert matrix[0] == "1.17.6" and len(matrix) == 2 and render["strategy"]["matrix"]["cilium"] == matrix
    for version in matrix:
        load_versions({"CILIUM_VERSION": version})
    assert job["env"]["CILIUM_VERSION"] == "${{ matrix.cilium }}"
    assert job["env"]["BOX_LIBVIRT"] == "${{ inputs.box }}"
    # pinned Vagrant (at the lab's floor) and plugin
    from cilab.vagrant_cli import MIN_VAGRANT
    assert doc["env"]["VAGRANT_PKG_VERSION"] == f"{MIN_VAGRANT}-1"
    assert re.fullmatch(r"\d+\.\d+\.\d+", doc["env"]["VAGRANT_LIBVIRT_VERSION"])
    text = WORKFLOW.read_text("utf-8")
    assert '"vagrant=${VAGRANT_PKG_VERSION}"' in text and "apt-mark hold vagrant" in text
    assert 'vagrant plugin install vagrant-libvirt --plugin-version "${VAGRANT_LIBVIRT_VERSION}"' in text
    assert 'KERNEL=="kvm", GROUP="kvm", MODE="0666", OPTIONS+="static_node=kvm"' in text
    assert "udevadm control --reload-rules" in text and "udevadm trigger" in text
    assert "apt.releases.hashicorp.com" in text
    for pkg in ("qemu-kvm", "libvirt-daemon-system", "libvirt-dev", "ebtables", "dnsmasq-base"):
        assert pkg in text
    assert "~/.vagrant.d/boxes" in text
    names = [s.get("name", s.get("uses", "")) for s in job["steps"]]

    def at(prefix: str) -> int:
        return next(i for i, n in enumerate(names) if n.startswith(prefix))
    # disk guard first; the box boots alone before the lab; logs go up before the lab goes
    assert at("Disk guard") < at("Install Vagrant") < at("Boot the box alone first") < at("Run the suite")
    assert "virsh pool-define-as default dir --target" in text and "df -h" in text
    assert "cloud-image/ubuntu-24.04" in job["steps"][at("Boot the box alone first")]["run"]
    run = job["steps"][at("Run the suite")]["run"]
    assert "--lab vagrant --provider libvirt --provisioning-logs reports/provisioning" in run
    assert "--record reports/transcript --alluredir reports/allure-results" in run
    assert "--destroy-lab" not in run
    assert "npx allure awesome reports/allure-results --single-file -o reports/html" in text
    assert "npm ci" in text and "pip install -e ." in text
    uploads = [i for i, s in enumerate(job["steps"]) if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    paths = {str(job["steps"][i]["with"]["path"]).strip() for i in uploads}
    assert paths == {"reports/html", "reports/transcript", "reports/provisioning\nreports/nodes"}
    assert all(job["steps"][i].get("if") == "always()" for i in uploads)
    destroy = at("Destroy the lab")
    assert destroy == len(names) - 1 and all(i < destroy for i in uploads)
    assert at("Lab state and node logs on failure") < min(uploads)


def test_vagrantfile_floor_is_the_suites_minimum() -> None:
    """The Vagrantfile and the backend require the same Vagrant (cilab.vagrant_cli.MIN_VAGRANT);
    only the documented test knob lowers the Vagrantfile's."""
    from cilab.vagrant_cli import MIN_VAGRANT
    text = (PROV / "Vagrantfile").read_text()
    assert f'ENV["CILAB_VAGRANT_FLOOR"].to_s.empty? ? "{MIN_VAGRANT}" : ENV["CILAB_VAGRANT_FLOOR"]' in text
    assert 'Vagrant.require_version ">= #{vagrant_floor}"' in text


@pytest.mark.parametrize("script,markers", [
    ("init_cfg.sh", ["init_cfg.sh"]),
    ("k8s-ctr.sh", ["k8s-ctr.sh", "kubeadm-init"]),
    ("k8s-w.sh", ["k8s-w.sh", "kubeadm-join"]),
])
def test_scripts_mark_completion_last(script: str, markers: list[str]) -> None:
    """Each script forgets its marker first and writes it as its very last step; kubeadm's
    own marker follows a successful init/join, and only that marker counts as "done"."""
    lines = [l.strip() for l in (PROV / "scripts" / script).read_text().splitlines()]
    code = [l for l in lines if l and not l.startswith("#")]
    assert f"mark_started {script}" in code[:8]
    # the last command (a mark_done may continue on the next line)
    assert any(l.startswith(f"mark_done {script} ") for l in code[-2:]), code[-3:]
    for marker in markers[1:]:
        done = next(i for i, l in enumerate(code) if l.startswith(f"mark_done {marker} "))
        run = next(i for i, l in enumerate(code) if l.startswith(f"if ! kubeadm {marker.split('-')[1]} "))
        assert run < done
    if script == "k8s-ctr.sh":
        assert 'if [[ -f "$INIT_MARKER" && -f /etc/kubernetes/admin.conf ]]; then' in code
    if script == "k8s-w.sh":
        assert 'if [[ "$joined_ca" != "$CA_CERT_HASH" ]]; then' in code


def test_mark_done_writes_the_versions_atomically(tmp_path: Path) -> None:
    script = f"""
set -euo pipefail
source {shlex.quote(str(PROV / 'scripts' / 'common.sh'))}
CILAB_STATE={shlex.quote(str(tmp_path))}/state
hostname() {{ echo k8s-w1; }}
KUBERNETES_VERSION=1.33.2 CA_CERT_HASH=sha256:ab
mark_started k8s-w.sh
mark_done k8s-w.sh KUBERNETES_VERSION CA_CERT_HASH
"""
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    marker = (tmp_path / "state" / "k8s-w.sh.done").read_text().splitlines()
    assert marker[:2] == ["KUBERNETES_VERSION=1.33.2", "CA_CERT_HASH=sha256:ab"]
    assert marker[2].startswith("FINISHED_AT=")
    assert not list((tmp_path / "state").glob("*.tmp"))
