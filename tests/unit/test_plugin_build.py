"""The one shipped file and the package it is built from decide alike, and the build keeps its rules.

The unit tests import the package (src/docker_userns_plugin); the role deploys, and the integration
tests and Molecule run, the file tools/build_plugin.py makes of it. Here the same requests go
through both, each with its own lookups against one stand-in daemon and the real host paths, and
every decision must be the same. `make lint` (part plugin-build) checks that the committed file
is the build's output.
"""

from __future__ import annotations

import base64
import json
import random
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import bypass_probe
import plugin_module
from docker_userns_plugin import config as config_module
from docker_userns_plugin import daemon_api, daemon_lookup, policy
from standin import StandInDaemon

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import build_plugin

shipped = plugin_module.load()

IMAGE = "busybox:local"
OUTSIDE_ID, INSIDE_ID, JOINER_ID, USER_ID = ("%064x" % n for n in (0xA1, 0xB2, 0xC3, 0xD4))


def description(container_id: str, name: str, host_config: dict, mounts: Tuple[dict, ...] = (), user: str = "") -> dict:
    return {"Id": container_id, "Name": "/" + name, "State": {"Status": "running"}, "HostConfig": host_config,
            "Config": {"User": user}, "Mounts": list(mounts)}


CONTAINERS = [
    description(OUTSIDE_ID, "outside", {"UsernsMode": "host"}),
    description(INSIDE_ID, "inside", {"Binds": ["/srv:/srv"]},
                ({"Type": "volume", "Name": "data", "Source": "", "Destination": "/data", "Driver": "local"},
                 {"Type": "bind", "Source": "/srv", "Destination": "/srv"})),
    description(JOINER_ID, "joiner", {"NetworkMode": "container:outside"}),
    description(USER_ID, "withuser", {}, user="1000"),
]
VOLUMES: Dict[str, dict] = {"data": {}, "bound": {"Options": {"type": "none", "o": "bind", "device": "/root"}}, "remote": {"Driver": "sshfs"}}
EXECS = {"e-out": OUTSIDE_ID, "e-in": INSIDE_ID}


Sent = Tuple[str, str, Optional[bytes]]  # method, RequestURI, body (None: the daemon forwarded none)


def create(body: dict, query: str = "") -> Sent:
    return ("POST", "/v1.41/containers/create" + query, json.dumps(body).encode())


