"""What the opt-in keys open, as docs/reviewed-api.md says: allow_fields lifts the table's refusals
and the security-opt and masked-paths rules (whose messages name it), not other checks; GPU
requests need allow_gpus and a toolkit version without known escapes; --report says why GPU
requests would still be refused, as the role's preflight shows it.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module
from docker_userns_plugin import config as config_module
from docker_userns_plugin import lookups, policy
from docker_userns_plugin.rules_drivers import OPT_IN_DRIVERS
from test_plugin_policy import NoContainers as LocalDaemon


class NoContainers(LocalDaemon):
    """test_plugin_policy's daemon without containers, volumes or networks, but host paths and the
    host's network cannot be looked up (a request that needs them is refused as lookup-failed)."""

    def network(self, ref):
        return None

    def host_path(self, path):
        raise lookups.LookupFailed("no host paths here")

    def host_devices(self, path):
        return []

    def host_network(self):
        raise lookups.LookupFailed("no host network here")


def create(host_config: dict, **config) -> policy.Decision:
    body = json.dumps({"Image": "busybox", "HostConfig": host_config}).encode()
    payload = {"User": "", "RequestMethod": "POST", "RequestUri": "/v1.47/containers/create",
               "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": base64.b64encode(body).decode()}
    decision, _request = policy.decide(payload, config_module.validate_config(config), NoContainers())
    return decision


@pytest.mark.parametrize("host_config, rule, label", [
    ({"SecurityOpt": ["seccomp=unconfined"]}, "security-opt", "container-create:HostConfig.SecurityOpt"),
    ({"MaskedPaths": []}, "masked-paths", "container-create:HostConfig.MaskedPaths"),
    ({"ReadonlyPaths": ["/proc/sys"]}, "masked-paths", "container-create:HostConfig.ReadonlyPaths"),
    ({"CgroupParent": "/system.slice"}, "refused-field", "container-create:HostConfig.CgroupParent"),
])
def test_allow_fields_lifts_what_the_refusal_says_it_lifts(host_config, rule, label):
    refused = create(host_config)
    assert (refused.allow, refused.rule) == (False, rule)
    assert '"%s"' % label in refused.message
    assert create(host_config, allow_fields=[label]).allow
    assert not create(host_config, allow_fields=[label + "x"]).allow


def test_masked_paths_are_lifted_field_by_field():
    both: dict = {"MaskedPaths": [], "ReadonlyPaths": []}
    decision = create(both, allow_fields=["container-create:HostConfig.MaskedPaths"])
    assert decision.rule == "masked-paths" and "ReadonlyPaths" in decision.message


def test_allow_fields_does_not_lift_a_check():
    # Runtime is a check (runtime-hooks): its label in allow_fields changes nothing; allowed_runtimes opens it.
    decision = create({"Runtime": "io.containerd.nosuch.v1"}, allow_fields=["container-create:HostConfig.Runtime"])
    assert (decision.allow, decision.rule) == (False, "runtime-hooks")
    assert create({"Runtime": "io.containerd.nosuch.v1"}, allowed_runtimes=["io.containerd.nosuch.v1"]).allow


GPUS = {"DeviceRequests": [{"Driver": "nvidia", "Count": -1, "Capabilities": [["gpu"]]}]}


@pytest.mark.parametrize("config, allowed, words", [
    ({}, False, "allow_gpus"),
    ({"allow_gpus": True}, False, "version is not known"),
    ({"allow_gpus": True, "nvidia_toolkit": {"version": "1.17.7"}}, False, "CVE-2025-23266"),
    ({"allow_gpus": True, "nvidia_toolkit": {"version": "1.17.8"}}, True, ""),
])
def test_gpu_requests_need_allow_gpus_and_a_toolkit_without_known_escapes(config, allowed, words):
    decision = create(GPUS, **config)
    assert decision.allow is allowed, decision
    assert words in decision.message


@pytest.mark.parametrize("config, words", [
    ({"allow_gpus": False}, ""),
    ({"allow_gpus": True}, "is not known to the plugin"),
    ({"allow_gpus": True, "nvidia_toolkit": {"version": "1.16.1"}}, "CVE-2024-0132"),
    ({"allow_gpus": True, "nvidia_toolkit": {"version": "1.17.8"}}, ""),
])
def test_the_report_says_why_gpu_requests_would_be_refused(tmp_path, config, words):
    # The shipped file, as the role's preflight runs it; no daemon answers, the toolkit is judged anyway.
    config = dict(config, docker_socket=str(tmp_path / "no-daemon.sock"))
    done = subprocess.run([sys.executable, "-I", "-S", str(plugin_module.PLUGIN_PATH), "--report", "--config-json", json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert report["error"]  # no daemon
    assert (words in report["nvidia_toolkit_problem"]) and (bool(report["nvidia_toolkit_problem"]) is bool(words))


# ---- The role's side: it writes every key the plugin knows, and offers the drivers it knows ---

ROLE = Path(__file__).resolve().parents[2] / "roles" / "docker_userns"


def test_the_roles_config_template_writes_every_key_the_plugin_knows():
    template = (ROLE / "templates" / "config.json.j2").read_text()
    assert re.findall(r'^  "([a-z_]+)":', template, re.M) == list(config_module.DEFAULT_CONFIG)


def test_the_roles_driver_choices_are_the_plugins_opt_in_drivers():
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(options["docker_userns_allowed_drivers"]["choices"]) == sorted(d for names in OPT_IN_DRIVERS.values() for d in names)
