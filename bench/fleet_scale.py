#!/usr/bin/env python3
"""Benchmark: playbooks/site.yml over a fleet of Docker hosts, rolling with `serial`, and the audit.

In one run, on fresh Debian 12 hosts (systemd, Docker 20.10, network none) on the private outer
dockerd, reached with the community.docker.docker connection:
  1. site.yml on 1 host alone                      -> fleet_1_host_s
  2. site.yml on 6 other hosts, serial 3 (2 batches) -> fleet_6_hosts_s, fleet_6_over_1
  3. site.yml again on the 6 hosts (nothing to change) -> fleet_noop_6_s, fleet_noop_changed
  4. enforcement removed by hand on one host, then playbooks/audit.yml over the 6 hosts
                                                    -> audit_6_hosts_s, audit_failing_hosts
For runs 1 and 2 it also prints the CPU time the whole machine spent (controller, outer dockerd and
hosts share its cores) and the floor that puts under the ratio: 6 hosts cannot finish before their
CPU time spread over every core, fleet_6_over_1_cpu_floor = (fleet_6_hosts_cpu_s / cores) / fleet_1_host_s.
Ansible settings: see TUNED_ANSIBLE_ENV in tests/fleet/fleet.py (pipelining, forks, no fact
gathering, fixed interpreter). Prints `name: value` lines; all hosts are removed at the end.
Usage: python3 bench/fleet_scale.py [--hosts 6] [--serial 3] [--keep]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fleet"))
from fleet import (  # noqa: E402 (sys.path above)
    TUNED_ANSIBLE_ENV,
    Fleet,
    audit_failing,
    audit_table,
    logs_dir,
    remove_enforcement_by_hand,
    require_outer_dockerd_and_image,
    run_playbook,
)


def machine_cpu_seconds() -> float:
    """CPU time spent by the whole machine since boot (user, nice, system, irq, softirq; no idle or iowait)."""
    with open("/proc/stat") as stat:
        ticks = stat.readline().split()[1:]
    return sum(int(tick) for tick in ticks[0:3] + ticks[5:7]) / os.sysconf("SC_CLK_TCK")


def converge(fleet: Fleet, hosts, serial: str, name: str, workdir: Path):
    """One site.yml run; returns it with the CPU seconds the machine spent meanwhile."""
    cpu_before = machine_cpu_seconds()
    inventory = fleet.inventory(hosts=hosts, filename=name + ".ini")
    # `serial` is a play keyword, templated before inventory variables exist: an extra var.
    run = run_playbook("playbooks/site.yml", inventory, ["-e", "docker_userns_serial=%s" % serial], log=workdir / (name + ".log"))
    if run.rc != 0:
        print(run.output[-4000:], file=sys.stderr)
        raise SystemExit("%s failed (exit %d); see %s" % (name, run.rc, workdir / (name + ".log")))
    return run, machine_cpu_seconds() - cpu_before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=6)
    parser.add_argument("--serial", default="3", help="hosts per batch (docker_userns_serial)")
    parser.add_argument("--keep", action="store_true", help="keep the hosts afterwards")
    args = parser.parse_args()

    require_outer_dockerd_and_image()
    workdir = logs_dir("fleet_scale")
    solo = Fleet("due-bench-solo", 1, workdir)
    fleet = Fleet("due-bench-fleet", args.hosts, workdir)
    try:
        # All hosts boot first, so that the timed runs compare like with like (idle hosts cost little).
        solo.start()
        fleet.start()
        one, one_cpu = converge(solo, None, args.serial, "fleet-1-host", workdir)
        print("fleet_1_host_s: %.1f" % one.seconds, flush=True)
        many, many_cpu = converge(fleet, None, args.serial, "fleet-%d-hosts" % args.hosts, workdir)
        print("fleet_%d_hosts_s: %.1f" % (args.hosts, many.seconds))
        print("fleet_%d_over_1: %.2f" % (args.hosts, many.seconds / one.seconds), flush=True)
        cores = os.cpu_count()
        print("fleet_1_host_cpu_s: %.1f" % one_cpu)
        print("fleet_%d_hosts_cpu_s: %.1f" % (args.hosts, many_cpu))
        print("fleet_%d_hosts_busy_cores: %.2f" % (args.hosts, many_cpu / many.seconds))
        print("fleet_%d_over_1_cpu_floor: %.2f" % (args.hosts, many_cpu / cores / one.seconds), flush=True)
        noop, _ = converge(fleet, None, args.serial, "fleet-noop", workdir)
        print("fleet_noop_%d_s: %.1f" % (args.hosts, noop.seconds))
        print("fleet_noop_changed: %d" % sum(host.get("changed", 0) for host in noop.recap().values()), flush=True)

        broken = fleet.names[1]
        remove_enforcement_by_hand(fleet, broken)
        audit = run_playbook("playbooks/audit.yml", fleet.inventory(filename="audit.ini"), log=workdir / "audit.log")
        table = audit_table(audit.output)
        failing = sorted(host for host, row in table.items() if audit_failing(row))
        print("audit_%d_hosts_s: %.1f" % (args.hosts, audit.seconds))
        print("audit_rows: %d" % len(table))
        print("audit_failing_hosts: %d" % len(failing))
        print("audit_failing_is_the_broken_host: %d" % (failing == [broken]))
        print("fleet_serial: %s" % args.serial)
        print("fleet_ansible: %s" % " ".join("%s=%s" % item for item in sorted(TUNED_ANSIBLE_ENV.items())), flush=True)
        return 0
    finally:
        if not args.keep:
            solo.remove()
            fleet.remove()
        print("(logs in %s)" % workdir, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
