"""Hosts of our own on one machine: network namespaces on a bridge, links to cut, loss, a delay.

    root namespace (the test) ─ RUNr ─┐        namespace RUN-sw
                                       └ tests ┬─ br0 ─┬─ broker ── eth0 in RUN-broker   198.18.N.1
                                              │       ├─ worker1 ─ eth0 in RUN-worker1  198.18.N.2
                                              │       └─ …
    the test itself is 198.18.N.254, on the bridge like any host

``RUN`` is ``rzh`` + the test process's pid in hex + ``x`` + a counter, so two runs never share a
name, and names left by a run that crashed (its pid gone) are removed when the next one starts.
Addresses come only from 198.18.0.0/15 (set aside for benchmarks, RFC 2544): a /24 per network
that no route of this machine uses yet. Nothing is sent anywhere else.

A ``Host`` runs a command inside its namespace with an explicit environment (``command``),
cuts its link to the bridge and heals it (``cut``, ``heal``: the bridge's end of its veth goes
down, so the host sees silence, not an error), and filters its own packets with iptables in its
namespace (``drop_packets`` at random, ``block`` an address); ``tcp_relay.py`` delays a TCP
path. ``Network.close()`` stops every process left in its namespaces, deletes them (which
deletes their veths and the bridge) and checks that nothing of it is left.

Needs root and iproute2's ``ip``; the filters need iptables (``why_not``, ``iptables_missing``
say why a test must be skipped). ``scripts/ensure-network-tools`` installs both on Debian.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from itertools import count
from pathlib import Path

from harness.processes import REPO_ROOT

PREFIX = "rzh"
#: The range every address comes from (RFC 2544's benchmarking range).
RANGE = ipaddress.ip_network("198.18.0.0/15")
#: Seconds any ``ip`` or ``iptables`` command may take.
COMMAND_TIMEOUT_S = 30
#: Held while a network picks its /24 and adds its route, so two runs never pick the same.
LOCK_FILE = Path("/run/lock") / f"{PREFIX}-netns.lock"
#: The variables a process in a host gets, besides those the caller gives (``env -i``).
PASSED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
_networks = count()


def why_not() -> str | None:
    """Why network namespaces cannot be made here, or ``None`` if they can."""
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "making network namespaces needs root (sudo .venv/bin/python -m pytest ...)"
    if shutil.which("ip") is None:
        return "iproute2's ip is missing (scripts/ensure-network-tools installs it)"
    return None


def iptables_missing() -> str | None:
    """Why packets cannot be filtered inside a namespace, or ``None`` if they can."""
    no_namespaces = why_not()
    if no_namespaces is not None:
        return no_namespaces
    if shutil.which("iptables") is None:
        return "iptables is missing (scripts/ensure-network-tools installs it)"
    return None


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def namespaces() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").stdout.splitlines() if line.strip()]


def root_links() -> list[str]:
    return re.findall(r"^\d+: ([^:@]+)", run("ip", "-o", "link").stdout, flags=re.MULTILINE)


def _owner(name: str) -> int | None:
    match = re.match(rf"{PREFIX}([0-9a-f]+)x", name)
    return int(match.group(1), 16) if match else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_everything_in(namespace: str) -> None:
    pids = run("ip", "netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def remove_stale() -> list[str]:
    """Remove what runs whose process is gone left behind; returns the names removed."""
    removed = []
    for name in namespaces():
        owner = _owner(name)
        if owner is not None and not _alive(owner):
            _kill_everything_in(name)
            run("ip", "netns", "del", name, check=False)
            removed.append(name)
    for name in root_links():
        owner = _owner(name)
        if owner is not None and not _alive(owner):
            run("ip", "link", "del", name, check=False)
            removed.append(name)
    return removed


def _used_networks() -> list[ipaddress.IPv4Network]:
    used = []
    for line in run("ip", "-4", "route", "show", "table", "all").stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        try:
            used.append(ipaddress.ip_network(word if "/" in word else f"{word}/32", strict=False))
        except ValueError:
            continue
    return used


class Host:
    """One namespace on the bridge, with one address."""

    def __init__(self, network: Network, name: str, address: str):
        self.network = network
        self.name = name
        self.namespace = f"{network.run}-{name}"
        self.address = address

    def command(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> list[str]:
        """``argv`` run inside this host, with only ``PASSED_VARIABLES``, ``PYTHONPATH`` (this
        checkout) and ``env`` in its environment."""
        chosen = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
        chosen["PYTHONPATH"] = str(REPO_ROOT)
        chosen.update(env or {})
        return ["ip", "netns", "exec", self.namespace, "env", "-i",
                *(f"{name}={value}" for name, value in chosen.items()), *argv]

    def cut(self) -> None:
        """Unplug the host: the bridge's end of its veth goes down; nothing arrives either way."""
        run("ip", "-n", self.network.switch, "link", "set", "dev", self.name, "down")

    def heal(self) -> None:
        run("ip", "-n", self.network.switch, "link", "set", "dev", self.name, "up")

    def iptables(self, *args: str) -> None:
        run("ip", "netns", "exec", self.namespace, "iptables", "-w", "5", *args)

    def drop_packets(self, probability: float) -> None:
        """Drop each packet in and out of this host's link (not its loopback) with ``probability``."""
        for chain, interface in (("INPUT", "-i"), ("OUTPUT", "-o")):
            self.iptables("-A", chain, interface, "eth0", "-m", "statistic", "--mode", "random",
                          "--probability", str(probability), "-j", "DROP")

    def block(self, address: str) -> None:
        """Drop every packet between this host and ``address``: cut off from it alone."""
        self.iptables("-A", "OUTPUT", "-d", address, "-j", "DROP")
        self.iptables("-A", "INPUT", "-s", address, "-j", "DROP")

    def clear_filters(self) -> None:
        self.iptables("-F")

    def __repr__(self) -> str:
        return f"<host {self.name} {self.address} in {self.namespace}>"


