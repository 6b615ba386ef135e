"""The pinned versions and addresses of the real lab, from provisioning/versions.env.

`provisioning/versions.env` is the single source: the Vagrantfile reads it (in Ruby), the
provisioning scripts get its values as environment variables, and the suite reads it here
to know the node IPs and to put the versions into the report environment.

Every line of the file has the form ``KEY=${KEY:-default}``: an environment variable of the
same name overrides the default, in a shell that sources the file as here.  An empty
variable counts as unset.  Overrides are validated; a malformed one raises
`cilab.errors.ConfigError` with one line naming the variable, the value and the expected
form.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cilab.errors import ConfigError

#: provisioning/versions.env, found relative to the package (repo root = parent of cilab/).
VERSIONS_FILE = Path(__file__).resolve().parent.parent / "provisioning" / "versions.env"

_LINE = re.compile(r"^([A-Z][A-Z0-9_]*)=\$\{([A-Z][A-Z0-9_]*):-([^\s}\"'$`\\]*)\}$")

_SEMVER = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")
_CHART_VERSION = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-(pre|rc)\.[0-9]+)?$")
_PKG_REVISION = re.compile(r"^[0-9][0-9A-Za-z.+~]*$")
_SHA256 = re.compile(r"^([0-9a-f]{64})?$")
_BOX = re.compile(r"^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+$")
_BOX_VERSION = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)+:[A-Za-z0-9._-]+$")
_DURATION = re.compile(r"^([0-9]+(h|m|s))+$")
_TIMEZONE = re.compile(r"^([A-Za-z_+-]+(/[A-Za-z0-9_+-]+)*)?$")
_PREFIX = re.compile(r"^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$")

#: Worker i has the IP NODE_IP_PREFIX.(WORKER_IP_BASE + i).
WORKER_IP_BASE = 100
MAX_WORKERS = 20


@dataclass(frozen=True)
class Versions:
    """Pinned versions and lab addresses; field NAME <-> versions.env key NAME.upper()."""

    kubernetes_version: str
    kubernetes_pkg_revision: str
    containerd_version: str
    containerd_pkg_revision: str
    pause_image: str
    cilium_version: str
    cilium_cli_version: str
    hubble_cli_version: str
    helm_version: str
    helm_sha256_amd64: str
    helm_sha256_arm64: str
    cilium_cli_sha256_amd64: str
    cilium_cli_sha256_arm64: str
    hubble_cli_sha256_amd64: str
    hubble_cli_sha256_arm64: str
    box_virtualbox: str
    box_version_virtualbox: str
    box_libvirt: str
    box_version_libvirt: str
    worker_count: int
    node_ip_prefix: str
    ctr_ip: str
    ctr_cpus: int
    ctr_memory_mb: int
    worker_cpus: int
    worker_memory_mb: int
    pod_cidr: str
    service_cidr: str
    cilium_pod_cidr: str
    bootstrap_token_ttl: str
    timezone: str

    # ---- derived values -----------------------------------------------------------------
    @property
    def kubernetes_minor(self) -> str:
        """``1.33`` for 1.33.2: the pkgs.k8s.io repository is per minor version."""
        return ".".join(self.kubernetes_version.split(".")[:2])

    @property
    def kubernetes_pkg_version(self) -> str:
        """apt version of kubelet/kubeadm/kubectl, e.g. ``1.33.2-1.1``."""
        return f"{self.kubernetes_version}-{self.kubernetes_pkg_revision}"

    @property
    def containerd_pkg_version(self) -> str:
        """apt version of containerd.io, e.g. ``1.7.27-1``."""
        return f"{self.containerd_version}-{self.containerd_pkg_revision}"

    @property
    def worker_names(self) -> list[str]:
        return [f"k8s-w{i}" for i in range(1, self.worker_count + 1)]

    @property
    def node_ips(self) -> dict[str, str]:
        """Node name -> private-network IP, control plane first."""
        ips = {"k8s-ctr": self.ctr_ip}
        for i, name in enumerate(self.worker_names, start=1):
            ips[name] = f"{self.node_ip_prefix}.{WORKER_IP_BASE + i}"
        return ips

    def box_for(self, provider: str) -> tuple[str, str]:
        """(box, box_version) for ``virtualbox`` or ``libvirt``."""
        if provider == "virtualbox":
            return self.box_virtualbox, self.box_version_virtualbox
        if provider == "libvirt":
            return self.box_libvirt, self.box_version_libvirt
        raise ConfigError(
            f"provider {provider!r} has no box in versions.env: expected virtualbox or libvirt"
        )

    def as_properties(self) -> dict[str, str]:
        """KEY -> value strings for a report's environment (Allure environment.properties)."""
        props = {f.name.upper(): str(getattr(self, f.name)) for f in dataclasses.fields(self)}
        props["KUBERNETES_PKG_VERSION"] = self.kubernetes_pkg_version
        props["CONTAINERD_PKG_VERSION"] = self.containerd_pkg_version
        return props


