#!/usr/bin/env python3
"""Benchmark: the plugin killed under load, and upgraded in place under load, on a real host.

One fresh Debian 12 host (systemd, Docker 20.10) on the private outer dockerd, converged with
playbooks/site.yml. Inside it, bench/api_stream.py sends a steady mix of allowed and to-be-refused
requests to the host's Docker while:
  1. the plugin's main process is SIGKILLed --kills times (systemd restarts it through its socket);
  2. the plugin's service is restarted --restarts times with systemctl (a planned restart);
  3. site.yml runs again --upgrades times, each with a newer plugin file (next patch version).
Prints `name: value` lines. Needs root, the outer dockerd and the test virtual environment
(`make bench` sets them up). Usage: python3 bench/resilience.py [--kills 5] [--keep]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fleet"))
from fleet import Fleet, converge_one_host, logs_dir, require_outer_dockerd_and_image  # noqa: E402 (sys.path above)
from resilience import kill_under_load, restart_under_load, upgrade_under_load  # noqa: E402 (sys.path above)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--upgrades", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the host (due-bench-res-1) afterwards")
    args = parser.parse_args()

    require_outer_dockerd_and_image()
    workdir = logs_dir("resilience")
    fleet = Fleet("due-bench-res", 1, workdir)
    host = fleet.names[0]
    try:
        converge_one_host(fleet, workdir, ["-e", "docker_userns_accept_data_root_switch=true"])

        killed = kill_under_load(fleet, host, kills=args.kills, clients=args.clients)
        recoveries = [k["recovery_s"] for k in killed["kills"]]
        print("kill_count: %d" % len(killed["kills"]), flush=True)
        print("kill_requests: %d" % killed["requests"])
        print("kill_wrongly_allowed: %d" % (killed["wrongly_allowed"] + len(killed["host_userns_containers"])))
        print("kill_recovery_s: %s" % ("%.2f" % max(recoveries) if None not in recoveries else "never"))
        print("kill_recovery_mean_s: %s" % ("%.2f" % (sum(recoveries) / len(recoveries)) if None not in recoveries else "never"))
        print("kill_refused_error: %d" % killed["refused_error"])
        print("kill_lost: %d" % killed["lost"])
        for example in killed["unexpected_examples"]:
            print("  (kill, not as expected) %s" % example, file=sys.stderr)

        restarted = restart_under_load(fleet, host, restarts=args.restarts, clients=args.clients)
        print("restart_count: %d" % len(restarted["restarts"]), flush=True)
        print("restart_requests: %d" % restarted["requests"])
        print("restart_wrongly_allowed: %d" % (restarted["wrongly_allowed"] + len(restarted["host_userns_containers"])))
        print("restart_refused_error: %d" % restarted["refused_error"])
        print("restart_lost: %d" % restarted["lost"])
        print("restart_max_latency_s: %.2f" % restarted["max_latency_s"])
        print("restart_systemctl_s: %.2f" % max(r["restart_s"] for r in restarted["restarts"]))
        for example in restarted["unexpected_examples"]:
            print("  (restart, not as expected) %s" % example, file=sys.stderr)

        upgraded = upgrade_under_load(fleet, host, workdir, clients=args.clients, upgrades=args.upgrades)
        print("upgrade_count: %d" % upgraded["upgrades"])
        print("upgrade_playbook_rc: %d" % upgraded["playbook_rc"])
        print("upgrade_version: %s -> %s" % (upgraded["old_version"], upgraded["installed_version"]))
        print("upgrade_requests: %d" % upgraded["requests"])
        print("upgrade_wrongly_allowed: %d" % (upgraded["wrongly_allowed"] + len(upgraded["host_userns_containers"])))
        print("upgrade_refused_error: %d" % upgraded["refused_error"])
        print("upgrade_lost: %d" % upgraded["lost"])
        print("upgrade_max_latency_s: %.2f" % upgraded["max_latency_s"])
        print("upgrade_docker_restarted: %d" % upgraded["docker_restarted"])
        print("upgrade_plugin_restarted: %d" % upgraded["plugin_restarted"], flush=True)
        for example in upgraded["unexpected_examples"]:
            print("  (upgrade, not as expected) %s" % example, file=sys.stderr)
        return 0
    finally:
        if not args.keep:
            fleet.remove()
        print("(logs in %s)" % workdir, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
