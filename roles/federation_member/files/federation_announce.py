"""The site's announcer: keeps its record in the federation registry alive.

Run by federation-announce.service: announces the record from the configuration file
given as the only argument, then renews its lease every interval; the record is written
again only when it changed or its lease was lost (the registry unreachable for longer
than the TTL). Reads the site's password from the file named in the configuration.
"""

import json
import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import etcd_gateway as eg  # noqa: E402  (beside this file)

LOG = logging.getLogger("federation-announce")


def read_password(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()


def main(argv):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    password = read_password(config["password_file"])
    ttl = int(config["ttl"])
    interval = float(config["interval"])
    record = eg.make_record(config["site_id"], config["endpoints"], config["capacity"], config["version"])
    errors = eg.validate_site(record["site_id"], record["endpoints"], ttl, record["capacity"])
    if errors:
        LOG.error("refusing the configuration in %s: %s", argv[1], "; ".join(errors))
        return 2
    # A member that does not answer must not cost the whole TTL: try the next one soon.
    gateway = eg.Gateway(config["registry_urls"], ca_file=config.get("ca_cert") or None, user=config["user"],
                         password=password, timeout=max(1.0, min(5.0, ttl / 6.0)))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    failing = False
    while not stop.is_set():
        try:
            outcome = eg.announce(gateway, config["prefix"], record, ttl)
            if outcome["written"]:
                LOG.info("announced %s to %s (lease %x, ttl %d s)", record["site_id"], gateway.last_endpoint,
                         outcome["lease"], ttl)
            elif failing:
                LOG.info("registry reachable again through %s; lease %x kept", gateway.last_endpoint,
                         outcome["lease"])
            failing = False
        except (eg.EtcdError, OSError, ValueError) as exc:
            # Keep trying: the record expires only after the TTL, and the next success announces it again.
            LOG.warning("announcement failed: %s", exc)
            failing = True
            if "authentication failed" in str(exc):
                # The password may have been changed since the start: take the file's again.
                gateway.password = read_password(config["password_file"])
        stop.wait(interval)
    if config.get("withdraw_on_stop"):
        try:
            eg.withdraw(gateway, config["prefix"], record["site_id"])
            LOG.info("withdrew %s", record["site_id"])
        except (eg.EtcdError, OSError) as exc:
            LOG.warning("withdrawal failed (the record expires after %d s): %s", ttl, exc)
    gateway.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
