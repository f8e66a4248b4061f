"""The benches' host network restore (bench/_engines.py): what a networking dockerd adds to the host is
removed and what it changes is put back, and nothing else is touched. Each case runs in a fresh network
namespace (``unshare -n``), so the real iptables/nft/sysctl/link work touches nothing outside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

PRELUDE = f"""
import json, subprocess, sys
from pathlib import Path
sys.path.insert(0, {str(REPO / "bench")!r})
import _engines as e

def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)

def state():
    return {{"filter": e.iptables_rules("filter"), "nat": e.iptables_rules("nat"),
            "tables": sorted(e.nft_tables()), "links": sorted(lk["ifname"] for lk in e.links()),
            "ip_forward": Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()}}
"""


def in_fresh_netns(body: str) -> dict:
    res = subprocess.run(["unshare", "-n", sys.executable, "-c", PRELUDE + body],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_restore_removes_what_dockerd_added_and_keeps_the_rest() -> None:
    out = in_fresh_netns("""
Path("/proc/sys/net/ipv4/ip_forward").write_text("0")
sh("iptables", "-A", "INPUT", "-s", "10.99.0.1/32", "-j", "ACCEPT")         # there before
st = e.HostNetState()
# what dockerd 20.10 does with --bridge=kbt0, iptables and ip-forward on (ip_forward was 0)
sh("ip", "link", "add", "kbt0", "type", "bridge")
sh("ip", "link", "add", "vt1", "type", "veth", "peer", "name", "vt2")
sh("ip", "link", "set", "vt1", "master", "kbt0")
Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
sh("iptables", "-P", "FORWARD", "DROP")
for c in ("DOCKER", "DOCKER-USER", "DOCKER-ISOLATION-STAGE-1"):
    sh("iptables", "-N", c)
sh("iptables", "-A", "DOCKER-USER", "-j", "RETURN")
sh("iptables", "-A", "DOCKER-ISOLATION-STAGE-1", "-i", "kbt0", "!", "-o", "kbt0", "-j", "DROP")
sh("iptables", "-A", "FORWARD", "-j", "DOCKER-USER")
sh("iptables", "-A", "FORWARD", "-j", "DOCKER-ISOLATION-STAGE-1")
sh("iptables", "-A", "FORWARD", "-o", "kbt0", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")
sh("iptables", "-A", "FORWARD", "-i", "kbt0", "!", "-o", "kbt0", "-j", "ACCEPT")
sh("iptables", "-t", "nat", "-N", "DOCKER")
sh("iptables", "-t", "nat", "-A", "PREROUTING", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER")
sh("iptables", "-t", "nat", "-A", "OUTPUT", "!", "-d", "127.0.0.0/8", "-m", "addrtype", "--dst-type", "LOCAL", "-j", "DOCKER")
sh("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.217.0.0/24", "!", "-o", "kbt0", "-j", "MASQUERADE")
sh("iptables", "-A", "OUTPUT", "-d", "10.98.0.1/32", "-j", "ACCEPT")          # someone else's, added meanwhile
during = state()
e.delete_bridge("kbt0")
done = st.restore(["kbt0"])
print(json.dumps({"during": during, "after": state(), "done": done}))
""")
    during, after = out["during"], out["after"]
    assert any("DOCKER" in ln for ln in during["filter"]) and "ip nat" in during["tables"]
    assert after["filter"] == [":INPUT ACCEPT", ":FORWARD ACCEPT", ":OUTPUT ACCEPT",
                               "-A INPUT -s 10.99.0.1/32 -j ACCEPT", "-A OUTPUT -d 10.98.0.1/32 -j ACCEPT"]
    # nat did not exist before: deleted (iptables-save still prints a missing table's built-in chains)
    assert after["tables"] == ["ip filter"] and not [ln for ln in after["nat"] if ln.startswith("-A ")]
    assert "table ip nat (empty, did not exist before)" in out["done"]
    assert after["ip_forward"] == "0"
    assert after["links"] == ["lo"]  # the bridge and the veth enslaved to it
    assert "filter: policy FORWARD DROP -> ACCEPT" in out["done"]


def test_restore_leaves_an_untouched_host_alone() -> None:
    out = in_fresh_netns("""
sh("iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.97.0.0/24", "-j", "MASQUERADE")
before = state()
st = e.HostNetState()
done = st.restore(["kbt0"])
e.delete_bridge("kbt0")   # absent: nothing to do
print(json.dumps({"before": before, "after": state(), "done": done}))
""")
    assert out["done"] == []
    assert out["after"] == out["before"]
