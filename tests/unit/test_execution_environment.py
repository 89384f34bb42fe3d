"""meta/execution-environment.yml: accepted by ansible-builder (v3 schema) and pinned to
what this project's tests run (requirements.txt and the collections of the pinned
`ansible` package), so AWX runs the versions the tests ran."""

import json
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EE_FILE = ROOT / "meta" / "execution-environment.yml"


def _pins(lines):
    pins = (re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^]]*\])?==(\S+)$", line) for line in lines if "==" in line)
    return dict(match.groups() for match in pins)


def test_ansible_builder_makes_a_build_context(tmp_path):
    builder = Path(sys.executable).with_name("ansible-builder")
    proc = subprocess.run([str(builder), "create", "-f", str(EE_FILE), "--context", str(tmp_path / "context")],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    build = tmp_path / "context" / "_build"
    assert "openstacksdk==" in (build / "requirements.txt").read_text()
    assert "openstack.cloud" in (build / "requirements.yml").read_text()
    assert "ansible-core==" in (tmp_path / "context" / "Containerfile").read_text()


def test_the_pins_are_the_tested_versions():
    ee = yaml.safe_load(EE_FILE.read_text())
    tested = _pins((ROOT / "requirements.txt").read_text().splitlines())
    deps = ee["dependencies"]
    assert deps["ansible_core"]["package_pip"] == f"ansible-core=={tested['ansible-core']}"
    for name, version in _pins(deps["python"]).items():
        assert tested.get(name) == version, f"{name}=={version} in the EE, {tested.get(name)} in requirements.txt"
    collections_dir = Path(metadata.distribution("ansible").locate_file("ansible_collections"))
    for collection in deps["galaxy"]["collections"]:
        namespace, name = collection["name"].split(".")
        manifest = json.loads((collections_dir / namespace / name / "MANIFEST.json").read_text())
        assert manifest["collection_info"]["version"] == collection["version"], collection["name"]
