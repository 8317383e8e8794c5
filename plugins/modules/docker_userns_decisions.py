#!/usr/bin/python
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: what the enforcement plugin refused, or would have refused, on a Docker host."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_decisions
short_description: Report what the user namespace enforcement plugin refused or would have refused
description:
  - Reads the enforcement plugin's decision lines from the systemd journal of its service over a
    window, and reports, by rule, how many requests it refused (C(deny), enforce mode) and would
    have refused (C(would-deny), audit mode), with the first few examples of each.
  - In observe mode (a host before remapping), it also counts by rule what remapping itself would
    refuse or change (C(would-break) lines), and the requests the plugin decided in the window (its
    C(stats) lines).
  - Gives a verdict, RV(ready), true when the window is long enough (O(min_hours)), saw enough
    requests (O(min_requests)), its journal is complete, and nothing was or would have been refused
    and nothing would break (but the would-break rules in O(accept_would_break)); then the host can
    switch to enforce mode without refusing or breaking what it runs today.
  - The window starts at O(since); by default when the plugin's configuration file last changed
    (a switch of mode or rules changes it), or 7 days ago when that file cannot be read.
  - Decisions about containers created from the images in O(ignore_images) are counted apart and
    do not count against the verdict (the docker_userns role's self-test asks for such a container
    on every run).
  - A journal that cannot be read is an error in RV(error), never a ready verdict. Lines that
    journald dropped under its rate limit (it says how many) and decision lines that cannot be read
    make the verdict not ready too, as they could have been refusals.
  - Changes nothing. Needs root (or membership in C(systemd-journal)) to read the system journal.
