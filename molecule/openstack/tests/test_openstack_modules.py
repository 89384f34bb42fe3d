"""The OpenStack modules against the scenario's real Keystone, Nova and Neutron: the
integration playbook (modules.yml) asserts each step itself; this runs it the way an
operator runs a playbook and shows its assertions' outcome."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

# Removes what either test made; both run it first, so a verify after a failed one starts clean.
UNPROVISION = ["ansible-playbook", str(labtest.SCENARIO / "unprovision.yml")]


def test_the_modules_place_grow_shrink_and_hold_a_vip_against_real_nova_and_neutron(tmp_path):
    clean = _run(UNPROVISION, _cloud_env(tmp_path))
    assert clean.returncode == 0, clean.stdout[-4000:]
    run = labtest.playbook(labtest.SCENARIO / "modules.yml", {}, timeout=1200)
    print(run.stdout[-4000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "failed=0" in run.stdout


def test_the_fixture_has_two_zones_of_two_fake_hosts():
    out = labtest.ssh("cloud1", "runuser -u nova -- nova-manage cell_v2 list_hosts", timeout=60).stdout
    for host in ("compute1", "compute2", "compute3", "compute4"):
        assert f" {host} " in out, out


def _cloud_env(tmp_path):
    """An operator's environment: a clouds.yaml naming the lab cloud `scp` (the name the
    project's inventory file expects) as the fixture's project member."""
    address = labtest.hostvar("cloud1", "ansible_host")
    (tmp_path / "clouds.yaml").write_text(json.dumps({"clouds": {"scp": {
        "auth": {"auth_url": f"http://{address}:5000/v3", "username": "deployer",
                 "password": "deployer-test-password-4", "project_name": "platform",
                 "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne", "identity_api_version": 3}}}))
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "OS_"))}
    env.update(ANSIBLE_CONFIG=str(labtest.PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               OS_CLIENT_CONFIG_FILE=str(tmp_path / "clouds.yaml"), OS_CLOUD="scp")
    return env


def _run(cmd, env, timeout=1200):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=timeout,
                          cwd=labtest.PROJECT, stdin=subprocess.DEVNULL)


def test_provision_places_the_platform_and_the_inventory_groups_it_for_site_yml(tmp_path):
    env = _cloud_env(tmp_path)
    assert _run(UNPROVISION, env).returncode == 0
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "key")], check=True,
                   stdin=subprocess.DEVNULL)
    key = _run(["ansible", "localhost", "-m", "openstack.cloud.keypair", "-a",
                json.dumps({"name": "provision-test", "public_key": (tmp_path / "key.pub").read_text().strip()})], env)
    assert key.returncode == 0, key.stdout + key.stderr
    provision = ["ansible-playbook", "-i", "inventory/openstack/openstack.yml", "playbooks/provision.yml",
                 "--tags", "provision", "-e", json.dumps({
                     "provision_cloud": "scp", "provision_image": "fake-image", "provision_network": "provider",
                     "provision_availability_zones": ["az1", "az2"], "provision_key_name": "provision-test",
                     "provision_admin_cidr": "198.51.100.0/24",
                     "provision_flavor_small": "m1.tiny", "provision_flavor_large": "m1.small"})]
    try:
        first = _run(provision, env)
        assert first.returncode == 0, first.stdout[-6000:] + first.stderr[-2000:]
        again = _run(provision, env)
        assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
        recap = [line for line in again.stdout.splitlines() if line.startswith("localhost ")]
        assert recap and "changed=0" in recap[0], again.stdout[-6000:]

        listed = _run(["ansible-inventory", "-i", "inventory/openstack/openstack.yml", "--list"], env)
        assert listed.returncode == 0, listed.stderr
        inventory = json.loads(listed.stdout)

        def hosts(group):
            return sorted(inventory.get(group, {}).get("hosts", []))

        assert hosts("galera_nodes") == ["db-1", "db-2"]
        assert hosts("galera_arbitrator") == ["quorum-1"]
        assert hosts("haproxy_nodes") == ["lb-1", "lb-2"]
        # The HAProxy pair is the Pacemaker cluster that moves its VIP, the arbitrator its qnetd.
        assert hosts("pacemaker_nodes") == ["lb-1", "lb-2"]
        assert hosts("pacemaker_quorum") == ["quorum-1"]
        assert hosts("zabbix_servers") == ["zabbix-1", "zabbix-2"]
        assert hosts("frt_server") == ["dmz-1"]
        assert len(hosts("zabbix_agents")) == 9
        # ansible-inventory's JSON marks values from an inventory plugin as untrusted:
        # {"__ansible_unsafe": "192.0.2.5"}.
        meta = {host: {name: value.get("__ansible_unsafe", value) if isinstance(value, dict) else value
                       for name, value in hostvars.items()}
                for host, hostvars in inventory["_meta"]["hostvars"].items()}
        # Reached on their fixed address; each HA pair spread over both zones.
        assert all(meta[h]["ansible_host"].startswith("192.0.2.") for h in hosts("zabbix_agents"))
        for group in ("galera_nodes", "haproxy_nodes", "zabbix_servers"):
            assert sorted(meta[h]["stormclouds_availability_zone"] for h in hosts(group)) == ["az1", "az2"]
        # The arbitrator in the last zone: the zone of a pair's second member, not of both.
        assert meta["quorum-1"]["stormclouds_availability_zone"] == "az2"
    finally:
        cleanup = _run(UNPROVISION, env)
        assert cleanup.returncode == 0, cleanup.stdout[-4000:]
