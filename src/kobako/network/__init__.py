"""Container networking: bridges and veths (rtnetlink), IPAM, sandboxes (network namespaces),
the embedded DNS server, published ports (nftables DNAT) and the files /etc/hosts,
/etc/resolv.conf and /etc/hostname. See ``NetworkManager`` for the lifecycle."""

from ._files import hosts_file, resolv_conf
from ._ipam import AddressPool, PoolSpec
from ._manager import Attachment, NetworkConfig, NetworkManager
from ._model import Endpoint, Network, NetworkExists, NetworkInUse, NoSuchNetwork
from ._ports import parse_port_key, summary_ports

__all__ = ["AddressPool", "Attachment", "Endpoint", "Network", "NetworkConfig", "NetworkExists", "NetworkInUse",
           "NetworkManager", "NoSuchNetwork", "PoolSpec", "hosts_file", "parse_port_key", "resolv_conf",
           "summary_ports"]
