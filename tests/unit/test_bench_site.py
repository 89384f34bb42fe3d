"""bench/site.py reads where an unchanged site.yml run spends its time from the
profile_tasks lines of the run's output; these tests hold that parser to the format."""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"

# As ansible-playbook prints it with ansible.posix.profile_tasks: each header is followed
# by the time the task before it took, the last one by the PLAY RECAP line's.
OUTPUT = """
PLAY [Base layer on every node] ************************************************

TASK [Gathering Facts] *********************************************************
Monday 23 November 2026  16:45:05 +0000 (0:00:00.036)       0:00:00.036 *******
ok: [db1]

TASK [stormclouds.platform.common : Look up every name] ************************
Monday 23 November 2026  16:45:10 +0000 (0:00:05.300)       0:00:05.336 *******
ok: [db1]

PLAY [Galera data nodes] *******************************************************

TASK [stormclouds.platform.galera : Read the installed packages] ***************
Monday 23 November 2026  16:45:40 +0000 (0:00:29.700)       0:00:35.036 *******
ok: [db1]

RUNNING HANDLER [stormclouds.platform.galera : Restart] ************************
Monday 23 November 2026  16:45:44 +0000 (0:00:04.500)       0:00:39.536 *******
ok: [db1]

PLAY RECAP *********************************************************************
Monday 23 November 2026  16:46:45 +0000 (0:01:01.250)       0:01:40.786 *******
db1                        : ok=4    changed=0    unreachable=0    failed=0
"""


def load_bench():
    # site.py imports its neighbour benchlib; appended, so bench/ shadows no other module.
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_site", BENCH / "site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_task_gets_the_time_printed_under_the_next_header():
    tasks = load_bench().task_seconds(OUTPUT)
    assert tasks == [
        ("Base layer on every node", "Gathering Facts", 5.3),
        ("Base layer on every node", "stormclouds.platform.common : Look up every name", 29.7),
        ("Galera data nodes", "stormclouds.platform.galera : Read the installed packages", 4.5),
        ("Galera data nodes", "stormclouds.platform.galera : Restart", 61.25),
    ]


def test_the_profile_sums_plays_and_ranks_the_slowest_tasks():
    profile = load_bench().profile(OUTPUT, slowest=2)
    assert profile["tasks"] == 4
    assert profile["seconds_by_play"] == {"Base layer on every node": 35.0, "Galera data nodes": 65.8}
    assert [task["seconds"] for task in profile["slowest_tasks"]] == [61.2, 29.7]


def test_output_without_the_callback_gives_an_empty_profile():
    profile = load_bench().profile("PLAY [x] ***\n\nTASK [y] ***\nok: [db1]\n\nPLAY RECAP ***\n")
    assert profile == {"tasks": 1, "seconds_by_play": {"x": 0.0}, "slowest_tasks": [{"task": "y", "play": "x", "seconds": 0.0}]}


def test_cpu_accounting_is_found_in_cgroup_v1_and_v2():
    bench = load_bench()
    v1 = ["4:memory:/libpod_parent/libpod-abc", "2:cpuacct:/libpod_parent/libpod-abc", "1:cpu:/libpod_parent/libpod-abc",
          "0::/"]
    assert bench.cpu_usage_file(v1) == ("/sys/fs/cgroup/cpuacct/libpod_parent/libpod-abc/cpuacct.usage", 1)
    v1_joined = ["3:cpu,cpuacct:/machine.slice/libpod-abc.scope", "0::/"]
    assert bench.cpu_usage_file(v1_joined) == ("/sys/fs/cgroup/cpuacct/machine.slice/libpod-abc.scope/cpuacct.usage", 1)
    v2 = ["0::/machine.slice/libpod-abc.scope/init.scope"]
    assert bench.cpu_usage_file(v2) == ("/sys/fs/cgroup/machine.slice/libpod-abc.scope/cpu.stat", 1000)


def test_cpu_stat_is_read_in_nanoseconds(tmp_path):
    bench = load_bench()
    stat = tmp_path / "cpu.stat"
    stat.write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    assert bench.read_usage(str(stat), 1000) == 1_500_000
    usage = tmp_path / "cpuacct.usage"
    usage.write_text("123456789\n")
    assert bench.read_usage(str(usage), 1) == 123456789


def test_a_strategy_summary_takes_medians_and_judges_the_ratio_goal():
    bench = load_bench()

    def run(cold, second, drill):
        return {"cold": cold, "second": second, "profile": {"tasks": 1}, "rest": {"cores": 0.1},
                "drill": {"galera": {"seconds": drill}}}
    result = bench.summary([run(600.0, 120.0, 2.0), run(640.0, 180.0, 4.0), run(620.0, 140.0, 3.0)])
    assert result["cold_converge"] == {"samples": [600.0, 640.0, 620.0], "median": 620.0}
    assert result["second_converge"]["median"] == 140.0
    assert result["second_to_cold_ratio"] == round(140 / 620, 3)
    assert result["ratio_goal_met"] is True
    assert result["failover_drill_seconds"] == {"galera": 3.0}
    assert bench.summary([run(600.0, 200.0, 2.0)])["ratio_goal_met"] is False
