"""The collection docker_hardening.userns as its users get it, with the real tools: built from the
files git tracks, installed from the tarball and from a git URL into empty collections paths,
documented by ansible-doc, checked by ansible-test sanity, galaxy-importer and ansible-builder;
and the standalone role tarball. (The role converging a real host from the installed collection,
and ansible-pull, are in the Molecule scenario `collection`.)

Run by tools/test.sh as the part `collection` (the venv's bin/ on PATH); the hosts are not needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEV_CACHE = Path(os.environ.get("DOCKER_USERNS_DEV_CACHE", "/var/cache/docker-userns-dev"))
COLLECTION = "docker_hardening.userns"
ROLE = COLLECTION + ".docker_userns"
MODULES = ("docker_userns_daemon_json", "docker_userns_data_root", "docker_userns_decisions", "docker_userns_host_info",
           "docker_userns_subid_range")
MODULE_UTILS = ("docker_userns_files", "docker_userns_subids")
PLAYBOOKS = ("site", "audit", "remove")
CORE_PIN = next(line for line in (ROOT / "requirements-dev.txt").read_text().splitlines() if line.startswith("ansible-core=="))


def run(argv, env=None, cwd=None, timeout=900, check=True):
    result = subprocess.run([str(a) for a in argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        pytest.fail("%s exited %d\n--- stdout\n%s\n--- stderr\n%s" % (argv, result.returncode, result.stdout[-6000:], result.stderr[-6000:]))
    return result


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("collection")


def ansible_env(collections_path=None, roles_path=None):
    """Ansible that sees only the given collections path (plus the `ansible` package) and roles path.

    Commands run in the work directory, so the repository's ansible.cfg (roles_path ./roles) is not read.
    """
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.pop("ANSIBLE_CONFIG", None)
    env["ANSIBLE_COLLECTIONS_PATH"] = str(collections_path or "/nonexistent")
    env["ANSIBLE_ROLES_PATH"] = str(roles_path or "/nonexistent")
    env.pop("ANSIBLE_LIBRARY", None)
    return env


def build(out, **env):
    result = run([ROOT / "tools" / "build-collection.sh", out], env=dict(os.environ, **env))
    return Path(result.stdout.strip().splitlines()[-1])


def members(tarball):
    with tarfile.open(tarball) as tar:
        return {member.name: member for member in tar.getmembers()}


def install(source, path, workdir):
    path.mkdir()
    assert not any(path.iterdir())
    run(["ansible-galaxy", "collection", "install", "--no-cache", "-p", path, source], env=ansible_env(path), cwd=workdir)
    return path / "ansible_collections" / "docker_hardening" / "userns"


@pytest.fixture(scope="session")
def tarball(workdir):
    return build(workdir / "dist")


@pytest.fixture(scope="session")
def installed(tarball, workdir):
    return install(tarball, workdir / "collections", workdir)


# ---- the tarball ---------------------------------------------------------------------------


def test_tarball_is_named_for_the_collection_and_version(tarball):
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert tarball.name == "docker_hardening-userns-%s.tar.gz" % version


def test_tarball_holds_the_collection_with_real_modules(tarball):
    names = members(tarball)
    for name in MODULES:
        module = names["plugins/modules/%s.py" % name]
        assert module.isfile(), "%s must be a real file (ansible-doc and galaxy-importer skip links)" % module.name
        for link in ("library/%s.py" % name, "roles/docker_userns/library/%s.py" % name):
            assert names[link].issym(), link
    for name in MODULE_UTILS:
        assert names["plugins/module_utils/%s.py" % name].isfile()
        assert names["roles/docker_userns/module_utils/%s.py" % name].issym()
    for path in ("MANIFEST.json", "FILES.json", "meta/runtime.yml", "CHANGELOG.md", "changelogs/changelog.yaml",
                 "README.md", "LICENSE", "requirements.yml", "execution-environment.yml", "tests/sanity/ignore-2.19.txt",
                 "roles/docker_userns/README.md", "roles/docker_userns/meta/argument_specs.yml",
                 "docs/install.md", "docs/role.md", "docs/plugin.md", "docs/threat-model.md",
                 "docs/testing.md", "docs/performance.md",
                 "playbooks/site.yml", "playbooks/audit.yml", "playbooks/remove.yml"):
        assert path in names, path
    assert names["files/docker_userns_enforcement_plugin.py"].isfile()


def test_tarball_leaves_out_what_only_the_tests_use(tarball):
    tops = {name.split("/")[0] for name in members(tarball)}
    for left_out in ("molecule", "bench", "tools", ".ci", ".config", ".hypothesis", "build", "Makefile", "requirements-dev.txt",
                     "pyproject.toml"):
        assert left_out not in tops, left_out
    assert not [name for name in members(tarball) if name.startswith(("tests/unit", "tests/integration", "tests/fleet", "tests/collection", "tests/fixtures"))]


def test_an_untracked_file_is_never_packed(workdir):
    canaries = [ROOT / ".hypothesis" / ("canary-%s" % uuid.uuid4().hex),  # ignored by git
                ROOT / "roles" / "docker_userns" / "templates" / ("untracked-canary-%s.j2" % uuid.uuid4().hex)]  # not ignored
    created_dirs = [c.parent for c in canaries if not c.parent.exists()]
    try:
        for canary in canaries:
            canary.parent.mkdir(parents=True, exist_ok=True)
            canary.write_text("must not be packed\n")
        names = members(build(workdir / "canary-dist"))
        # The trap this guards against: a plain build of the work tree packs them.
        plain = run(["ansible-galaxy", "collection", "build", "--force", "--output-path", workdir / "plain-dist", ROOT],
                    env=ansible_env(), cwd=workdir)
        created = re.search(r"Created collection for \S+ at (\S+)", plain.stdout)
        assert created, plain.stdout
        plain_names = members(Path(created.group(1)))
    finally:
        for canary in canaries:
            canary.unlink(missing_ok=True)
        for directory in created_dirs:
            shutil.rmtree(directory, ignore_errors=True)
    for canary in canaries:
        relative = str(canary.relative_to(ROOT))
        assert relative in plain_names, "the plain build no longer packs untracked files: the guard test proves nothing"
        assert relative not in names, relative


# ---- installed from the tarball ------------------------------------------------------------


def test_install_from_the_tarball_into_an_empty_path(installed, workdir):
    listing = run(["ansible-galaxy", "collection", "list", COLLECTION, "--format", "json"],
                  env=ansible_env(workdir / "collections"), cwd=workdir)
    found = json.loads(listing.stdout)
    assert list(found) == [str(workdir / "collections" / "ansible_collections")], found
    for name in MODULES:
        assert (installed / "plugins" / "modules" / (name + ".py")).is_file()
        assert not (installed / "plugins" / "modules" / (name + ".py")).is_symlink()
        assert (installed / "roles" / "docker_userns" / "library" / (name + ".py")).resolve().is_file()
    assert (installed / "roles" / "docker_userns" / "files" / "docker_userns_enforcement_plugin.py").resolve().is_file()


def test_ansible_doc_lists_every_module_and_the_role(installed, workdir):
    env = ansible_env(workdir / "collections")
    listed = json.loads(run(["ansible-doc", "--list", "--json", COLLECTION], env=env, cwd=workdir).stdout)
    assert sorted(listed) == sorted("%s.%s" % (COLLECTION, name) for name in MODULES)
    roles = run(["ansible-doc", "-t", "role", "--list", COLLECTION], env=env, cwd=workdir).stdout
    assert ROLE in roles


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders_every_module(installed, workdir, name):
    fqcn = "%s.%s" % (COLLECTION, name)
    doc = json.loads(run(["ansible-doc", "--json", fqcn], env=ansible_env(workdir / "collections"), cwd=workdir).stdout)
    assert doc[fqcn]["doc"]["module"] == name
    assert doc[fqcn]["doc"]["options"] and doc[fqcn]["examples"] and doc[fqcn]["return"]
    # The same file through library/ (a link), as the standalone role and `-M library` see it.
    local = json.loads(run(["ansible-doc", "--json", "-M", ROOT / "library", name], env=ansible_env(), cwd=workdir).stdout)
    assert local[name]["doc"]["module"] == name


def test_ansible_doc_renders_the_role(installed, workdir):
    doc = run(["ansible-doc", "-t", "role", ROLE], env=ansible_env(workdir / "collections"), cwd=workdir).stdout
    assert "ENTRY POINT" in doc and "docker_userns_mode" in doc
    standalone = run(["ansible-doc", "-t", "role", "-r", ROOT / "roles", "docker_userns"], env=ansible_env(), cwd=workdir).stdout
    assert "docker_userns_mode" in standalone


def test_modules_run_by_their_fully_qualified_names(installed, workdir):
    env = dict(ansible_env(workdir / "collections"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    subuid = workdir / "subuid"
    subuid.write_text("someone:100000:65536\n")

    def adhoc(module, args):
        out = run(["ansible", "localhost", "-c", "local", "-i", "localhost,", "-e", "ansible_python_interpreter=/usr/bin/python3",
                   "-m", "%s.%s" % (COLLECTION, module), "-a", args],
                  env=env, cwd=workdir).stdout
        return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]

    info = adhoc("docker_userns_host_info", "count_objects=false")
    assert isinstance(info["max_user_namespaces"], int) and "dockerd_flags" in info
    ranged = adhoc("docker_userns_subid_range", "path=%s name=collection-test" % subuid)
    # The first multiple of 65536 from 100000 past someone's range; this machine's NSS knows no id there.
    assert ranged["changed"] and ranged["start"] == 196608 and ranged["known_ids_checked"] == 65536
    assert subuid.read_text().splitlines() == ["someone:100000:65536", "collection-test:196608:65536"]
    # This machine keeps no journal (no systemd as PID 1): never "ready", and why.
    decisions = adhoc("docker_userns_decisions", "config_path=%s" % (workdir / "no-config.json"))
    assert decisions["ready"] is False and decisions["verdict"] == "no journal" and decisions["error"]
    # An empty data directory: nothing a switch would hide.
    listed = adhoc("docker_userns_data_root", "data_root=%s" % (workdir / "no-docker"))
    assert listed["inventory"]["containers"] == [] and listed["problems"] == [] and listed["changed"] is False


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbooks_run_by_their_fully_qualified_names(installed, workdir, playbook):
    env = ansible_env(workdir / "collections")
    inventory = workdir / "inventory.ini"
    inventory.write_text("[docker_hosts]\ndocker-01 ansible_connection=local\n\n[elsewhere]\nother-01 ansible_connection=local\n")
    fqcn = "%s.%s" % (COLLECTION, playbook)
    default = run(["ansible-playbook", "-i", inventory, fqcn, "--list-hosts"], env=env, cwd=workdir).stdout
    assert "docker-01" in default and "other-01" not in default
    overridden = run(["ansible-playbook", "-i", inventory, fqcn, "--list-hosts", "-e", "docker_userns_hosts=elsewhere"],
                     env=env, cwd=workdir).stdout
    assert "other-01" in overridden and "docker-01" not in overridden
    if playbook != "audit":
        tasks = run(["ansible-playbook", "-i", inventory, fqcn, "--list-tasks"], env=env, cwd=workdir).stdout
        assert ROLE + " : Read the Docker host" in tasks, "the playbook's role is not the collection's"


# ---- other ways to install it ----------------------------------------------------------------


def test_install_from_a_git_url(workdir):
    # What a user's requirements.yml with `source: git+https://...` does, from a clone of this repository.
    clone = workdir / "repo.git"
    run(["git", "clone", "--quiet", "--bare", ROOT, clone])
    installed = install("git+file://%s" % clone, workdir / "from-git", workdir)
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    assert manifest["collection_info"]["name"] == "userns"
    for name in MODULES:
        assert (installed / "plugins" / "modules" / (name + ".py")).is_file()
    assert not (installed / "molecule").exists()
    listed = json.loads(run(["ansible-doc", "--list", "--json", COLLECTION], env=ansible_env(workdir / "from-git"), cwd=workdir).stdout)
    assert len(listed) == len(MODULES)


def test_standalone_role_tarball_installs_and_resolves_its_modules(workdir):
    role_tarball = workdir / "docker_userns.tar.gz"
    run(["tar", "-C", ROOT / "roles", "-chzf", role_tarball, "docker_userns"])
    roles = workdir / "roles"
    run(["ansible-galaxy", "role", "install", "-p", roles, "%s,,docker_userns" % role_tarball], env=ansible_env(), cwd=workdir)
    for name in MODULES:
        module = roles / "docker_userns" / "library" / (name + ".py")
        assert module.is_file() and not module.is_symlink()
    for name in MODULE_UTILS:
        shared = roles / "docker_userns" / "module_utils" / (name + ".py")
        assert shared.is_file() and not shared.is_symlink()
    playbook = workdir / "standalone.yml"
    playbook.write_text("- hosts: all\n  gather_facts: false\n  roles:\n    - docker_userns\n")
    # Parsing resolves every task's module: unknown short names fail here.
    tasks = run(["ansible-playbook", "-i", "localhost,", playbook, "--list-tasks"], env=ansible_env(roles_path=roles), cwd=workdir).stdout
    assert "docker_userns : Read the Docker host" in tasks
    # A module that imports the shared code runs from the installed role: the collection's import
    # fails there, and the fallback finds the role's module_utils/ (no collection is installed).
    subuid = workdir / "standalone-subuid"
    subuid.write_text("")
    uses = workdir / "standalone-modules.yml"
    uses.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Load the role, its library/ and module_utils/ with it\n"
        "      ansible.builtin.import_role: {name: docker_userns, tasks_from: report_decisions.yml}\n"
        "    - name: Give a user a range\n"
        "      docker_userns_subid_range: {path: %s, name: standalone-test, known_ids: none}\n" % subuid)
    run(["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=/usr/bin/python3", uses],
        env=ansible_env(roles_path=roles), cwd=workdir)
    assert subuid.read_text() == "standalone-test:131072:65536\n"
    doc = run(["ansible-doc", "-t", "role", "-r", roles, "docker_userns"], env=ansible_env(), cwd=workdir).stdout
    assert "docker_userns_mode" in doc


# ---- release checks ------------------------------------------------------------------------------


def test_ansible_test_sanity(installed):
    # ansible-core alone in its own venv (tools/setup.sh); each sanity test installs its pinned tools.
    venv = DEV_CACHE / ("venv-sanity-" + CORE_PIN.split("==")[1])
    home = DEV_CACHE / "ansible-test-home"
    env = dict(os.environ, HOME=str(home), PATH="%s:%s" % (venv / "bin", os.environ["PATH"]))
    python = "%d.%d" % sys.version_info[:2]  # the machine's python3, which both venvs are made from
    argv = [venv / "bin" / "ansible-test", "sanity", "--local", "--requirements", "--python", python, "--color", "no"]
    result = run(argv, env=env, cwd=installed, check=False)
    missing = re.search(r"can be manually downloaded and saved to: (\S+)", result.stdout + result.stderr)
    if missing:
        # get-pip.py comes from a host these machines cannot reach: use the offline stand-in.
        Path(missing.group(1)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(__file__).with_name("get_pip_offline.py"), missing.group(1))
        result = run(argv, env=env, cwd=installed, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    for test in ("validate-modules", "ansible-doc", "pylint", "pep8", "import", "compile", "yamllint", "changelog",
                 "runtime-metadata", "symlinks", "ignores"):
        assert 'Running sanity test "%s"' % test in output, test


def test_galaxy_importer(workdir):
    # The importer requires galaxy.yml's `repository`; the project has none yet, so the build writes
    # a placeholder into its copy (tools/build-collection.sh). Its own ansible-test step runs in a
    # container image that cannot be pulled here: test_ansible_test_sanity runs it instead.
    tarball = build(workdir / "importer-dist", COLLECTION_REPOSITORY="https://example.invalid/docker-userns-enforcement")
    config = workdir / "galaxy-importer.cfg"
    config.write_text("[galaxy-importer]\nRUN_ANSIBLE_TEST = False\nRUN_ANSIBLE_LINT = True\n")
    result = run(["python", "-m", "galaxy_importer.main", tarball], env=dict(os.environ, GALAXY_IMPORTER_CONFIG=str(config)),
                 cwd=workdir)
    output = result.stdout + result.stderr
    assert "Importer processing completed successfully" in output, output
    for name in MODULES:
        assert "Loading module %s" % name in output
    assert "Loading role docker_userns" in output
    assert "ERROR" not in output, output


def test_execution_environment_is_accepted_by_ansible_builder(workdir):
    context = workdir / "ee-context"
    run(["ansible-builder", "create", "-f", ROOT / "execution-environment.yml", "--context", context,
         "--output-filename", "Containerfile"], cwd=ROOT)
    containerfile = (context / "Containerfile").read_text()
    definition = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    assert definition["version"] == 3
    assert 'EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    assert definition["dependencies"]["ansible_core"]["package_pip"] == CORE_PIN, "the EE should pin the tested ansible-core"
    assert CORE_PIN in containerfile
    assert (context / "_build" / "requirements.yml").read_text() == (ROOT / "requirements.yml").read_text()


def test_runtime_requirements_are_only_what_the_role_needs(workdir):
    # AWX and Automation Platform install requirements.yml on every project sync.
    runtime = yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert runtime == {"collections": [], "roles": []}
    target = workdir / "awx-sync"
    for kind in ("collection", "role"):
        run(["ansible-galaxy", kind, "install", "-r", ROOT / "requirements.yml", "-p", target], env=ansible_env(), cwd=workdir)
    assert not target.exists() or not any(target.rglob("*"))
    # The tests' collections are elsewhere, and come from the `ansible` package (no Galaxy here).
    tests = yaml.safe_load((ROOT / "molecule" / "requirements.yml").read_text())
    for collection in tests["collections"]:
        found = run(["ansible-galaxy", "collection", "list", collection["name"], "--format", "json"], env=ansible_env(), cwd=workdir)
        assert json.loads(found.stdout), collection["name"]