# ---- validation -------------------------------------------------------------------------------

Check = Callable[[str], bool]


def _matches(pattern: re.Pattern[str]) -> Check:
    return lambda value: bool(pattern.match(value))


def _int_between(low: int, high: int) -> Check:
    def check(value: str) -> bool:
        return value.isdigit() and low <= int(value) <= high

    return check


def _ipv4_net(value: str) -> bool:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        return False
    return "/" in value


def _ipv4_addr(value: str) -> bool:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _prefix(value: str) -> bool:
    match = _PREFIX.match(value)
    return bool(match) and all(0 <= int(part) <= 255 for part in match.groups())


def _ttl(value: str) -> bool:
    return bool(_DURATION.match(value)) and any(ch in "123456789" for ch in value)


_SEMVER_FORM = "X.Y.Z with digits only, no leading 'v' (e.g. {example})"
_SHA_FORM = "64 lower-case hex digits, or empty for no pin"

#: KEY -> (check, expected form).  Integer fields are converted after the check.
_RULES: dict[str, tuple[Check, str]] = {
    "KUBERNETES_VERSION": (_matches(_SEMVER), _SEMVER_FORM.format(example="1.33.2")),
    "KUBERNETES_PKG_REVISION": (_matches(_PKG_REVISION), "a Debian revision such as 1.1"),
    "CONTAINERD_VERSION": (_matches(_SEMVER), _SEMVER_FORM.format(example="1.7.27")),
    "CONTAINERD_PKG_REVISION": (
        _matches(_PKG_REVISION),
        "a Debian revision such as 1 or 1~ubuntu.24.04~noble",
    ),
    "PAUSE_IMAGE": (_matches(_IMAGE), "registry/repository:tag (e.g. registry.k8s.io/pause:3.10)"),
    "CILIUM_VERSION": (
        _matches(_CHART_VERSION),
        "a chart version X.Y.Z or X.Y.Z-rc.N / -pre.N, no leading 'v' (e.g. 1.17.6)",
    ),
    "CILIUM_CLI_VERSION": (_matches(_SEMVER), _SEMVER_FORM.format(example="0.18.6")),
    "HUBBLE_CLI_VERSION": (_matches(_SEMVER), _SEMVER_FORM.format(example="1.17.5")),
    "HELM_VERSION": (_matches(_SEMVER), _SEMVER_FORM.format(example="3.18.4")),
    "HELM_SHA256_AMD64": (_matches(_SHA256), _SHA_FORM),
    "HELM_SHA256_ARM64": (_matches(_SHA256), _SHA_FORM),
    "CILIUM_CLI_SHA256_AMD64": (_matches(_SHA256), _SHA_FORM),
    "CILIUM_CLI_SHA256_ARM64": (_matches(_SHA256), _SHA_FORM),
    "HUBBLE_CLI_SHA256_AMD64": (_matches(_SHA256), _SHA_FORM),
    "HUBBLE_CLI_SHA256_ARM64": (_matches(_SHA256), _SHA_FORM),
    "BOX_VIRTUALBOX": (_matches(_BOX), "owner/name (e.g. bento/ubuntu-24.04)"),
    "BOX_VERSION_VIRTUALBOX": (_matches(_BOX_VERSION), "a box release such as 202502.21.0"),
    "BOX_LIBVIRT": (_matches(_BOX), "owner/name (e.g. bento/ubuntu-24.04)"),
    "BOX_VERSION_LIBVIRT": (_matches(_BOX_VERSION), "a box release such as 202510.26.0"),
    "WORKER_COUNT": (_int_between(1, MAX_WORKERS), f"an integer from 1 to {MAX_WORKERS}"),
    "NODE_IP_PREFIX": (_prefix, "three IPv4 octets (e.g. 192.168.10)"),
    "CTR_IP": (_ipv4_addr, "an IPv4 address (e.g. 192.168.10.100)"),
    "CTR_CPUS": (_int_between(1, 64), "an integer from 1 to 64"),
    "CTR_MEMORY_MB": (_int_between(1024, 65536), "an integer number of MB from 1024 to 65536"),
    "WORKER_CPUS": (_int_between(1, 64), "an integer from 1 to 64"),
    "WORKER_MEMORY_MB": (_int_between(512, 65536), "an integer number of MB from 512 to 65536"),
    "POD_CIDR": (_ipv4_net, "an IPv4 network in CIDR form (e.g. 10.244.0.0/16)"),
    "SERVICE_CIDR": (_ipv4_net, "an IPv4 network in CIDR form (e.g. 10.96.0.0/16)"),
    "CILIUM_POD_CIDR": (_ipv4_net, "an IPv4 network in CIDR form (e.g. 172.20.0.0/16)"),
    "BOOTSTRAP_TOKEN_TTL": (_ttl, "a non-zero Go duration such as 2h or 90m"),
    "TIMEZONE": (_matches(_TIMEZONE), "an IANA zone such as Asia/Seoul, or empty"),
}


