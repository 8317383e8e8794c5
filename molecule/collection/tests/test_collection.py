"""The collection consumed as users consume it: the role by its fully qualified name in a baseline
(Debian 12 host), site.yml through ansible-pull -c local (Debian 13 host), and the audit playbook
by its fully qualified name (both)."""

import json
import re

from hosttest.fixtures import DAEMON_JSON, FOREIGN_DAEMON_KEYS, PLUGIN_NAME, REFUSAL, daemon_json, docker_run, snapshot

PULL_CHECKOUT = "/var/lib/ansible-pull/docker-userns-enforcement"
# What the baseline's own handler, named "Restart Docker" like a generic one, leaves behind.
BASELINE_HANDLER_MARKER = "/var/tmp/baseline_login_banner-restart-docker.marker"


def is_group(host, group):
    return group in host.ansible.get_variables().get("group_names", [])


def test_userns_host_is_refused(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "true")
    assert result.rc != 0 and REFUSAL in result.stderr, result.stdout + result.stderr


def test_plain_run_is_remapped(host, test_image):
    inside, outside, _length = host.check_output("docker run --rm --network none %s cat /proc/self/uid_map", test_image).split()
    assert inside == "0" and outside != "0"


def test_daemon_json_kept_the_foreign_keys(host):
    config = daemon_json(host)
    for key, value in FOREIGN_DAEMON_KEYS.items():
        assert config[key] == value, f"{DAEMON_JSON} lost {key}"


def test_baseline_ran_its_own_role_and_passed_variables_to_the_collections_role(host, test_image):
    result = docker_run(host, "--privileged", test_image, "true")
    refused = "privileged containers are not allowed" in result.stderr
    if not is_group(host, "debian12"):
        # The ansible-pull host runs site.yml with the defaults: the plugin lets --privileged through
        # (whether the nested Docker can then run it is another matter).
        assert not refused, result.stderr
        return
    assert host.file("/etc/issue.net").content_string.startswith("Authorised use only.")
    # docker_userns_deny_privileged: true, given in the baseline, reached the plugin's config.
    assert result.rc != 0 and refused, result.stdout + result.stderr


def test_the_baselines_restart_docker_handler_and_the_roles_restart_both_ran(host):
    """Handlers are play-wide and the last one defined under a name wins: had the role's handler
    been called "Restart Docker" too, the baseline's (defined after it) would have run in its place,
    and Docker would still run the seeded daemon.json, without remapping or the plugin."""
    if not is_group(host, "debian12"):
        assert not host.file(BASELINE_HANDLER_MARKER).exists
        return
    marker = host.file(BASELINE_HANDLER_MARKER)
    assert marker.is_file and marker.content_string == "The baseline's own Restart Docker handler ran.\n"
    # The role's restart: the running daemon has the remapping and the plugin from the role's daemon.json.
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert any("name=userns" in option for option in info["SecurityOptions"]), info["SecurityOptions"]
    assert PLUGIN_NAME in (info["Plugins"].get("Authorization") or []), info["Plugins"]
    assert "userns-remap" in daemon_json(host) and PLUGIN_NAME in daemon_json(host)["authorization-plugins"]


def test_ansible_pull_applied_site_yml_from_the_clone(host):
    if not is_group(host, "debian13"):
        assert not host.file(PULL_CHECKOUT).exists
        return
    assert host.file(PULL_CHECKOUT + "/playbooks/site.yml").is_file
    assert host.file(PULL_CHECKOUT + "/.git").is_directory
    log = host.file("/var/lib/molecule-snapshots/ansible-pull-first.log").content_string
    recap = re.search(r"localhost\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=0\s+failed=0", log)
    assert recap and int(recap.group(2)) > 0, log[-3000:]
    assert "Prove that Docker refuses" in log or "Ensure the plugin refused" in log, log[-3000:]


def test_audit_playbook_by_its_fully_qualified_name_passes(host):
    audit = snapshot(host, "audit")
    assert audit["remap"] == "on" and audit["plugin_active"] is True and audit["mode"] == "enforce"
    assert audit["selftest"] == "refused"
    assert (audit["cis_2_9"], audit["cis_2_12"], audit["cis_5_31"]) == ("PASS", "PASS", "PASS")
