"""The VM lab's naming and inventory rules (no qemu needed)."""

import pytest
import yaml

from sclab import vm
from sclab.lab import HOSTS_BEGIN, HOSTS_END
from sclab.system import LabError


def _lab(nodes=2):
    return vm.VmLab(name="vmt", nodes=nodes, memory=1024, cpus=1, data_disk="256M", subnet="10.213.7.0/24", image="0123456789ab")


def test_link_names_fit_the_kernel_limit_and_differ_per_lab():
    names = ["a", "vmt", "a-very-long-lab-name", "a-very-long-lab-namf"]
    bridges = [vm.bridge_name(n) for n in names]
    assert len(set(bridges)) == len(names)
    assert all(len(b) <= 15 and b.startswith("scv") for b in bridges)
    assert all(len(n.tap) <= 15 for n in vm.VmLab(**{**vars(_lab()), "nodes": vm.MAX_NODES}).node_list())


def test_nodes_follow_the_lab_conventions():
    nodes = _lab(3).node_list()
    assert [(n.name, n.address) for n in nodes] == [("ha1", "10.213.7.11"), ("ha2", "10.213.7.12"), ("ha3", "10.213.7.13")]
    assert nodes[0].tap == vm.bridge_name("vmt") + "t1"


def test_macs_are_stable_and_distinct():
    assert vm.mac_address("vmt", "ha1") == vm.mac_address("vmt", "ha1")
    macs = {vm.mac_address(lab, node) for lab in ("vmt", "other") for node in ("ha1", "ha2")}
    assert len(macs) == 4
    assert all(mac.startswith("52:54:00:") for mac in macs)


def test_qemu_markers_do_not_match_a_lab_whose_name_extends_another():
    assert not vm.VmLab(**{**vars(_lab()), "name": "vmt2"}).marker(_lab().node("ha1")).startswith("guest=sclab:vmt:")
    assert _lab().marker(_lab().node("ha1")) == "guest=sclab:vmt:ha1,"


@pytest.mark.parametrize(("text", "size"), [("256M", 256 << 20), ("1G", 1 << 30), ("512MiB", 512 << 20), ("65536K", 64 << 20)])
def test_sizes(text, size):
    assert vm.parse_size(text, "--data-disk") == size


@pytest.mark.parametrize("text", ["12Q", "", "1M", "100G"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(LabError, match="--data-disk"):
        vm.parse_size(text, "--data-disk")


def test_inventory_has_the_podman_labs_shape_plus_the_vm_facts():
    data = yaml.safe_load(vm.inventory(_lab()))["all"]
    assert data["vars"]["lab_vm"] is True and data["vars"]["lab_layout"] == "vm"
    assert data["vars"]["common_apt_proxy"] == "http://10.213.7.1:3942"
    assert data["vars"]["lab_networks"] == {"lab": {"subnet": "10.213.7.0/24", "gateway": "10.213.7.1", "vip_range": "10.213.7.100-10.213.7.199"}}
    assert data["hosts"]["ha2"]["ansible_host"] == "10.213.7.12"
    assert data["hosts"]["ha2"]["lab_vm_pidfile"].endswith("/vms/vmt/ha2.pid")
    assert list(data["children"]["pacemaker_nodes"]["hosts"]) == ["ha1", "ha2"]


def test_hosts_block_uses_the_markers_the_seed_script_replaces():
    block = vm.hosts_block(_lab()).splitlines()
    assert block == [HOSTS_BEGIN, "10.213.7.11\tha1", "10.213.7.12\tha2", HOSTS_END]
    seed_script = (vm.paths.VM_RECIPE_DIR / "sclab-seed").read_text(encoding="utf-8")
    assert HOSTS_BEGIN.startswith("# BEGIN stormclouds lab") and "begin='# BEGIN stormclouds lab'" in seed_script
    assert HOSTS_END.startswith("# END stormclouds lab") and "end='# END stormclouds lab'" in seed_script
