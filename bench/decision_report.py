#!/usr/bin/env python3
"""Benchmark: the decision report (module docker_userns_decisions) on a host with 100,000 decision lines.

One fresh Debian 12 host (systemd with its journald, Docker 20.10) on the private outer dockerd,
converged with playbooks/site.yml in audit mode. Inside it:
  1. --lines AuthZReq requests that enforcement would refuse (host-userns creates, managed-plugins
     enables, legacy-start-hostconfig starts) go straight to the real plugin's socket: the plugin
     service writes one would-deny line each into the journal, as on a busy host in audit mode.
     Journald's rate limit is lifted for the plugin's service first (a drop-in, bench set-up only):
     otherwise journald keeps about 10,000 lines per 30 s and the report says how many it dropped.
  2. The module runs on the host as Ansible runs it (its AnsiballZ file, kept with
     ANSIBLE_KEEP_REMOTE_FILES), --runs times: wall time and CPU time (user + system, journalctl
     included) on the host -> decision_report_host_wall_s, decision_report_host_cpu_s (medians).
     The same with a window that holds no line -> decision_report_empty_host_* (the fixed cost).
  3. journalctl alone with other output formats and matches, to show what reading costs.
  4. playbooks/audit.yml over the host -> audit_1_host_s and its verdict.
Prints `name: value` lines. Needs root, the outer dockerd and the test virtual environment
(`make bench` sets them up). Usage: python3 bench/decision_report.py [--lines 100000] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fleet"))
from fleet import (  # noqa: E402 (sys.path above)
    TUNED_ANSIBLE_ENV,
    Fleet,
    audit_table,
    converge_one_host,
    logs_dir,
    outer_env,
    require_outer_dockerd_and_image,
    run_playbook,
)

UNIT = "docker-userns-enforcement-plugin.service"
PLUGIN_SOCKET = "/run/docker/plugins/deny-userns-mode-host.sock"
SELFTEST_IMAGE = "docker-userns-selftest-does-not-exist:never"
HOST_DIR = "/var/lib/decision-bench"  # not /tmp: a tmpfs in Debian 13 hosts
DROP_IN = "/etc/systemd/system/%s.d/bench-no-rate-limit.conf" % UNIT

# Runs in the host: sends N AuthZReq requests that enforcement would refuse to the plugin's own
# socket on one keep-alive connection, as dockerd would; prints how many the plugin answered.
FEED = r'''
import base64, http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(sys.argv[1])
def authz(method, uri, body):
    payload = {"User": "", "RequestMethod": method, "RequestUri": uri,
               "RequestHeaders": {"Content-Type": "application/json"}}
    if body is not None:
        payload["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps(payload)
def request(i):
    kind = i % 4
    if kind < 2:
        return authz("POST", "/v1.41/containers/create?name=bench-%d" % i,
                     {"Image": "registry.example/app-%d:1.%d" % (i % 50, i % 7), "HostConfig": {"UsernsMode": "host"}})
    if kind == 2:
        return authz("POST", "/v1.41/plugins/bench-plugin-%d:latest/enable" % (i % 20), None)
    return authz("POST", "/v1.23/containers/bench-%d/start" % i, {"Binds": ["/:/host"]})
conn, answered = Conn("plugin"), 0
for i in range(int(sys.argv[2])):
    conn.request("POST", "/AuthZPlugin.AuthZReq", request(i), {"Content-Type": "application/json"})
    answer = json.loads(conn.getresponse().read())
    answered += answer.get("Allow") is True  # audit mode: allowed, and logged as would-deny
print(answered)
'''

# Runs in the host: a command `runs` times; prints [wall seconds, CPU seconds of its process tree].
TIMER = r'''
import json, resource, subprocess, sys, time
runs, argv = int(sys.argv[1]), sys.argv[2:]
results = []
for _ in range(runs):
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    results.append([time.monotonic() - started, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)])
print(json.dumps(results))
'''


def timed_in_host(fleet: Fleet, host: str, runs: int, *argv: str):
    """Median wall and CPU seconds of `argv` run `runs` times inside the host."""
    results = json.loads(fleet.run(host, "python3", HOST_DIR + "/timer.py", str(runs), *argv, timeout=1800).stdout)
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def kept_module_run(fleet: Fleet, host: str, workdir: Path, args: str, name: str):
    """Run the module once through Ansible, keeping its AnsiballZ file on the host: (result, path of the file)."""
    env = outer_env()
    env.update(TUNED_ANSIBLE_ENV, ANSIBLE_PIPELINING="False", ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_LIBRARY=str(REPO / "library"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    fleet.run(host, "rm", "-rf", "/root/.ansible/tmp")
    inventory = fleet.inventory(filename=name + ".ini")
    completed = subprocess.run(["ansible", host, "-i", str(inventory), "-m", "docker_userns_decisions", "-a", args],
                               cwd=REPO, env=env, capture_output=True, timeout=600)
    (workdir / (name + ".json")).write_bytes(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise SystemExit("the module failed on %s; see %s" % (host, workdir / (name + ".json")))
    result = json.loads(completed.stdout)["plays"][0]["tasks"][0]["hosts"][host]
    found = fleet.run(host, "find", "/root/.ansible/tmp", "-name", "AnsiballZ_docker_userns_decisions.py").stdout.decode().split()
    if len(found) != 1:
        raise SystemExit("expected one kept AnsiballZ file on %s, found %r" % (host, found))
    return result, found[0]


def wait_for_lines(fleet: Fleet, host: str, since: str, expected: int, timeout: float = 300) -> int:
    """Wait until the journal holds `expected` would-deny lines of the plugin since `since`."""
    deadline, count = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        out = fleet.run(host, "sh", "-c", "journalctl -q --no-pager -o cat -u %s --since=%s | grep -c would-deny || true" % (UNIT, since))
        count = int(out.stdout.decode().strip() or 0)
        if count >= expected:
            return count
        time.sleep(2)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the host (due-bench-report-1) afterwards")
    args = parser.parse_args()

    require_outer_dockerd_and_image()
    workdir = logs_dir("decision_report")
    fleet = Fleet("due-bench-report", 1, workdir)
    host = fleet.names[0]
    try:
        converge_one_host(fleet, workdir, ["-e", "docker_userns_mode=audit"])
        fleet.run(host, "mkdir", "-p", HOST_DIR, os.path.dirname(DROP_IN))
        fleet.write_file(host, HOST_DIR + "/feed.py", FEED)
        fleet.write_file(host, HOST_DIR + "/timer.py", TIMER)
        fleet.write_file(host, DROP_IN, "[Service]\nLogRateLimitIntervalSec=1s\nLogRateLimitBurst=10000000\n")
        fleet.run(host, "systemctl", "daemon-reload")
        fleet.run(host, "systemctl", "restart", UNIT)

        since = "@%s" % fleet.run(host, "date", "+%s").stdout.decode().strip()
        fleet.run(host, "sleep", "1")
        started = time.monotonic()
        answered = int(fleet.run(host, "python3", HOST_DIR + "/feed.py", PLUGIN_SOCKET, str(args.lines), timeout=1800).stdout)
        print("decision_lines_written: %d" % answered)
        print("decision_lines_write_s: %.1f" % (time.monotonic() - started), flush=True)
        print("decision_lines_in_journal: %d" % wait_for_lines(fleet, host, since, args.lines), flush=True)

        module_args = "since=%s ignore_images=%s" % (since, SELFTEST_IMAGE)
        result, ansiballz = kept_module_run(fleet, host, workdir, module_args, "module-full")
        counted = sum(sum(by_rule.values()) for by_rule in result["counts"].values())
        print("decision_report_lines_counted: %d" % counted)
        print("decision_report_lines_read: %d" % result["lines_read"])
        print("decision_report_verdict: %s" % result["verdict"])
        print("decision_report_counts: %s" % json.dumps(result["counts"], sort_keys=True), flush=True)
        wall, cpu = timed_in_host(fleet, host, args.runs, "python3", ansiballz)
        print("decision_report_host_wall_s: %.2f" % wall)
        print("decision_report_host_cpu_s: %.2f" % cpu, flush=True)

        later = "@%d" % (int(since[1:]) + 10 ** 6)  # a window after every line: the module's fixed cost
        _empty, ansiballz_empty = kept_module_run(fleet, host, workdir, "since=%s" % later, "module-empty")
        wall, cpu = timed_in_host(fleet, host, args.runs, "python3", ansiballz_empty)
        print("decision_report_empty_host_wall_s: %.2f" % wall)
        print("decision_report_empty_host_cpu_s: %.2f" % cpu, flush=True)

        # What journalctl alone costs for the same lines, by output format and match.
        base = ["journalctl", "--quiet", "--no-pager", "--since=" + since]
        variants = {
            "cat_unit": ["--output=cat", "--unit=" + UNIT],
            "cat_field": ["--output=cat", "_SYSTEMD_UNIT=" + UNIT],
            "short_unit": ["--output=short", "--unit=" + UNIT],
            "json_message_unit": ["--output=json", "--output-fields=MESSAGE", "--unit=" + UNIT],
            "json_unit": ["--output=json", "--unit=" + UNIT],
        }
        for name, options in variants.items():
            wall, cpu = timed_in_host(fleet, host, args.runs, *base, *options)
            print("journalctl_%s_wall_s: %.2f" % (name, wall))
            print("journalctl_%s_cpu_s: %.2f" % (name, cpu), flush=True)

        audit = run_playbook("playbooks/audit.yml", fleet.inventory(filename="audit.ini"),
                             ["-e", "docker_userns_report_since=" + since], log=workdir / "audit.log")
        row = audit_table(audit.output).get(host, {})
        print("audit_1_host_s: %.1f" % audit.seconds)
        print("audit_decisions: %s" % row.get("decisions", "(no row: see %s)" % (workdir / "audit.log")), flush=True)
        return 0
    finally:
        if not args.keep:
            fleet.remove()
        print("(logs in %s)" % workdir, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