def read_defaults(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """KEY -> default of every line of versions.env, in file order (no overrides)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
    defaults: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match or match.group(1) != match.group(2):
            raise ConfigError(f"{path}:{number}: expected KEY=${{KEY:-value}}, got {line!r}")
        key, value = match.group(1), match.group(3)
        if key in defaults:
            raise ConfigError(f"{path}:{number}: {key} is defined twice")
        defaults[key] = value
    return defaults


def load_versions(
    environ: Mapping[str, str] | None = None, *, path: Path = VERSIONS_FILE
) -> Versions:
    """Read versions.env and apply environment overrides (``os.environ`` by default)."""
    env = os.environ if environ is None else environ
    defaults = read_defaults(path)
    fields = {f.name.upper(): f for f in dataclasses.fields(Versions)}
    unknown = sorted(set(defaults) - set(fields))
    missing = sorted(set(fields) - set(defaults))
    if unknown or missing:
        raise ConfigError(
            f"{path}: keys do not match cilab.versions.Versions "
            f"(unknown: {', '.join(unknown) or '-'}; "
            f"missing: {', '.join(missing) or '-'})"
        )
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    for key, default in defaults.items():
        override = env.get(key, "")
        values[key] = override if override != "" else default
        origin[key] = "environment" if override != "" else path.name
    for key, value in values.items():
        check, form = _RULES[key]
        if not check(value):
            raise ConfigError(f"{key}={value!r} (from {origin[key]}) is malformed: expected {form}")
    _check_addresses(values, origin)
    kwargs: dict[str, object] = {}
    for key, field in fields.items():
        kwargs[field.name] = int(values[key]) if field.type in (int, "int") else values[key]
    return Versions(**kwargs)  # type: ignore[arg-type]


def _check_addresses(values: dict[str, str], origin: dict[str, str]) -> None:
    prefix = values["NODE_IP_PREFIX"]
    ctr = values["CTR_IP"]
    workers = int(values["WORKER_COUNT"])
    ctr_octet = int(ctr.rsplit(".", 1)[1])
    if ctr.rsplit(".", 1)[0] != prefix or not 2 <= ctr_octet <= 254:
        raise ConfigError(
            f"CTR_IP={ctr!r} (from {origin['CTR_IP']}) is malformed: expected "
            f"an address {prefix}.2 to {prefix}.254 inside NODE_IP_PREFIX"
        )
    worker_octets = range(WORKER_IP_BASE + 1, WORKER_IP_BASE + workers + 1)
    if ctr_octet in worker_octets:
        raise ConfigError(
            f"CTR_IP={ctr!r} (from {origin['CTR_IP']}) is malformed: expected "
            f"an address outside the worker range {prefix}.{worker_octets[0]}-"
            f"{worker_octets[-1]}"
        )
    nodes = ipaddress.IPv4Network(f"{prefix}.0/24")
    nets = {
        key: ipaddress.IPv4Network(values[key])
        for key in ("POD_CIDR", "SERVICE_CIDR", "CILIUM_POD_CIDR")
    }
    nets["NODE_IP_PREFIX"] = nodes
    keys = list(nets)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            if nets[first].overlaps(nets[second]):
                # Name the overridden one of the pair when there is one.
                bad, other = (
                    (first, second)
                    if origin[first] == "environment" and origin[second] != "environment"
                    else (second, first)
                )
                raise ConfigError(
                    f"{bad}={values[bad]!r} (from {origin[bad]}) is "
                    f"malformed: expected a range that does not overlap "
                    f"{other}={values[other]}"
                )
