"""The OpenStack modules against the scenario's real Keystone, Nova and Neutron: the
integration playbook (modules.yml) asserts each step itself; this runs it the way an
operator runs a playbook and shows its assertions' outcome."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402


def test_the_modules_place_grow_shrink_and_hold_a_vip_against_real_nova_and_neutron():
    run = labtest.playbook(labtest.SCENARIO / "modules.yml", {}, timeout=1200)
    print(run.stdout[-4000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "failed=0" in run.stdout


def test_the_fixture_has_two_zones_of_two_fake_hosts():
    out = labtest.ssh("cloud1", "runuser -u nova -- nova-manage cell_v2 list_hosts", timeout=60).stdout
    for host in ("compute1", "compute2", "compute3", "compute4"):
        assert f" {host} " in out, out
