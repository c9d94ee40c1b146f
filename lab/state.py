"""The lab's spec (what to build) and state (what was built, recorded before it is built)."""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SPEC = Path(__file__).with_name("spec.toml")
REPO_ROOT = Path(__file__).resolve().parent.parent
ROLES = ("control_plane", "workers", "backup")


def lab_dir() -> Path:
    return Path(os.environ.get("KUBEDR_LAB_DIR", "/var/lib/kubedr-lab"))


@dataclass(frozen=True)
class Host:
    name: str
    role: str
    address: str
    netns: str
    veth: str

    @property
    def root(self) -> Path:
        return lab_dir() / "hosts" / self.name


@dataclass(frozen=True)
class Spec:
    cluster: str
    datacenter: str
    subnet: ipaddress.IPv4Network
    prefix: str
    hosts: tuple[Host, ...]
    disks: tuple[str, ...]

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br0"

    @property
    def gateway(self) -> str:
        """The bridge's own address: the controller side of the lab network."""
        return str(self.subnet.network_address + 1)

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no lab host named {name!r}; hosts are {', '.join(h.name for h in self.hosts)}")

    def by_role(self, role: str) -> list[Host]:
        return [h for h in self.hosts if h.role == role]

    def to_json(self) -> dict:
        return {
            "cluster": self.cluster, "datacenter": self.datacenter, "subnet": str(self.subnet),
            "prefix": self.prefix, "disks": list(self.disks),
            "hosts": {role: [h.name for h in self.by_role(role)] for role in ROLES},
        }


def load_spec(path: Path | None = None) -> Spec:
    path = path or Path(os.environ.get("KUBEDR_LAB_SPEC", DEFAULT_SPEC))
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    return spec_from(raw["lab"] | {"hosts": raw["hosts"], "disks": raw.get("disks", {}).get("workers", [])})


def spec_from(raw: dict) -> Spec:
    subnet = ipaddress.ip_network(raw["subnet"])
    prefix = raw.get("prefix", "kdr")
    names = [(role, name) for role in ROLES for name in raw["hosts"].get(role, [])]
    usable = list(subnet.hosts())[10:]  # .1 is the bridge; hosts from .11
    if len(names) > len(usable):
        raise ValueError(f"subnet {subnet} is too small for {len(names)} hosts")
    hosts = []
    for (role, name), address in zip(names, usable, strict=False):
        if len(f"{prefix}-{name}") > 15:
            raise ValueError(f"host name {name!r} is too long: '{prefix}-{name}' must fit 15 characters")
        hosts.append(Host(name, role, str(address), f"{prefix}-{name}", f"{prefix}-{name}"))
    return Spec(raw["cluster"], raw.get("datacenter", "dc1"), subnet, prefix, tuple(hosts),
                tuple(raw.get("disks", [])))


class State:
    """What `up` created, saved after every step so `down` can undo a half-finished `up`."""

    def __init__(self, data: dict):
        self.data = data

    @property
    def path(self) -> Path:
        return lab_dir() / "state.json"

    @classmethod
    def load(cls) -> State:
        path = lab_dir() / "state.json"
        if path.exists():
            return cls(json.loads(path.read_text()))
        return cls({"spec": None, "netns": [], "links": [], "mounts": [], "processes": {}, "paths": []})

    @property
    def spec(self) -> Spec | None:
        return spec_from(self.data["spec"]) if self.data["spec"] else None

    def save(self) -> None:
        lab_dir().mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True))
        os.replace(tmp, self.path)

    def record(self, kind: str, value: str) -> None:
        """Note that `value` is about to be created, before creating it."""
        if value not in self.data[kind]:
            self.data[kind].append(value)
            self.save()

    def forget(self, kind: str, value: str) -> None:
        if value in self.data[kind]:
            self.data[kind].remove(value)
            self.save()
