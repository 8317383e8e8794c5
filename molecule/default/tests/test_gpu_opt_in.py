"""GPU hosts: with docker_userns_allow_gpus the role records the NVIDIA Container Toolkit's version
(here a stand-in nvidia-ctk that names 1.17.4, which has known escapes) in the plugin's config, and
the plugin refuses --gpus naming them; on the other hosts --gpus is refused as not allowed."""

import json

from hosttest.fixtures import PLUGIN_CONFIG, PLUGIN_NAME, docker_run


def allows_gpus(host):
    return bool(host.ansible.get_variables().get("docker_userns_allow_gpus", False))


def test_the_toolkit_version_is_recorded_only_where_gpus_are_allowed(host):
    config = json.loads(host.file(PLUGIN_CONFIG).content_string)
    if allows_gpus(host):
        assert host.check_output("nvidia-ctk --version").startswith("NVIDIA Container Toolkit CLI version 1.17.4")
        assert (config["allow_gpus"], config["nvidia_toolkit"]) == (True, {"version": "1.17.4"})
    else:
        assert (config["allow_gpus"], config["nvidia_toolkit"]) == (False, {})


def test_gpus_are_refused_with_the_reason_of_this_host(host, test_image):
    result = docker_run(host, "--gpus", "all", test_image, "true")
    assert result.rc != 0, result.stdout
    assert f"authorization denied by plugin {PLUGIN_NAME}" in result.stderr, result.stderr
    if allows_gpus(host):
        # The plugin's own words: the recorded version has known container-to-host escapes.
        assert "NVIDIA Container Toolkit 1.17.4 has known container-to-host escapes" in result.stderr, result.stderr
        assert "CVE-2025-23266" in result.stderr
    else:
        assert "allow_gpus" in result.stderr, result.stderr


def test_the_report_says_why_gpu_requests_are_still_refused(host):
    # What the preflight showed: the plugin file run as the role runs it, with this host's config.
    config = host.file(PLUGIN_CONFIG).content_string
    out = host.check_output("/usr/bin/python3 -I -S /usr/local/bin/docker-userns-enforcement-plugin --report --config-json %s",
                            json.dumps({k: v for k, v in json.loads(config).items() if k in ("allow_gpus", "nvidia_toolkit")}))
    problem = json.loads(out)["nvidia_toolkit_problem"]
    assert ("CVE-2025-23266" in problem) is allows_gpus(host), problem
