"""The lab's block in a node's /etc/hosts: replaced in place, everything else kept."""

from sclab.lab import HOSTS_BEGIN, HOSTS_END, Plan, hosts_block, with_hosts_block
from sclab.layout import parse
from sclab.network import POOL


def _plan():
    lay = parse("t", {"nodes": [{"name": "node1"}, {"name": "node2"}]})
    return Plan(name="t", layout=lay, subnets={"lan": next(POOL.subnets(new_prefix=24))})


def test_block_lists_every_node_at_its_primary_address():
    block = hosts_block(_plan())
    assert block.splitlines() == [HOSTS_BEGIN, "10.213.0.11\tnode1", "10.213.0.12\tnode2", HOSTS_END]


def test_block_is_appended_once_and_then_replaced_in_place():
    role_block = "# BEGIN role block\n10.0.0.100\tvip\n# END role block\n"
    start = "127.0.0.1\tlocalhost\n" + role_block
    first = with_hosts_block(start, hosts_block(_plan()))
    assert first.startswith(start)
    assert with_hosts_block(first, hosts_block(_plan())) == first
    changed = with_hosts_block(first, f"{HOSTS_BEGIN}\n10.213.0.11\tnode1\n{HOSTS_END}\n")
    assert "node2" not in changed
    assert role_block in changed and changed.count(HOSTS_BEGIN) == 1


def test_a_file_without_final_newline_keeps_its_last_line():
    out = with_hosts_block("127.0.0.1 localhost", hosts_block(_plan()))
    assert out.startswith("127.0.0.1 localhost\n" + HOSTS_BEGIN)