class Network:
    """A bridge, the test's own leg on it, and hosts; ``with Network() as net: net.add_host(...)``."""

    def __init__(self) -> None:
        self.run = f"{PREFIX}{os.getpid():x}x{next(_networks)}"
        self.switch = f"{self.run}-sw"
        self.root_link = f"{self.run}r"
        self.hosts: dict[str, Host] = {}
        self.subnet: ipaddress.IPv4Network | None = None
        self.own_address: str | None = None

    def __enter__(self) -> Network:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        remove_stale()
        run("ip", "netns", "add", self.switch)
        run("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", "br0", "up")
        run("ip", "link", "add", self.root_link, "type", "veth", "peer", "name", "tests",
            "netns", self.switch)
        run("ip", "-n", self.switch, "link", "set", "dev", "tests", "master", "br0", "up")
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with open(LOCK_FILE, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self.subnet = self._free_subnet()
            self.own_address = str(self.subnet.network_address + 254)
            run("ip", "addr", "add", f"{self.own_address}/24", "dev", self.root_link)
            run("ip", "link", "set", "dev", self.root_link, "up")

    def _free_subnet(self) -> ipaddress.IPv4Network:
        used = _used_networks()
        subnets = list(RANGE.subnets(new_prefix=24))
        start = os.getpid() % len(subnets)
        for subnet in subnets[start:] + subnets[:start]:
            if not any(subnet.overlaps(other) for other in used):
                return subnet
        raise RuntimeError(f"every /24 of {RANGE} is in use on this machine")

    def add_host(self, name: str) -> Host:
        """A namespace with ``eth0`` on the bridge, the next address, and loopback up."""
        assert self.subnet is not None, "start the network first"
        address = str(self.subnet.network_address + len(self.hosts) + 1)
        host = Host(self, name, address)
        run("ip", "netns", "add", host.namespace)
        self.hosts[name] = host
        run("ip", "link", "add", "eth0", "netns", host.namespace, "type", "veth",
            "peer", "name", name, "netns", self.switch)
        run("ip", "-n", self.switch, "link", "set", "dev", name, "master", "br0", "up")
        run("ip", "-n", host.namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        run("ip", "-n", host.namespace, "link", "set", "eth0", "up")
        run("ip", "-n", host.namespace, "link", "set", "lo", "up")
        return host

    def leftovers(self) -> list[str]:
        """What of this network still exists: namespaces, the test's leg, processes."""
        left = [name for name in namespaces() if name.startswith(self.run + "-")]
        left += [name for name in root_links() if name.startswith(self.run)]
        return left

    def close(self) -> None:
        """Stop every process in the hosts, delete the namespaces and the test's leg; raises
        if anything of it is still there."""
        for namespace in [h.namespace for h in self.hosts.values()] + [self.switch]:
            if namespace in namespaces():
                _kill_everything_in(namespace)
        deadline = time.monotonic() + COMMAND_TIMEOUT_S
        for namespace in [h.namespace for h in self.hosts.values()] + [self.switch]:
            while run("ip", "netns", "pids", namespace, check=False).stdout.strip():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            run("ip", "netns", "del", namespace, check=False)
        if self.root_link in root_links():
            run("ip", "link", "del", self.root_link, check=False)
        left = self.leftovers()
        if left:
            raise RuntimeError(f"the network {self.run} left {left} behind")
