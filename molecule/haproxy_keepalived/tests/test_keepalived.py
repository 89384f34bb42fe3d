"""The HAProxy pair with keepalived moving the VIP: one holder at a time, the VIP moves
when its holder dies or when HAProxy stops on it (the track script), and does not move
back when the first node returns (nopreempt)."""

import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.environ["MOLECULE_PROJECT_DIRECTORY"], "molecule", "shared"))
import labtest  # noqa: E402

PAIR = ("lb1", "lb2")


def holders():
    vip = labtest.first_vip()
    return [n for n in PAIR if labtest.ssh(n, "ip -4 -o addr show").returncode == 0
            and f" {vip}/" in labtest.ssh(n, "ip -4 -o addr show").stdout]


def answers():
    try:
        with urllib.request.urlopen(f"http://{labtest.first_vip()}:8080/hostname", timeout=1) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_one_holder_and_the_backend_answers_through_the_vip():
    labtest.wait_for(lambda: (len(holders()) == 1, holders()), 30, "exactly one node holding the VIP")
    assert answers()


def test_vip_moves_when_haproxy_stops_on_its_holder():
    holder = holders()[0]
    labtest.ssh(holder, "systemctl stop haproxy")
    try:
        labtest.wait_for(lambda: (holders() == [n for n in PAIR if n != holder], holders()), 20,
                         "the VIP on the other node after HAProxy stopped on its holder")
        labtest.wait_for(lambda: (answers(), None), 10, "the backend answering through the VIP")
    finally:
        labtest.ssh(holder, "systemctl start haproxy")


def test_vip_moves_when_its_holder_dies_and_stays():
    holder = holders()[0]
    other = next(n for n in PAIR if n != holder)
    started = time.monotonic()
    labtest.kill(holder)
    labtest.wait_for(lambda: (answers(), None), 30, "the backend answering through the VIP after the kill")
    print(f"VIP answered from {other} {time.monotonic() - started:.2f} s after {holder} was killed")
    labtest.boot_again()
    time.sleep(10)
    # nopreempt: the returning node does not take the VIP back.
    assert holders() == [other]
