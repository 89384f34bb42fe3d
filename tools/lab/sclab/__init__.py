"""The stormclouds.platform lab: Debian 12 systemd nodes in podman for site.yml, Molecule, CI and benchmarks."""