def corpus() -> List[Sent]:
    """(method, uri, body or None, headers) of many kinds: every rule gets something to refuse and
    something to allow."""
    requests: List[Sent] = [("GET", "/_ping", None), ("HEAD", "/_ping", None), ("GET", "/v1.41/containers/json?all=1", None)]
    for case in bypass_probe.CASES:
        for mode in ("host", ""):
            requests.append(("POST", "/v1.41/containers/create", bypass_probe.body_of(case, IMAGE, mode)))
    rng = random.Random(7)
    requests += [("POST", "/containers/create", bypass_probe.generated_body(rng, IMAGE)) for _ in range(150)]
    host_configs = [
        {"Privileged": True}, {"PidMode": "host"}, {"NetworkMode": "host"}, {"CapAdd": ["sys_admin"]},
        {"Binds": ["/var/run/docker.sock:/s"]}, {"Binds": ["/does/not/exist/x:/x"]}, {"Binds": ["/tmp:/t"]},
        {"Binds": ["data:/d"]}, {"Binds": ["bound:/d"]}, {"Binds": ["remote:/d"]}, {"Binds": ["data:/d:nocopy"]},
        {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/t"}]},
        {"Mounts": [{"Type": "bind", "Source": "/nope", "Target": "/t", "BindOptions": {"CreateMountpoint": True}}]},
        {"Mounts": [{"Type": "volume", "Source": "fresh", "Target": "/f",
                     "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"o": "bind", "device": "/etc"}}}}]},
        {"Devices": [{"PathOnHost": "/dev/fuse"}]}, {"VolumesFrom": ["inside"]}, {"VolumeDriver": "sshfs"},
        {"NetworkMode": "container:outside"}, {"IpcMode": "container:joiner"}, {"PidMode": "container:inside"},
    ]
    requests += [create({"Image": IMAGE, "HostConfig": hc}) for hc in host_configs]
    requests.append(create({"Image": IMAGE, "HostConfig": {"UsernsMode": "host"}}, "?name=buildx_buildkit_x"))
    for target in ("outside", "inside", "joiner", "withuser", OUTSIDE_ID[:12], "missing"):
        requests += [
            ("POST", "/containers/%s/start" % target, None), ("POST", "/containers/%s/restart" % target, None),
            ("POST", "/containers/%s/exec" % target, b'{"Cmd": ["true"]}'), ("POST", "/containers/%s/attach?stream=1" % target, None),
            ("GET", "/containers/%s/archive?path=/" % target, None), ("HEAD", "/containers/%s/archive?path=/" % target, None),
            ("PUT", "/containers/%s/archive?path=/&copyUIDGID=1" % target, b"tar"),
            ("POST", "/v1.23/containers/%s/start" % target, b'{"UsernsMode": "host"}'),
            ("POST", "/v1.23/containers/%s/start" % target, b"{}"),
            ("POST", "/containers/%s/checkpoints" % target, b'{"CheckpointDir": "/tmp/x"}'),
            ("POST", "/containers/%s/start?checkpoint-dir=/tmp" % target, None),
        ]
    requests += [
        ("POST", "/exec/e-out/start", b"{}"), ("POST", "/exec/e-in/start", b"{}"), ("POST", "/exec/nope/start", b"{}"),
        ("POST", "/plugins/pull?remote=vieux/sshfs", b"[]"), ("POST", "/plugins/create?name=x", None),
        ("POST", "/plugins/vieux/sshfs:latest/enable", None), ("POST", "/build?version=2", None), ("POST", "/build", None),
        ("POST", "/grpc", None), ("POST", "/swarm/init", b"{}"), ("POST", "/services/create", b'{"TaskTemplate": {"Runtime": "plugin"}}'),
        ("POST", "/volumes/create", b'{"Name": "v"}'), ("POST", "/networks/create", b'{"Name": "n"}'),
        ("POST", "/containers/create", None), ("POST", "/containers/create", b"not json"), ("POST", "/containers/create", b"[]"),
        ("POST", "/containers/%zz/start", None), ("POST", "/containers/x/start?a=b;c", None),
    ]
    return requests


def payload(method: str, uri: str, body, form: bool = False) -> dict:
    headers = {"Content-Type": "application/x-www-form-urlencoded" if form else "application/json"}
    if body is None:
        headers["Content-Length"] = "0"
    result = {"User": "alice", "RequestMethod": method, "RequestUri": uri, "RequestHeaders": headers}
    if body is not None:
        result["RequestBody"] = base64.b64encode(body).decode()
    return result


CONFIGS = [
    {},
    {"mode": "audit"},
    {"deny_privileged": True, "deny_host_namespaces": ["pid", "network"], "deny_cap_add": ["ALL"],
     "deny_bind_mounts": ["/var/run/docker.sock"], "deny_devices": True},
    {"allowed_plugins": ["vieux/sshfs"], "allow_swarm": True, "allow_copy_through_host_mounts": True},
    {"exempt_users": ["alice"]},
]


@pytest.fixture(scope="module")
def daemon_dir():
    path = Path(tempfile.mkdtemp(prefix="due-build-"))
    yield path
    shutil.rmtree(path)


@pytest.mark.parametrize("version", ["20.10.24+dfsg1", "26.1.5+dfsg1", "29.5.0", "29.7.2"])
@pytest.mark.parametrize("raw_config", CONFIGS, ids=["enforce", "audit", "cis", "opt-ins", "exempt"])
def test_the_package_and_the_shipped_file_decide_alike(daemon_dir, version, raw_config):
    socket_path = str(daemon_dir / "d.sock")
    with StandInDaemon(socket_path, version=version, containers=CONTAINERS, volumes=VOLUMES, execs=EXECS):
        package_config = config_module.validate_config(dict(raw_config, docker_socket=socket_path))
        shipped_config = shipped.validate_config(dict(raw_config, docker_socket=socket_path))
        assert package_config == shipped_config
        package_lookup = daemon_lookup.DaemonLookup(daemon_api.DockerAPI(socket_path), cache=False)
        shipped_lookup = shipped.DaemonLookup(shipped.DockerAPI(socket_path), cache=False)
        compared, denied, differ = 0, 0, []
        for method, uri, body in corpus():
            for form in (False, True):
                request = payload(method, uri, body, form)
                mine, _ = policy.decide(request, package_config, package_lookup)
                theirs, _ = shipped.decide(request, shipped_config, shipped_lookup)
                compared += 1
                denied += mine.decision != "allow"
                if tuple(mine) != tuple(theirs):
                    differ.append((method, uri, tuple(mine), tuple(theirs)))
    assert not differ, differ[:3]
    assert compared > 500
    if raw_config.get("exempt_users"):
        assert denied > 0  # unreadable requests are refused even to exempt users
    else:
        assert denied > 100, "the corpus must make the rules refuse, or the comparison proves little"


# -- the build's rules -----------------------------------------------------------------------


def make_package(tmp_path: Path, modules: dict) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""The package."""\n')
    for name, text in modules.items():
        (package / (name + ".py")).write_text(textwrap.dedent(text))
    return package


LOW = '''\
    """Low."""

    from __future__ import annotations

    import json

    VALUE = json.dumps(1)
    '''
HIGH = '''\
    """High."""

    from __future__ import annotations

    from typing import Any

    from .low import VALUE

    # about it
    def read() -> Any:
        return VALUE
    '''


def test_the_build_joins_modules_in_order_with_one_import_block(tmp_path):
    package = make_package(tmp_path, {"low": LOW, "high": HIGH})
    text = build_plugin.build(package, ["low", "high"])
    assert text == build_plugin.build(package, ["low", "high"])  # deterministic
    assert text.index("# low.py: Low.") < text.index("# high.py: High.") < text.index("# about it\ndef read()")
    assert text.count("from __future__ import annotations") == 1 and "from .low" not in text
    assert "import json\nfrom typing import Any\n" in text
    namespace: dict = {}
    exec(compile(text, "built", "exec"), namespace)
    assert namespace["read"]() == "1"


@pytest.mark.parametrize("modules, order, refusal", [
    ({"low": LOW, "high": HIGH}, ["high", "low"], "comes later in the dependency order"),
    ({"low": LOW, "high": HIGH.replace("from .low import VALUE", "from .low import OTHER")}, ["low", "high"], "does not define it"),
    ({"low": LOW, "high": HIGH.replace("from .low import VALUE", "from . import low")}, ["low", "high"], "from .module import name"),
    ({"low": LOW, "high": HIGH + "\n\n    VALUE = 2\n"}, ["low", "high"], "defined in both low and high"),
    ({"low": LOW.replace('"""Low."""', "")}, ["low"], "has no docstring"),
    ({"low": LOW}, ["low", "high"], "and the package differ"),
])
def test_the_build_refuses_a_module_that_breaks_a_rule(tmp_path, modules, order, refusal):
    package = make_package(tmp_path, modules)
    with pytest.raises(build_plugin.BuildError, match=refusal):
        build_plugin.build(package, order)


def test_no_module_is_long():
    longest = max((len(p.read_text().splitlines()), p.name) for p in plugin_module.PACKAGE_PATH.glob("*.py"))
    assert longest[0] <= 500, longest


def test_the_contributing_guide_lists_every_module_once():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "contributing.md").read_text()
    listed = re.findall(r"^\| `([a-z_]+)` \|", guide, re.M)
    assert sorted(listed) == sorted(build_plugin.MODULES)
