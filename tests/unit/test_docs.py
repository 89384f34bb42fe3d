"""The reference pages under docs/ match the roles' argument_specs and the modules'
DOCUMENTATION they are generated from."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_generated_reference_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "docs" / "generate.py"), "--check"],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr


def test_every_role_and_module_has_a_page():
    roles = {p.parent.parent.name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml")}
    modules = {p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if p.name != "__init__.py"}
    assert roles and modules
    assert {p.stem for p in (ROOT / "docs" / "roles").glob("*.md")} == roles
    assert {p.stem for p in (ROOT / "docs" / "modules").glob("*.md")} == modules
    index = (ROOT / "docs" / "reference.md").read_text()
    assert all(f"(roles/{r}.md)" in index for r in roles) and all(f"(modules/{m}.md)" in index for m in modules)
