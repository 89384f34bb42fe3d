# Sourced by ./lab and ./run-tests: the project's Python environment, created or
# refreshed when requirements.txt changes, and the settings every tool shares.
# shellcheck shell=bash
PROJECT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV="${SCLAB_VENV:-$PROJECT_DIR/.venv}"

sclab_need_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "lab: run as root (the lab creates podman networks and installs Debian packages)" >&2
    exit 2
  fi
}

sclab_ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$PROJECT_DIR/requirements.txt" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    sclab_need_root
    echo "lab: installing python3-venv from Debian" >&2
    apt-get update >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv >/dev/null
  fi
  echo "lab: installing the Python requirements into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$PROJECT_DIR/requirements.txt"
  echo "$want" > "$stamp"
}

sclab_ensure_collection_link() {
  # Ansible finds this checkout as the collection stormclouds.platform through a
  # collections path inside the project (ansible.cfg points at it).
  local dir="$PROJECT_DIR/.cache/collections/ansible_collections/stormclouds"
  mkdir -p "$dir"
  if [ "$(readlink "$dir/platform" 2>/dev/null)" != "$PROJECT_DIR" ]; then
    ln -sfn "$PROJECT_DIR" "$dir/platform"
  fi
}

sclab_env() {
  sclab_ensure_venv
  sclab_ensure_collection_link
  export PATH="$VENV/bin:$PATH"
  export PYTHONPATH="$PROJECT_DIR/tools/lab${PYTHONPATH:+:$PYTHONPATH}"
  export ANSIBLE_CONFIG="$PROJECT_DIR/ansible.cfg"
  # The lab's ssh masters in one place the lab CLI cleans up; not in ansible.cfg, which
  # AWX's execution environments read too (an unprivileged user there cannot use /run).
  export ANSIBLE_SSH_CONTROL_PATH_DIR=/run/stormclouds-lab/ssh-cp
  export CONTAINERS_CONF="$PROJECT_DIR/tools/lab/podman/containers.conf"
  export CONTAINERS_STORAGE_CONF="$PROJECT_DIR/tools/lab/podman/storage.conf"
  # Mitogen's strategies are found, not chosen: ANSIBLE_STRATEGY=mitogen_linear picks
  # one (README, "Faster runs"); without it every run uses Ansible's own.
  local strategies
  for strategies in "$VENV"/lib/python3*/site-packages/ansible_mitogen/plugins/strategy; do
    [ -d "$strategies" ] && export ANSIBLE_STRATEGY_PLUGINS="$strategies"
  done
}
