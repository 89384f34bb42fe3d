"""Shared pytest settings: the lab package is importable from tools/lab."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "lab"))

# The collection's plugins import each other as ansible_collections.stormclouds.platform;
# tools/lab/env.sh links the repository there (ansible.cfg's collections_path).
_collections = Path(__file__).resolve().parents[1] / ".cache" / "collections"
_link = _collections / "ansible_collections" / "stormclouds" / "platform"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    _link.symlink_to(Path(__file__).resolve().parents[1])
sys.path.insert(0, str(_collections))