options:
  since:
    description:
      - Where the window starts, in C(journalctl --since) syntax (C(2026-11-01), C(-2d), C(@1795000000), C(yesterday)).
      - Empty or absent, when O(config_path) last changed, or 7 days ago when it cannot be read.
    type: str
  unit:
    description: The plugin's systemd service, whose journal holds the decisions.
    type: str
    default: docker-userns-enforcement-plugin.service
  config_path:
    description: The plugin's configuration file; its modification time is the default start of the window.
    type: path
    default: /etc/docker-userns-enforcement/config.json
  examples:
    description: How many examples to keep per rule, the first ones of the window.
    type: int
    default: 3
  ignore_images:
    description: Decisions about creating containers from these images are counted in RV(ignored), not by rule.
    type: list
    elements: str
    default: []
  min_hours:
    description: The shortest window, in hours, that can be ready; a shorter one is NOT ready (it saw too little).
    type: float
    default: 24
  min_requests:
    description: The fewest requests decided in the window (the plugin's C(stats) lines) that can be ready.
    type: int
    default: 100
  accept_would_break:
    description:
      - Would-break rules the operator accepts, which then do not count against the verdict; for example
        C(bind-ownership) once the owners of files in bind mounts have been checked.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  # No GitHub handle: the project has none (validate-modules wants one, or !UNKNOWN).
  - docker-userns-enforcement project !UNKNOWN
"""

EXAMPLES = r"""
- name: Read what the plugin would have refused since its configuration last changed
  docker_hardening.userns.docker_userns_decisions:
    ignore_images: [docker-userns-selftest-does-not-exist:never]
  register: decisions

- name: Stop before enforcing a host where audit mode saw requests enforcement would refuse
  ansible.builtin.assert:
    that: decisions.ready
    fail_msg: "{{ inventory_hostname }}: {{ decisions.verdict }}"

- name: Read the last two days only, with up to 10 examples per rule
  docker_hardening.userns.docker_userns_decisions:
    since: -2d
    examples: 10
"""

RETURN = r"""
ready:
  description:
    - True when the journal was read, complete, for a window of at least O(min_hours) with at least O(min_requests)
      requests, and nothing was or would have been refused and nothing would break in it.
  returned: always
  type: bool
  sample: false
verdict:
  description:
    - The verdict in words, C(ready), C(NOT ready) with the reasons (the rules, what would break, dropped or
      unreadable lines, an incomplete journal, a short window, too few requests), or C(no journal).
  returned: always
  type: str
  sample: NOT ready (host-userns, managed-plugins)
rules:
  description: The rules that refused or would have refused something in the window, sorted.
  returned: always
  type: list
  elements: str
  sample: [host-userns, managed-plugins]
counts:
  description: Decision lines by decision (C(deny), C(would-deny), and C(allow) when the plugin logs allowed requests), then by rule.
  returned: always
  type: dict
  sample: {"would-deny": {"host-userns": 3, "managed-plugins": 1}}
would_break:
  description: The would-break rules seen in the window (observe mode), sorted; RV(counts) has them under C(would-break).
  returned: always
  type: list
  elements: str
  sample: [bind-ownership, remap-refuses]
break_examples:
  description: By would-break rule, the first O(examples) lines of the window, as in RV(examples), with the reason.
  returned: always
  type: dict
requests:
  description: Requests the plugin decided in the window, from its C(stats) lines (one a minute while requests come).
  returned: always
  type: int
  sample: 5120
window_hours:
  description:
    - How long the window is, in hours - from its start (or, when O(since) was given, from the oldest plugin line
      read) to now; 0 when unknown.
  returned: always
  type: float
  sample: 26.5
examples:
  description:
    - By rule, the first O(examples) decisions of the window. C(user) is the client's name when Docker
      authentication is on (empty otherwise); C(route) is the request URI as the daemon received it;
      C(target) the container, exec or plugin it names; C(image) and C(name) those of a container create.
  returned: always
  type: dict
  sample: {"host-userns": [{"time": "2026-11-29T18:26:30+0000", "decision": "would-deny", "user": "", "method": "POST",
            "route": "/v1.41/containers/create?name=web", "target": "", "image": "busybox:local", "name": "web"}]}
since:
  description: The start of the window as given to C(journalctl --since).
  returned: always
  type: str
  sample: "@1795976748"
since_source:
  description: Where the start of the window comes from, C(parameter), C(config changed) or C(7 days).
  returned: always
  type: str
window_start:
  description: The start of the window as UTC time, when the module computed it (empty when O(since) was given).
  returned: always
  type: str
  sample: "2026-11-29T18:25:48Z"
window_complete:
  description: Whether the journal holds entries from before the window (false when it was rotated or vacuumed since).
  returned: always
  type: bool
lines_read:
  description: Lines C(journalctl) gave for the plugin's service in the window.
  returned: always
  type: int
ignored:
  description: Refusals about images in O(ignore_images) (the role's self-test).
  returned: always
  type: int
unreadable:
  description: Decision lines that could not be read.
  returned: always
  type: int
dropped:
  description: Lines of the plugin that journald dropped under its rate limit in the window.
  returned: always
  type: int
journal_warnings:
  description: What C(journalctl) said on its standard error while it read the journal (corrupt files it skipped).
  returned: always
  type: list
  elements: str
error:
  description: Why the journal could not be read; empty when it was.
  returned: always
  type: str
"""

import calendar
import json
import os
import re
import time
from typing import Any, Dict

from ansible.module_utils.basic import AnsibleModule

DEFAULT_DAYS = 7
DENIALS = ("deny", "would-deny")
WOULD_BREAK = "would-break"
STATS = '"event": "stats"'
# The plugin writes each decision as one JSON object, always starting with these keys (json.dumps
# of log_event's record). The cheap checks look for them as written: inside a JSON string every
# quote is escaped, so a value can never spell them.
EVENT = '"event": "decision"'
ALLOWED = '"decision": "allow"'
# A line cut at the plugin's line limit is no longer JSON; its head still says what it decided.
HEAD = re.compile(r'\{"time": "([^"\\]*)", "event": "decision", "decision": "([a-z-]+)", "rule": "([^"\\]*)"')
DROPPED = re.compile(r"^Suppressed (\d+) messages from ")
UNREADABLE_JOURNAL = ("insufficient permissions", "No journal files were found", "not seeing messages from other users")


# ---- pure helpers (no Ansible, unit-tested directly) -------------------------


def read_decision(line):
    """The decision record of one plugin log line: a dict, or None when it cannot be read."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict) and isinstance(record.get("decision"), str):
        return record
    head = HEAD.match(line)
    if head is None:
        return None
    return {"time": head.group(1), "decision": head.group(2), "rule": head.group(3)}


def example(record):
    def text(key):
        return str(record.get(key) or "")
    return {"time": text("time"), "decision": text("decision"), "user": text("user"), "method": text("method"),
            "route": text("path"), "target": text("target"), "image": text("image"), "name": text("name")}


def record_time(record):
    """Seconds since the epoch of a plugin line's time (2026-11-29T18:26:30+0000), or None."""
    try:
        return calendar.timegm(time.strptime(str(record.get("time", "")), "%Y-%m-%dT%H:%M:%S%z")) - _offset(record["time"])
    except (ValueError, KeyError):
        return None


def _offset(stamp):
    sign, hours, minutes = (-1 if stamp[-5] == "-" else 1), int(stamp[-4:-2]), int(stamp[-2:])
    return sign * (hours * 3600 + minutes * 60)


def summarize(lines, ignore_images=(), examples=3):
    """Count the decision lines of the plugin's journal (``journalctl -o cat``) by decision and rule,
    and the requests its stats lines count."""
    ignore_images = set(ignore_images)
    summary: Dict[str, Any] = {"lines_read": 0, "counts": {}, "examples": {}, "break_examples": {}, "ignored": 0, "unreadable": 0,
                               "dropped": 0, "requests": 0, "oldest": None}
    counts, kept = summary["counts"], summary["examples"]

    def tally(decision, rule):
        by_rule = counts.setdefault(decision, {})
        by_rule[rule] = by_rule.get(rule, 0) + 1

    for line in lines:
        summary["lines_read"] += 1
        if STATS in line:
            try:
                stats = json.loads(line)
                summary["requests"] += int(stats.get("requests", 0))
                stamp = record_time(stats)
                if stamp is not None and (summary["oldest"] is None or stamp < summary["oldest"]):
                    summary["oldest"] = stamp
            except (ValueError, TypeError, AttributeError):
                summary["unreadable"] += 1
            continue
        if EVENT not in line:
            dropped = DROPPED.match(line)
            if dropped:
                summary["dropped"] += int(dropped.group(1))
            continue  # the plugin's other events, systemd's own lines about the service
        if ALLOWED in line:
            record = HEAD.match(line)
            tally("allow", record.group(3) if record else "")
            continue
        record = read_decision(line)
        if record is None:
            summary["unreadable"] += 1
            continue
        decision, rule = record["decision"], str(record.get("rule") or "")
        if decision in DENIALS and record.get("image") in ignore_images:
            summary["ignored"] += 1
            continue
        tally(decision, rule)
        stamp = record_time(record)
        if stamp is not None and (summary["oldest"] is None or stamp < summary["oldest"]):
            summary["oldest"] = stamp
        if decision in DENIALS and len(kept.setdefault(rule, [])) < examples:
            kept[rule].append(example(record))
        elif decision == WOULD_BREAK and len(summary["break_examples"].setdefault(rule, [])) < examples:
            summary["break_examples"][rule].append(dict(example(record), reason=str(record.get("reason") or "")))
    summary["rules"] = sorted({rule for decision in DENIALS for rule in counts.get(decision, {})})
    summary["would_break"] = sorted(counts.get(WOULD_BREAK, {}))
    return summary


def verdict(summary, error, min_hours=0.0, min_requests=0, accepted=()):
    """(ready, the verdict in words): ready only when the journal was read, complete, for a window
    long and busy enough, and nothing was refused and nothing would break (but what is accepted)."""
    if error:
        return False, "no journal"
    reasons = list(summary["rules"])
    breaking = [rule for rule in summary.get("would_break", []) if rule not in accepted]
    if breaking:
        reasons.append("would break: %s" % ", ".join(breaking))
    if not summary.get("window_complete", True):
        reasons.append("the journal does not reach back to the window's start")
    if summary.get("window_hours", 0.0) < min_hours:
        reasons.append("a window of %.1f h, under %g h" % (summary.get("window_hours", 0.0), min_hours))
    if summary.get("requests", 0) < min_requests:
        reasons.append("%d requests, under %d" % (summary.get("requests", 0), min_requests))
    if summary["dropped"]:
        reasons.append("%d lines dropped by journald" % summary["dropped"])
    if summary["unreadable"]:
        reasons.append("%d unreadable lines" % summary["unreadable"])
    if reasons:
        return False, "NOT ready (%s)" % ", ".join(reasons)
    return True, "ready"


def utc(seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def window(since, config_path, now):
    """(journalctl --since value, where it comes from, UTC start or '' when given)."""
    if since:
        return since, "parameter", ""
    try:
        start, source = int(os.stat(config_path).st_mtime), "config changed"
    except OSError:
        start, source = int(now) - DEFAULT_DAYS * 86400, "%d days" % DEFAULT_DAYS
    return "@%d" % start, source, utc(start)


# ---- worker --------------------------------------------------------------------


def journal_error(rc, err):
    """Why journalctl's answer cannot be trusted to hold the plugin's lines; '' when it can."""
    if rc != 0:
        return "journalctl failed (exit %d): %s" % (rc, err.strip()[:500])
    for sign in UNREADABLE_JOURNAL:
        if sign in err:
            return "journalctl cannot read the system journal (%s): run the module as root (become)" % err.strip()[:500]
    return ""


def summarize_command(module, argv, ignore_images, examples):
    """(exit status, summary, standard error) of a journalctl run, its lines counted as they come.

    module.run_command alone would gather the output by concatenating bytes, in time quadratic in
    its size (25 s of CPU for the 44 MB of 100,000 decision lines), and hold it all in memory. Its
    callback gets the process before run_command reads anything: the lines are read there, and
    run_command then finds the output at its end. (journalctl writes only a few lines to its
    standard error, far below what a pipe holds, so it never waits on it meanwhile.)"""
    summary = {}

    def read_lines(process):
        summary.update(summarize((raw.decode("utf-8", "replace") for raw in process.stdout), ignore_images, examples))

    rc, _out, err = module.run_command(argv, before_communicate_callback=read_lines)
    return rc, summary, err


def read_journal(module, journalctl, params, since):
    """The summary of the plugin's lines in the window, with the window's completeness and errors."""
    quiet = [journalctl, "--quiet", "--no-pager"]
    # The newest entry of any unit: none at all means journald keeps nothing here (or is not running).
    rc, out, err = module.run_command(quiet + ["--output=short-unix", "--lines=1"])
    error = journal_error(rc, err)
    if not error and not out.strip():
        error = "the journal holds no entries at all: journald does not keep the plugin's log on this host"
    if error:
        return {"error": error}
    rc, result, err = summarize_command(module, quiet + ["--output=cat", "--unit=" + params["unit"], "--since=" + since],
                                        params["ignore_images"], params["examples"])
    if rc != 0 and "Failed to parse" in err:
        module.fail_json(msg="since: journalctl does not understand %r (%s)" % (since, err.strip()[:200]))
    error = journal_error(rc, err)
    if error:
        return {"error": error}
    result["journal_warnings"] = [line for line in err.splitlines() if line.strip()]
    # The newest entry before the window: none means the journal starts later (rotated, vacuumed).
    rc, out, err = module.run_command(quiet + ["--output=short-unix", "--reverse", "--lines=1", "--until=" + since])
    result["window_complete"] = rc == 0 and bool(out.strip())
    return result


def report_decisions(module):
    params = module.params
    since, source, start = window(params["since"], params["config_path"], time.time())
    result = {"since": since, "since_source": source, "window_start": start, "window_complete": False,
              "journal_warnings": [], "error": ""}
    result.update(summarize([]))
    journalctl = module.get_bin_path("journalctl")
    if journalctl is None:
        result["error"] = "journalctl not found: the plugin's decisions are in the systemd journal"
    else:
        result.update(read_journal(module, journalctl, params, since))
    now = time.time()
    start = calendar.timegm(time.strptime(start, "%Y-%m-%dT%H:%M:%SZ")) if start else result.pop("oldest", None)
    result.pop("oldest", None)
    result["window_hours"] = round((now - start) / 3600.0, 2) if start else 0.0
    result["ready"], result["verdict"] = verdict(result, result["error"], params["min_hours"], params["min_requests"],
                                                 params["accept_would_break"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            since=dict(type="str"),
            unit=dict(type="str", default="docker-userns-enforcement-plugin.service"),
            config_path=dict(type="path", default="/etc/docker-userns-enforcement/config.json"),
            examples=dict(type="int", default=3),
            ignore_images=dict(type="list", elements="str", default=[]),
            min_hours=dict(type="float", default=24.0),
            min_requests=dict(type="int", default=100),
            accept_would_break=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    if module.params["examples"] < 0:
        module.fail_json(msg="examples must be 0 or more")
    module.exit_json(changed=False, **report_decisions(module))


if __name__ == "__main__":
    main()
