"""plugins/modules/docker_userns_host_info.py run as Ansible runs it, against the session's real dockerd (userns-remap on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
from conftest_modules import load_module, run_module

mod = load_module("docker_userns_host_info")


def test_reads_a_running_remapped_daemon(dockerd, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix://" + dockerd.socket)
    containers = len(dockerd.docker("ps", "--all", "--quiet").stdout.split())
    images = len(set(dockerd.docker("images", "--all", "--quiet").stdout.split()))
    result = run_module(mod, capsys, {"remap_user": "nobody", "python": sys.executable}, check_mode=True)
    assert not result.get("failed") and result["changed"] is False
    assert result["docker_answers"] is True and result["docker_error"] == ""
    assert result["remap_active"] is True
    assert (result["containers"], result["images"]) == (containers, images) and images >= 1
    assert result["dockerd_version"] == subprocess.run(["dockerd", "--version"], capture_output=True, text=True).stdout.strip()
    help_text = subprocess.run(["dockerd", "--help"], capture_output=True, text=True)
    assert result["dockerd_validates_config"] == ("--validate" in help_text.stdout + help_text.stderr)
    assert result["remap_user_uid"] == 65534 and result["python_executable"] is True
    assert isinstance(result["dockerd_flags"], list)
    assert result["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert result["server_version"] == dockerd.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()


def test_names_the_engine_package_and_the_fixes_its_changelog_lists(dockerd, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix://" + dockerd.socket)
    dockerd_path = subprocess.run(["sh", "-c", "command -v dockerd"], capture_output=True, text=True).stdout.strip()
    owner = subprocess.run(["dpkg-query", "--search", dockerd_path], capture_output=True, text=True)
    package = owner.stdout.split(":", 1)[0]
    listed = subprocess.run("zcat /usr/share/doc/%s/changelog.Debian.gz | grep -o 'CVE-[0-9]*-[0-9]*' | sort -u" % package,
                            shell=True, capture_output=True, text=True).stdout.split()
    result = run_module(mod, capsys, {"count_objects": False}, check_mode=True)
    assert result["engine_package"] == package == "docker.io"
    assert result["engine_package_version"] == subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package],
                                                              capture_output=True, text=True).stdout
    assert result["engine_package_fixes"] == sorted(listed) and "CVE-2024-41110" in listed


def test_reports_a_daemon_that_does_not_answer(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix://%s" % (tmp_path / "no-daemon.sock"))
    result = run_module(mod, capsys, {"python": str(tmp_path / "no-python"), "count_objects": False})
    assert not result.get("failed")
    assert result["docker_answers"] is False and result["remap_active"] is False
    assert "Cannot connect to the Docker daemon" in result["docker_error"]
    assert (result["containers"], result["images"]) == (None, None)
    assert result["remap_user_uid"] is None and result["python_executable"] is False and result["python_version"] == ""
    assert result["server_version"] == ""
