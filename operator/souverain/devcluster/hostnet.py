"""What real nodes change on the machine, and how ``dev-cluster down`` puts it back: the
address on ``lo``, two sysctls, the pods' bridge, kube-proxy's iptables rules and the
shared mounts of the nodes' folders.

Also what a machine must offer before real nodes start (:func:`preflight`), each missing
capability named in one line, and a snapshot of the machine's network state that tests
compare before ``up`` and after ``down``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from souverain.devcluster.nodefiles import BRIDGE_PREFIX, CNI_BIN_DIR, HOST_ADDRESS

SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
"""Forwarding between the host and the bridge, and bridged traffic through iptables, so
that a Service's address is translated for a pod on the same bridge as its backend."""

PACKAGES = {
    "containerd": "containerd",
    "ctr": "containerd",
    "crun": "crun",
    "unshare": "util-linux",
    "iptables": "iptables",
    "ip": "iproute2",
}
"""The commands real nodes run, and the Debian package of each."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def preflight() -> list[str]:
    """What this machine lacks for real nodes, one line each (empty when nothing)."""
    problems: list[str] = []
    if os.geteuid() != 0:
        problems.append("real nodes need root (containerd, network namespaces, iptables)")
    missing = sorted({package for cmd, package in PACKAGES.items() if not shutil.which(cmd)})
    if missing:
        problems.append(
            f"real nodes need the Debian packages {', '.join(missing)} (apt-get install)"
        )
    plugins = [p for p in ("bridge", "host-local", "loopback") if not (CNI_BIN_DIR / p).exists()]
    if plugins:
        problems.append(
            f"no CNI plugins {', '.join(plugins)} in {CNI_BIN_DIR} "
            "(Debian package containernetworking-plugins)"
        )
    filesystems = (
        Path("/proc/filesystems").read_text() if Path("/proc/filesystems").exists() else ""
    )
    if not re.search(r"\boverlay\b", filesystems):
        problems.append("no overlayfs in this kernel (containerd's snapshotter needs it)")
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append(
            "no bridge netfilter (net.bridge.bridge-nf-call-iptables; modprobe br_netfilter)"
        )
    namespaces = Path("/proc/sys/user/max_user_namespaces")
    if namespaces.exists() and namespaces.read_text().strip() == "0":
        problems.append("user namespaces are disabled (user.max_user_namespaces is 0)")
    if not Path("/proc/self/ns/mnt").exists() or not Path("/proc/self/ns/net").exists():
        problems.append("no mount or network namespaces in this kernel")
    return problems


def read_sysctl(name: str) -> str:
    return (Path("/proc/sys") / name).read_text().strip()


def write_sysctl(name: str, value: str) -> None:
    (Path("/proc/sys") / name).write_text(value)


def setup() -> dict[str, object]:
    """Adds the host address and sets the sysctls; returns what to undo at ``down``."""
    undo: dict[str, object] = {"sysctls": {}, "address": False}
    sysctls: dict[str, str] = {}
    for name, value in SYSCTLS.items():
        before = read_sysctl(name)
        if before != value:
            write_sysctl(name, value)
            sysctls[name] = before
    undo["sysctls"] = sysctls
    undo["chains"] = iptables_chains()
    present = _run("ip", "-o", "addr", "show", "dev", "lo").stdout
    if f" {HOST_ADDRESS}/" not in present:
        _run("ip", "addr", "add", f"{HOST_ADDRESS}/32", "dev", "lo")
        undo["address"] = True
    return undo


TABLES = ("filter", "nat", "mangle", "raw")


def iptables_chains() -> dict[str, list[str]]:
    """The chains of each iptables table, as they are now."""
    chains: dict[str, list[str]] = {}
    for table in TABLES:
        listed = _run("iptables", "-t", table, "-S", check=False).stdout.splitlines()
        chains[table] = sorted(
            line.split()[1] for line in listed if line.startswith(("-N ", "-P "))
        )
    return chains


def remove_chains_since(before: dict[str, list[str]]) -> None:
    """Removes the chains made since ``before`` (kube-proxy's and the kubelet's, when
    ``kube-proxy --cleanup`` left any) and the rules that jump to them."""
    for table, chains in iptables_chains().items():
        made = [c for c in chains if c not in before.get(table, [])]
        if not made:
            continue
        for line in _run("iptables", "-t", table, "-S", check=False).stdout.splitlines():
            words = line.split()
            jumps = "-j" in words and words[words.index("-j") + 1] in made
            if words[:1] == ["-A"] and jumps and words[1] not in made:
                _run("iptables", "-t", table, "-D", *words[1:], check=False)
        for chain in made:
            _run("iptables", "-t", table, "-F", chain, check=False)
        for chain in made:
            _run("iptables", "-t", table, "-X", chain, check=False)


def share(folder: Path) -> None:
    """Makes ``folder`` a shared mount of its own, so that mounts the kubelet makes under it
    reach containerd's mount namespace."""
    folder.mkdir(parents=True, exist_ok=True)
    _run("mount", "--bind", str(folder), str(folder))
    _run("mount", "--make-rshared", str(folder))


def unmount_under(folder: Path) -> None:
    """Unmounts every mount at or under ``folder`` (the kubelet's volumes, the shared bind
    mount), deepest first."""
    resolved = str(folder.resolve())
    for _ in range(3):
        targets = [
            line.split()[1].replace("\\040", " ")
            for line in Path("/proc/self/mounts").read_text().splitlines()
            if len(line.split()) > 1
        ]
        mine = [t for t in targets if t == resolved or t.startswith(resolved + "/")]
        if not mine:
            return
        for target in sorted(set(mine), key=len, reverse=True):
            _run("umount", "--lazy", target, check=False)


def teardown(undo: dict[str, object], kube_proxy: Path | None, bridges: list[str]) -> None:
    """Removes kube-proxy's rules, the bridges and the host address; restores the sysctls."""
    if kube_proxy is not None and kube_proxy.exists():
        _run(str(kube_proxy), "--cleanup", check=False)
    chains = undo.get("chains")
    if isinstance(chains, dict):
        remove_chains_since(chains)
    for bridge in bridges:
        if bridge.startswith(BRIDGE_PREFIX) and Path(f"/sys/class/net/{bridge}").exists():
            _run("ip", "link", "del", bridge, check=False)
    if undo.get("address"):
        _run("ip", "addr", "del", f"{HOST_ADDRESS}/32", "dev", "lo", check=False)
    sysctls = undo.get("sysctls")
    if isinstance(sysctls, dict):
        for name, value in sysctls.items():
            write_sysctl(str(name), str(value))


def snapshot() -> dict[str, list[str]]:
    """The machine's network state that real nodes touch: links, addresses, iptables rules
    and chains other than the built-in ones (an empty table is no rule), network
    namespaces, and the sysctls."""

    def lines(*argv: str) -> list[str]:
        result = _run(*argv, check=False)
        return sorted(line for line in result.stdout.splitlines() if line.strip())

    builtin = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}
    saved = lines("iptables-save")
    rules = [line for line in saved if line.startswith("-")]
    chains = [
        line.split()[0]
        for line in saved
        if line.startswith(":") and line.split()[0][1:] not in builtin
    ]
    return {
        "links": [line.split(":")[1].strip() for line in lines("ip", "-o", "link")],
        "addresses": [" ".join(line.split()[1:4]) for line in lines("ip", "-o", "addr")],
        "iptables": sorted(rules + chains),
        "netns": lines("ip", "netns", "list"),
        "sysctls": [
            f"{name}={read_sysctl(name)}" for name in SYSCTLS if (Path("/proc/sys") / name).exists()
        ],
    }
