#!/usr/bin/env python3
"""Record the authorization requests that real Docker clients send, as fixtures for the plugin.

    . tools/lib.sh; use_outer_dockerd
    python3 tools/record_cli_fixtures.py [--suites bookworm,trixie,forky] [--out tests/fixtures/cli] [--keep-host]

For each suite it starts a host container (docker-userns-host:SUITE, tools/build-host-image.sh)
on the outer dockerd, with systemd and its own Docker, as the Molecule scenarios do. Inside, the
recorder (tests/fixtures/record_authz.py) runs as the authorization plugin authz-recorder, and
the host's dockerd is configured with "userns-remap": "default" and that plugin. Then COMMANDS
run, one after another, with the host's own docker CLI (and compose and buildx on forky), on a
busybox image made inside the host. The recorder allows everything and writes each AuthZReq
exactly as the daemon forwarded it, with what the daemon said about its containers, volumes and
networks and what the host's network was at that moment (the unit test answers the enforcement
plugin's lookups from that).

Written to OUT/SUITE/ (replaced):

    NNNN-COMMAND.json  one AuthZReq payload, byte for byte (NNNN: its number in the recording);
                       a payload identical to an earlier one is not written again
    index.json         the engine and client versions, the package fixes as the role reads them,
                       each command (its shell line, exit code, the end of its output when it
                       failed) and each request (file, command, method, URI, the daemon's status,
                       what the plugin is expected to decide, and why when it is a refusal)
    daemon.json        the daemon's answers per request: containers (inspect, trimmed of run-time
                       state), volumes, networks, execs, and the host's network (as the plugin's
                       read_host_network reads /proc/1/net); GET /info; the host paths and devices
                       the requests name, as the plugin's inspect_host_path and host_devices see
                       them in the host at the end; and the order of requests and responses (for
                       the plugin's volume holds)

One heavy run at a time on these machines: each suite takes /var/lock/due-heavy.lock while its
host runs (forky hosts share the machine's cgroup2 hierarchy; only one may run at a time).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
RECORDER = ROOT / "tests" / "fixtures" / "record_authz.py"
PLUGIN = ROOT / "files" / "docker_userns_enforcement_plugin.py"
SUITES = ("bookworm", "trixie", "forky")
HEAVY_LOCK = "/var/lock/due-heavy.lock"
PLUGIN_NAME = "authz-recorder"
RECORDING = "/var/lib/authz-recorder"
LABEL_FILE = "/run/authz-recorder/label"
WORK = "/var/tmp/cli-fixtures"  # not /tmp: a tmpfs private to units on Debian 13 and later
IMAGE = "busybox:local"
# Every capability but SYS_RESOURCE (absent on these machines); see .config/molecule/config.yml.
HOST_CAPS = ("AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "CHOWN", "DAC_OVERRIDE",
             "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE",
             "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW",
             "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE",
             "SYS_NICE", "SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM")
DAEMON_JSON = {"userns-remap": "default", "authorization-plugins": [PLUGIN_NAME]}
COMMAND_TIMEOUT = 180


class Command(NamedTuple):
    name: str
    shell: str  # run with bash in WORK, inside the host
    suites: Tuple[str, ...] = SUITES


def pty(command: str) -> str:
    """Run a command that asks for a terminal (-it) under script(1), which gives it one."""
    return "script -qec %s /dev/null < /dev/null" % shell_quote(command)


def shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


B = IMAGE
FORKY = ("forky",)
# Everyday, legitimate use: what users, the Molecule tests and the probes' controls do. Each runs
# in order (later ones use the containers, volumes and networks earlier ones made); a command
# may fail after the daemon authorized it (no network, no registry): its requests still count.
COMMANDS: List[Command] = [
    Command("import-busybox", "import-busybox-image %s" % B),
    Command("version", "docker version"),
    Command("info", "docker info"),
    Command("images", "docker images"),
    Command("images-filter", "docker images --filter 'reference=busybox*' --filter dangling=false --format '{{.Repository}}:{{.Tag}}'"),
    Command("image-inspect", "docker image inspect %s" % B),
    Command("history", "docker history %s" % B),
    Command("tag", "docker tag %s fixtures/busybox:tagged" % B),
    Command("pull", "docker pull fixtures/not-in-any-registry:1"),
    # networks and volumes
    Command("network-create", "docker network create appnet"),
    Command("network-create-subnet", "docker network create --subnet 10.123.0.0/24 subnet-net"),
    Command("network-create-internal", "docker network create --internal internal-net"),
    Command("network-create-label", "docker network create --label team=infra labelled-net"),
    Command("network-ls", "docker network ls"),
    Command("network-ls-filter", "docker network ls --filter driver=bridge --filter label=team=infra"),
    Command("network-inspect", "docker network inspect appnet"),
    Command("volume-create", "docker volume create plainvol"),
    Command("volume-create-label", "docker volume create --label team=infra labelledvol"),
    Command("volume-create-tmpfs", "docker volume create -o type=tmpfs -o device=tmpfs -o o=size=10m tmpfsvol"),
    Command("volume-create-bind", "docker volume create -o type=none -o o=bind -o device=/srv/data bindvol"),
    Command("volume-ls", "docker volume ls"),
    Command("volume-ls-filter", "docker volume ls --filter dangling=true --filter label=team=infra"),
    Command("volume-inspect", "docker volume inspect plainvol tmpfsvol bindvol"),
    # docker run, one option at a time
    Command("run-plain", "docker run --rm %s true" % B),
    Command("run-network-none", "docker run --rm --network none %s cat /proc/self/uid_map" % B),
    Command("run-detached-named", "docker run -d --name web %s sleep 3600" % B),
    Command("run-volume-named", "docker run --rm -v plainvol:/data %s sh -c 'echo x > /data/f'" % B),
    Command("run-volume-new", "docker run --rm -v newvol:/data %s true" % B),
    Command("run-volume-nocopy", "docker run --rm -v plainvol:/data:nocopy %s ls /data" % B),
    Command("run-volume-ro", "docker run --rm -v plainvol:/data:ro %s ls /data" % B),
    Command("run-volume-anonymous", "docker run --rm -v /data %s true" % B),
    Command("run-volume-tmpfs", "docker run --rm -v tmpfsvol:/data %s df /data" % B),
    Command("run-volume-bind-local", "docker run --rm -v bindvol:/data %s cat /data/file" % B),
    Command("run-volume-bind-local-nocopy", "docker run --rm -v bindvol:/data:nocopy %s ls /data" % B),
    Command("run-bind-v", "docker run --rm -v /srv/data:/data:ro %s cat /data/file" % B),
    Command("run-mount-bind", "docker run --rm --mount type=bind,source=/srv/data,target=/data,readonly %s cat /data/file" % B),
    Command("run-mount-bind-user-owned", "docker run --rm --mount type=bind,source=/home/appuser/project,target=/project %s ls /project" % B),
    Command("run-mount-volume", "docker run --rm --mount type=volume,source=mountvol,target=/data %s true" % B),
    Command("run-mount-volume-nocopy", "docker run --rm --mount type=volume,source=mountvol,target=/data,volume-nocopy %s true" % B),
    Command("run-mount-volume-opts", "docker run --rm --mount 'type=volume,source=optvol,target=/data,volume-driver=local,"
            "volume-opt=type=tmpfs,volume-opt=device=tmpfs' %s true" % B),
    Command("run-mount-tmpfs", "docker run --rm --mount type=tmpfs,target=/cache,tmpfs-size=10485760 %s df /cache" % B),
    Command("run-tmpfs", "docker run --rm --tmpfs /cache:rw,size=10m,mode=1777 %s df /cache" % B),
    Command("run-env", "docker run --rm -e FOO=bar -e EMPTY= %s env" % B),
    Command("run-env-file", "docker run --rm --env-file env.list %s env" % B),
    Command("run-workdir", "docker run --rm -w /tmp %s pwd" % B),
    Command("run-user", "docker run --rm -u 1000:1000 %s id" % B),
    Command("run-group-add", "docker run --rm --group-add 100 %s id" % B),
    Command("run-read-only", "docker run --rm --read-only %s true" % B),
    Command("run-restart", "docker run -d --name restarter --restart unless-stopped %s sleep 3600" % B),
    Command("run-restart-on-failure", "docker run -d --name retrier --restart on-failure:3 %s true" % B),
    Command("run-health", "docker run -d --name healthy --health-cmd 'test -e /proc/1' --health-interval 5s --health-timeout 2s "
            "--health-retries 3 --health-start-period 1s %s sleep 3600" % B),
    Command("run-ulimit", "docker run --rm --ulimit nofile=1024:2048 --ulimit nproc=512:1024 %s true" % B),
    Command("run-memory", "docker run --rm --memory 64m --memory-swap 128m --memory-reservation 32m %s true" % B),
    Command("run-cpus", "docker run --rm --cpus 0.5 --cpu-shares 512 %s true" % B),
    Command("run-pids-limit", "docker run --rm --pids-limit 100 %s true" % B),
    Command("run-cap-add", "docker run --rm --cap-add NET_ADMIN %s true" % B),
    Command("run-cap-drop", "docker run --rm --cap-drop ALL %s true" % B),
    Command("run-cap-drop-add", "docker run --rm --cap-drop ALL --cap-add CHOWN --cap-add SETUID --cap-add SETGID %s true" % B),
    Command("run-security-opt", "docker run --rm --security-opt no-new-privileges %s true" % B),
    Command("run-device-fuse", "docker run --rm --device /dev/fuse %s true" % B),
    Command("run-device-tun", "docker run --rm --device /dev/net/tun --cap-add NET_ADMIN %s true" % B),
    Command("run-publish", "docker run -d --name published -p 8080:80 -p 127.0.0.1:8443:443/tcp %s sleep 3600" % B),
    Command("run-publish-all", "docker run --rm -P --expose 9000 %s true" % B),
    Command("run-network-user", "docker run --rm --network appnet --network-alias db %s true" % B),
    Command("run-network-ip", "docker run --rm --network subnet-net --ip 10.123.0.10 %s true" % B),
    Command("run-hostname", "docker run --rm --hostname box %s hostname" % B),
    Command("run-add-host", "docker run --rm --add-host db.local:10.0.0.5 %s cat /etc/hosts" % B),
    Command("run-dns", "docker run --rm --dns 10.0.0.53 --dns-search example.org --dns-option ndots:2 %s cat /etc/resolv.conf" % B),
    Command("run-label", "docker run --rm --label fixture=yes --label team=infra %s true" % B),
    Command("run-log-json", "docker run --rm --log-driver json-file --log-opt max-size=1m --log-opt max-file=2 %s true" % B),
    Command("run-log-local", "docker run --rm --log-driver local %s true" % B),
    Command("run-log-journald", "docker run --rm --log-driver journald --log-opt tag=fixture %s true" % B),
    Command("run-log-none", "docker run --rm --log-driver none %s true" % B),
    Command("run-init", "docker run --rm --init %s true" % B),
    Command("run-shm-size", "docker run --rm --shm-size 64m %s df /dev/shm" % B),
    Command("run-stop-signal", "docker run --rm --stop-signal SIGINT %s true" % B),
    Command("run-stop-timeout", "docker run --rm --stop-timeout 5 %s true" % B),
    Command("run-sysctl", "docker run --rm --sysctl net.ipv4.ip_unprivileged_port_start=0 %s true" % B),
    Command("run-entrypoint", "docker run --rm --entrypoint /bin/echo %s hello" % B),
    Command("run-platform", "docker run --rm --platform linux/amd64 %s true" % B),
    Command("run-pull-never", "docker run --rm --pull never %s true" % B),
    Command("run-it", pty("docker run -it --rm %s sh -c tty" % B)),
    Command("run-interactive", "echo hello | docker run -i --rm %s cat" % B),
    Command("run-name-rm", "docker run --rm --name oneshot %s true" % B),
    Command("run-pid-container", "docker run --rm --pid container:web %s ps" % B),
    Command("run-network-container", "docker run --rm --network container:web %s true" % B),
    Command("run-ipc-shareable", "docker run -d --name ipcowner --ipc shareable %s sleep 3600" % B),
    Command("run-ipc-container", "docker run --rm --ipc container:ipcowner %s true" % B),
    Command("run-volumes-holder", "docker run -d --name holder -v holdervol:/data -v /srv/data:/srv:ro %s sleep 3600" % B),
    Command("run-volumes-from", "docker run --rm --volumes-from holder:ro %s ls /data /srv" % B),
    # the life of a container
    Command("create", "docker create --name created1 -e A=1 %s sleep 3600" % B),
    Command("start", "docker start created1"),
    Command("create-attach", "docker create --name created2 %s echo hello" % B),
    Command("start-attach", "docker start -a created2"),
    Command("exec-plain", "docker exec web mkdir -p /tmp"),
    Command("exec-user", "docker exec -u 1000:1000 web id"),
    Command("exec-workdir", "docker exec -w /tmp web pwd"),
    Command("exec-env", "docker exec -e FOO=bar web env"),
    Command("exec-it", pty("docker exec -it web sh -c tty")),
    Command("exec-interactive", "echo hello | docker exec -i web cat"),
    Command("exec-detach", "docker exec -d web sleep 1"),
    Command("cp-in", "docker cp env.list web:/tmp/env.list"),
    Command("cp-out", "docker cp web:/etc/hostname out/hostname"),
    Command("cp-in-archive", "docker cp -a env.list web:/tmp/env-a.list"),
    Command("cp-out-stdout", "docker cp web:/etc/hostname - > out/hostname.tar"),
    Command("run-as-user", "docker run -d --name userbox -u 1000:1000 %s sleep 3600" % B),
    Command("cp-in-user", "docker cp env.list userbox:/env.list"),
    Command("cp-in-archive-user", "docker cp -a env.list userbox:/env-a.list"),
    Command("run-volume-container", "docker run -d --name volbox -v plainvol:/data %s sleep 3600" % B),
    Command("run-volume-shared", "docker run --rm -v plainvol:/data %s ls /data" % B),
    Command("run-volume-shared-nocopy", "docker run --rm -v plainvol:/data:nocopy %s ls /data" % B),
    Command("cp-in-volume", "docker cp env.list volbox:/data/env.list"),
    Command("cp-out-volume", "docker cp volbox:/data/f out/f"),
    Command("logs", "docker logs web"),
    Command("logs-tail", "docker logs --tail 5 --timestamps --since 10m web"),
    Command("run-talker", "docker run -d --name talker %s sh -c 'sleep 5; echo bye'" % B),
    Command("attach", "docker attach --no-stdin talker"),
    Command("stats", "docker stats --no-stream web"),
    Command("stats-all", "docker stats --no-stream --all --format '{{.Name}} {{.CPUPerc}}'"),
    Command("top", "docker top web"),
    Command("top-args", "docker top web -o pid,comm"),
    Command("inspect", "docker inspect web"),
    Command("inspect-format", "docker container inspect --format '{{.State.Status}}' web"),
    Command("inspect-size", "docker inspect --size web"),
    Command("port", "docker port published"),
    Command("diff", "docker diff web"),
    Command("export", "docker export -o out/web.tar web"),
    Command("pause", "docker pause web"),
    Command("unpause", "docker unpause web"),
    Command("rename", "docker rename created1 renamed1"),
    Command("update", "docker update --memory 128m --memory-swap 256m --restart on-failure:2 web"),
    Command("update-cpus", "docker update --cpus 1 --pids-limit 200 web"),
    Command("run-waiter", "docker run -d --name waiter %s sleep 2" % B),
    Command("wait", "docker wait waiter"),
    Command("run-killme", "docker run -d --name killme %s sleep 3600" % B),
    Command("kill", "docker kill killme"),
    Command("kill-signal", "docker kill --signal SIGTERM restarter"),
    Command("stop", "docker stop -t 1 web"),
    Command("start-again", "docker start web"),
    Command("restart", "docker restart -t 1 web"),
    Command("commit", "docker commit -m fixture -c 'ENV COMMITTED=1' web fixtures/committed:1"),
    Command("save", "docker save -o out/busybox.tar %s" % B),
    Command("load", "docker load -i out/busybox.tar"),
    Command("import", "docker import -c 'CMD [\"sh\"]' -m imported out/web.tar fixtures/imported:1"),
    Command("import-stdin", "docker import - fixtures/imported:2 < out/web.tar"),
    Command("rmi", "docker rmi fixtures/busybox:tagged"),
    # builds
    Command("build-classic", "DOCKER_BUILDKIT=0 docker build --build-arg GREETING=hi --label team=infra -t fixtures/built:classic "
            "-f ctx/Dockerfile.alt ctx"),
    Command("build-classic-no-cache", "DOCKER_BUILDKIT=0 docker build --no-cache -t fixtures/built:plain ctx"),
    Command("build-buildkit", "DOCKER_BUILDKIT=1 docker build --build-arg GREETING=hi -t fixtures/built:buildkit ctx"),
    Command("build-default", "docker build -t fixtures/built:default ctx"),
    Command("buildx-build", "docker buildx build --builder default --build-arg GREETING=hi -t fixtures/bx:1 ctx", FORKY),
    Command("buildx-ls", "docker buildx ls", FORKY),
    Command("buildx-du", "docker buildx du", FORKY),
    Command("buildx-inspect", "docker buildx inspect default", FORKY),
    Command("builder-prune", "docker builder prune -f"),
    # compose: a named volume, a bind mount, a user network, environment, a healthcheck, depends_on
    Command("compose-up", "cd /srv/compose && docker compose -p fixtures up -d", FORKY),
    Command("compose-ps", "cd /srv/compose && docker compose -p fixtures ps", FORKY),
    Command("compose-logs", "cd /srv/compose && docker compose -p fixtures logs", FORKY),
    Command("compose-exec", "cd /srv/compose && docker compose -p fixtures exec -T web cat /conf/app.conf", FORKY),
    Command("compose-run", "cd /srv/compose && docker compose -p fixtures run --rm web true", FORKY),
    Command("compose-down", "cd /srv/compose && docker compose -p fixtures down", FORKY),
    # networks, volumes, listing, cleaning up
    Command("network-connect", "docker network connect appnet web"),
    Command("network-connect-alias", "docker network connect --alias webalias subnet-net web"),
    Command("network-disconnect", "docker network disconnect appnet web"),
    Command("network-rm", "docker network rm labelled-net"),
    Command("events", "docker events --since $(( $(date +%s) - 600 )) --until $(date +%s) --filter type=container > /dev/null"),
    Command("system-df", "docker system df"),
    Command("system-df-verbose", "docker system df -v"),
    Command("ps", "docker ps"),
    Command("ps-a", "docker ps -a"),
    Command("ps-filters", "docker ps -a --filter status=running --filter label=fixture=yes --filter name=web --filter ancestor=%s "
            "--format '{{.Names}}'" % B),
    Command("ps-quiet", "docker ps -aq --no-trunc"),
    Command("rm", "docker rm created2"),
    Command("rm-force", "docker rm -f web"),
    Command("rm-volumes", "docker rm -fv volbox"),
    Command("container-prune", "docker container prune -f"),
    Command("image-prune", "docker image prune -f"),
    Command("image-prune-filter", "docker image prune -af --filter label=team=infra"),
    Command("volume-rm", "docker volume rm labelledvol"),
    Command("volume-prune", "docker volume prune -f"),
    Command("network-prune", "docker network prune -f"),
]

# The host's files the commands use (no Docker request here). /srv and /home are root's 0755.
SETUP = r"""
set -eu
mkdir -p {work}/ctx {work}/out /srv/data /srv/compose/conf /home/appuser/project
echo data > /srv/data/file
echo conf > /srv/compose/conf/app.conf
chown 65534:65534 /home/appuser /home/appuser/project
printf 'FOO=bar\n# a comment\nEMPTY=\nFROM_FILE=1\n' > {work}/env.list
echo content > {work}/ctx/file.txt
cat > {work}/ctx/Dockerfile <<'DOCKERFILE'
FROM {image}
ARG GREETING=hello
RUN echo "$GREETING" > /greeting
ENV APP=1
WORKDIR /app
COPY file.txt /app/
CMD ["cat", "/greeting"]
DOCKERFILE
cat > {work}/ctx/Dockerfile.alt <<'DOCKERFILE'
FROM {image}
ARG GREETING=hello
LABEL stage=fixture
RUN echo "$GREETING" > /greeting
EXPOSE 80
USER 1000
DOCKERFILE
cat > /srv/compose/compose.yaml <<'COMPOSE'
services:
  db:
    image: {image}
    command: [sleep, "3600"]
    environment:
      ROLE: db
    volumes:
      - dbdata:/var/lib/db
    networks: [backend]
    healthcheck:
      test: [CMD, "true"]
      interval: 1s
      timeout: 2s
      retries: 5
  web:
    image: {image}
    command: [sleep, "3600"]
    environment:
      - ROLE=web
      - DB_HOST=db
    volumes:
      - ./conf:/conf:ro
      - webdata:/data
    networks: [backend]
    depends_on:
      db:
        condition: service_healthy
volumes:
  dbdata:
  webdata:
networks:
  backend:
COMPOSE
[ -e /dev/fuse ] || mknod -m 0666 /dev/fuse c 10 229
mkdir -p /dev/net
[ -e /dev/net/tun ] || mknod -m 0666 /dev/net/tun c 10 200
""".replace("{work}", WORK).replace("{image}", IMAGE)


class Expected(NamedTuple):
    """Requests the plugin refuses on purpose today: which (regular expressions), its rule, and why."""
    suites: Tuple[str, ...]
    command: str  # the command's name
    method: str
    path: str  # the URI's path, the API version left out
    query: str  # searched in the query string
    rule: str
    reason: str


CP_ROUTE = r"/containers/[^/]+/archive"
BOOKWORM_BUILDKIT = ("a BuildKit build on Debian 12's 20.10.24+dfsg1: its package does not carry the fixes for CVE-2026-33747 "
                     "and CVE-2026-33748, so the plugin refuses BuildKit builds there (DOCKER_BUILDKIT=0 works)")
SHARED_VOLUME = ("copy-up into a named volume that a running container can write (here %s): the plugin cannot see whether the "
                 "volume is empty, and the daemon's copy, as real root, follows symlinks that container could plant "
                 "(the probe's 'copy-up into a volume another running container writes'); with nocopy it is allowed")
EXPECTED: List[Expected] = [
    Expected(("bookworm",), ".*", "GET|HEAD|PUT", CP_ROUTE, "", "engine-vulnerability",
             "docker cp on Debian 12's 20.10.24+dfsg1: its package does not carry the fixes for CVE-2026-41568 and "
             "CVE-2026-42306 (docker cp's mount set-up races), so the plugin refuses docker cp there"),
    Expected(("bookworm",), ".*", "POST", "/build", "(^|&)version=2(&|$)", "engine-vulnerability", BOOKWORM_BUILDKIT),
    Expected(("bookworm",), ".*", "POST", "/grpc", "", "engine-vulnerability", BOOKWORM_BUILDKIT),
    Expected(("trixie", "forky"), "cp-in-archive-user", "PUT", CP_ROUTE, "(^|&)copyUIDGID=", "engine-vulnerability",
             "docker cp -a into a container that sets a user, before Docker 29.7 (docker-cp-a-user, which no Debian "
             "package fixes): the files would get that user's IDs on the host, not remapped ones"),
    Expected(SUITES, "run-volume-shared", "POST", "/containers/create", "", "volume-copy", SHARED_VOLUME % "volbox"),
    Expected(FORKY, "compose-run", "POST", "/containers/create", "", "volume-copy",
             SHARED_VOLUME % "the service's own container, fixtures-web-1, which compose up started" + "; docker compose "
             "run while the service runs hits it, unless the compose file mounts the volume with volume: {nocopy: true}"),
]


# --- running things ------------------------------------------------------------------------------


def log(message: str) -> None:
    print("==> %s" % message, file=sys.stderr, flush=True)


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise RuntimeError("docker %s failed (%d): %s" % (" ".join(args)[:200], result.returncode,
                                                          (result.stderr or result.stdout).decode(errors="replace")[-2000:]))
    return result


def in_host(host: str, script: str, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return docker("exec", host, "bash", "-c", script, "bash", *args, check=check, timeout=timeout)


def text(result: subprocess.CompletedProcess) -> str:
    out: bytes = result.stdout or b""
    return out.decode(errors="replace").strip()


@contextlib.contextmanager
def heavy_lock() -> Iterator[None]:
    with open(HEAVY_LOCK, "a") as handle:
        log("Waiting for %s" % HEAVY_LOCK)
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def start_host(suite: str, host: str) -> None:
    docker("rm", "-f", "-v", host, check=False)
    cgroup = "/sys/fs/cgroup/unified:/sys/fs/cgroup:rw" if suite == "forky" else "/sys/fs/cgroup:/sys/fs/cgroup:rw"
    caps = [arg for cap in HOST_CAPS for arg in ("--cap-add", cap)]
    docker("run", "-d", "--name", host, "--hostname", host, "--cap-drop", "ALL", *caps,
           "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
           "--cgroupns", "host", "--network", "none", "-v", cgroup, "-v", "/var/lib/docker",
           "--tmpfs", "/run", "--tmpfs", "/run/lock", "docker-userns-host:%s" % suite, "/lib/systemd/systemd")
    state = ""
    for _ in range(90):
        state = text(in_host(host, "systemctl is-system-running", check=False))
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise RuntimeError("%s did not boot (systemd: %r)" % (host, state))


def start_recorder_and_docker(host: str) -> None:
    docker("exec", host, "mkdir", "-p", "/usr/local/lib/authz-recorder")
    docker("cp", str(RECORDER), "%s:/usr/local/lib/authz-recorder/record_authz.py" % host)
    script = r"""
set -eu
systemctl stop docker.service docker.socket
mkdir -p /etc/docker "$(dirname {label})" {work}
printf '%s\n' "$1" > /etc/docker/daemon.json
echo _start > {label}
systemd-run --unit authz-recorder python3 /usr/local/lib/authz-recorder/record_authz.py \
    --socket /run/docker/plugins/{name}.sock --out {recording} --label-file {label}
for i in $(seq 50); do [ -S /run/docker/plugins/{name}.sock ] && break; sleep 0.1; done
systemctl start docker.service
for i in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info --format '{{.SecurityOptions}}' | grep -q name=userns
""".replace("{label}", LABEL_FILE).replace("{work}", WORK).replace("{name}", PLUGIN_NAME).replace("{recording}", RECORDING)
    in_host(host, script, json.dumps(DAEMON_JSON))


def run_commands(host: str, suite: str) -> List[Dict[str, Any]]:
    results = []
    for command in COMMANDS:
        if suite not in command.suites:
            continue
        started = time.monotonic()
        try:
            result = in_host(host, 'printf "%s\\n" "$1" > ' + LABEL_FILE + ' && cd ' + WORK + ' && eval "$2"', command.name, command.shell,
                             check=False, timeout=COMMAND_TIMEOUT)
            code, output = result.returncode, (result.stderr or b"").decode(errors="replace") + (result.stdout or b"").decode(errors="replace")
        except subprocess.TimeoutExpired:
            code, output = -1, "timed out after %d s" % COMMAND_TIMEOUT
        entry: Dict[str, Any] = {"name": command.name, "command": command.shell, "exit_code": code}
        if code != 0:
            entry["output"] = output.strip()[-400:]
        results.append(entry)
        log("%s %-28s exit %d (%.1f s)" % (suite, command.name, code, time.monotonic() - started))
    in_host(host, "echo _collect > " + LABEL_FILE)
    return results


def facts(host: str) -> Dict[str, Any]:
    script = r"""
set -u
dockerd_package=$(dpkg-query --search "$(command -v dockerd)" | cut -d: -f1)
docker_package=$(dpkg-query --search "$(command -v docker)" | cut -d: -f1)
printf '%s\n' "$dockerd_package" "$(dpkg-query --show --showformat '${Version}' "$dockerd_package")" \
    "$docker_package" "$(dpkg-query --show --showformat '${Version}' "$docker_package")"
docker version --format '{{.Server.Version}} {{.Server.APIVersion}}'
docker info --format '{{json .}}'
docker --version
docker compose version 2>/dev/null || echo -
docker buildx version 2>/dev/null || echo -
zcat "/usr/share/doc/$dockerd_package/changelog.Debian.gz" | grep -o 'CVE-[0-9]*-[0-9]*' | sort -u | tr '\n' ' '; echo
"""
    lines = text(in_host(host, script)).splitlines()
    version, api_version = lines[4].split()
    info = json.loads(lines[5])
    return {
        "engine": {"version": version, "api_version": api_version, "package": lines[0], "package_version": lines[1],
                   "changelog_cves": lines[9].split()},
        "clients": {"docker": lines[6], "docker_package": "%s %s" % (lines[2], lines[3]),
                    "compose": "" if lines[7] == "-" else lines[7], "buildx": "" if lines[8] == "-" else lines[8]},
        "data_root": info["DockerRootDir"],
        "daemon_json": DAEMON_JSON,
        "info": info,  # GET /info at the end of the recording, in full
    }


# --- what the recording holds --------------------------------------------------------------------


def load_plugin() -> Any:
    spec = importlib.util.spec_from_file_location("docker_userns_enforcement_plugin", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def api_path(uri: str) -> str:
    """The URI's path without the API version: /v1.41/containers/create?name=x -> /containers/create."""
    return re.sub(r"^/v[0-9.]+(?=/)", "", uri.split("?", 1)[0])


def device_candidates(payloads: Dict[int, dict]) -> List[str]:
    """Every host device path a create asks for (--device)."""
    paths: Set[str] = set()
    for payload in payloads.values():
        if payload.get("RequestMethod") == "POST" and api_path(payload.get("RequestUri", "")) == "/containers/create":
            body = json.loads(base64.b64decode(payload.get("RequestBody") or "") or b"{}")
            paths.update(d.get("PathOnHost", "") for d in (body.get("HostConfig") or {}).get("Devices") or [])
    return sorted(p for p in paths if p.startswith("/"))


def host_path_candidates(plugin: Any, payloads: Dict[int, dict], views: Dict[int, dict]) -> List[str]:
    """Every host path a request or a container of the recording binds, or a volume's device."""
    paths = set()
    for payload in payloads.values():
        body = base64.b64decode(payload.get("RequestBody") or "")
        path = api_path(payload.get("RequestUri", ""))
        if payload.get("RequestMethod") != "POST" or not body:
            continue
        try:
            if path == "/containers/create":
                for mount in plugin.planned_mounts(plugin.effective_host_config(body)):
                    paths.update([mount.source] if mount.kind == "bind" else [mount.options.get("device", "")])
            elif path == "/volumes/create":
                paths.add(str((json.loads(body).get("DriverOpts") or {}).get("device", "")))
        except Exception:  # a body the plugin cannot read names no path it will look at
            continue
    for view in views.values():
        for data in (view.get("inspect") or {}).values():
            paths.update(m.get("Source", "") for m in data.get("Mounts") or [] if m.get("Type") == "bind")
            paths.update(b.split(":")[0] for b in (data.get("HostConfig") or {}).get("Binds") or [])
            paths.update(m.get("Source", "") for m in (data.get("HostConfig") or {}).get("Mounts") or [] if m.get("Type") == "bind")
        volumes = view.get("volumes") or {}
        for volume in volumes.get("Volumes") or [] if isinstance(volumes, dict) else []:
            paths.add((volume.get("Options") or {}).get("device", ""))
    return sorted(p for p in paths if p.startswith("/"))


HOST_SCRIPT = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("plugin", "/usr/local/lib/authz-recorder/plugin.py")
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
asked = json.loads(sys.argv[1])
answers = {"host_paths": {}, "host_devices": {}}
for path in asked["host_paths"]:
    try:
        answers["host_paths"][path] = plugin.inspect_host_path(path)._asdict()
    except plugin.LookupFailed as err:
        answers["host_paths"][path] = {"error": str(err)}
for path in asked["host_devices"]:
    try:
        answers["host_devices"][path] = [device._asdict() for device in plugin.host_devices(path)]
    except plugin.LookupFailed as err:
        answers["host_devices"][path] = {"error": str(err)}
print(json.dumps(answers))
"""


def host_answers(host: str, paths: List[str], devices: List[str]) -> Dict[str, Any]:
    """What the plugin's inspect_host_path and host_devices find at these paths inside the host."""
    docker("cp", str(PLUGIN), "%s:/usr/local/lib/authz-recorder/plugin.py" % host)
    result = docker("exec", host, "python3", "-c", HOST_SCRIPT, json.dumps({"host_paths": paths, "host_devices": devices}))
    answers: Dict[str, Any] = json.loads(text(result))
    return answers


# Run-time state the plugin never reads; left out so that a container is stored once.
INSPECT_DROPPED = ("State", "NetworkSettings", "GraphDriver", "ExecIDs", "RestartCount", "LogPath", "ResolvConfPath",
                   "HostnamePath", "HostsPath", "SizeRw", "SizeRootFs")


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def parse_host_network(plugin: Any, files: Dict[str, Optional[str]]) -> Dict[str, Any]:
    """The host's network as the plugin's read_host_network reads it from these /proc/1/net files."""
    with tempfile.TemporaryDirectory(prefix="cli-fixtures-net-") as proc_net:
        for name, content in files.items():
            if content is not None:
                Path(proc_net, name).write_text(content)
        saved, plugin.PROC_NET = plugin.PROC_NET, proc_net
        try:
            found = plugin.read_host_network()
            return {"routes": list(found.routes), "interfaces": sorted(found.interfaces)}
        except plugin.LookupFailed as err:
            return {"error": str(err)}
        finally:
            plugin.PROC_NET = saved


def compact(plugin: Any, events: List[dict], payloads: Dict[int, dict], views: Dict[int, dict]) -> Dict[str, Any]:
    """The daemon's answers, each container, volume and network description (and each state of the
    host's network) stored once, and each request's view as the keys of what it held."""
    tables: Dict[str, Dict[str, Any]] = {"containers": {}, "volumes": {}, "networks": {}, "host_networks": {}}
    execs: Dict[str, Optional[str]] = {}
    distinct: Dict[str, int] = {}
    view_list: List[Any] = []
    view_of: Dict[int, int] = {}
    parsed_networks: Dict[str, str] = {}

    def store(table: str, value: Any) -> str:
        key = digest(value)
        tables[table][key] = value
        return key

    for seq, view in sorted(views.items()):
        entry: Dict[str, Any]
        if "error" in view:
            entry = {"error": view["error"]}
        elif not isinstance(view["volumes"], dict) or "Volumes" not in view["volumes"] or not isinstance(view["networks"], list):
            entry = {"error": "the daemon did not list its volumes or networks: %s %s" % (view["volumes"], view["networks"])}
        else:
            listed = []
            for item in view["containers"]:
                data = view["inspect"].get(item["Id"], {})
                listed.append([store("containers", {k: v for k, v in data.items() if k not in INSPECT_DROPPED}), item.get("State", "")])
            raw_network = json.dumps(view["host_network"], sort_keys=True)
            if raw_network not in parsed_networks:
                parsed_networks[raw_network] = store("host_networks", parse_host_network(plugin, view["host_network"]))
            for exec_id, answer in view["execs"].items():
                execs[exec_id] = answer["answer"].get("ContainerID") if answer["status"] == 200 else None
            entry = {"containers": sorted(listed), "volumes": sorted(store("volumes", v) for v in view["volumes"]["Volumes"] or []),
                     "networks": sorted(store("networks", n) for n in view["networks"]), "host_network": parsed_networks[raw_network]}
        key = json.dumps(entry, sort_keys=True)
        if key not in distinct:
            distinct[key] = len(view_list)
            view_list.append(entry)
        view_of[seq] = distinct[key]
    order = [["request", e["seq"]] if e["event"] == "request" else ["response", e["method"], e["uri"], e["status"]]
             for e in events if e["event"] == "response" or e["seq"] in payloads]
    return dict(tables, execs=execs, views=view_list, view_of=view_of, events=order)


def expectation(suite: str, command: str, payload: dict) -> Tuple[str, str]:
    method, uri = payload.get("RequestMethod", ""), payload.get("RequestUri", "")
    path, query = api_path(uri), uri.split("?", 1)[1] if "?" in uri else ""
    for rule in EXPECTED:
        if suite in rule.suites and re.fullmatch(rule.command, command) and re.fullmatch(rule.method, method) \
                and re.fullmatch(rule.path, path) and re.search(rule.query, query):
            return "deny (%s)" % rule.rule, rule.reason
    return "allow", ""


class Recording(NamedTuple):
    """The recorder's files, for the commands' requests only (labels starting with _ are this
    tool's own: waiting for the daemon, reading its version)."""
    events: List[dict]
    labels: Dict[int, str]  # request number -> command
    raw: Dict[int, bytes]
    payloads: Dict[int, dict]
    views: Dict[int, dict]


def read_recording(directory: Path) -> Recording:
    events = [json.loads(line) for line in (directory / "events.jsonl").read_text().splitlines()]
    labels = {e["seq"]: e["label"] for e in events if e["event"] == "request" and not e["label"].startswith("_")}
    raw = {seq: (directory / ("%05d.json" % seq)).read_bytes() for seq in labels}
    views = {seq: json.loads((directory / ("%05d.view.json" % seq)).read_text()) for seq in labels}
    return Recording(events, labels, raw, {seq: json.loads(body) for seq, body in raw.items()}, views)


def json_lines(value: Dict[str, Any]) -> str:
    """JSON with each entry of a top-level list on a line of its own (readable, and diffs by entry)."""
    parts = []
    for key, item in value.items():
        if isinstance(item, list) and item:
            inner = ",\n  ".join(json.dumps(entry, sort_keys=False) for entry in item)
            parts.append(' %s: [\n  %s\n ]' % (json.dumps(key), inner))
        else:
            parts.append(" %s: %s" % (json.dumps(key), json.dumps(item)))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_suite(out: Path, suite: str, recording: Recording, commands: List[Dict[str, Any]], host_facts: Dict[str, Any],
                answers: Dict[str, Any]) -> Dict[str, int]:
    events, labels, raw, payloads = recording.events, recording.labels, recording.raw, recording.payloads
    daemon = compact(load_plugin(), events, payloads, recording.views)
    # The daemon's status for each request: its response, matched in order by method and URI.
    pending: Dict[Tuple[str, str], List[int]] = {}
    status: Dict[int, Any] = {}
    for event in events:
        if event["event"] == "request" and event["seq"] in payloads:
            payload = payloads[event["seq"]]
            pending.setdefault((payload.get("RequestMethod", ""), payload.get("RequestUri", "")), []).append(event["seq"])
        elif event["event"] == "response":
            waiting = pending.get((event["method"], event["uri"]))
            if waiting:
                status[waiting.pop(0)] = event["status"]
    directory = out / suite
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    written: Dict[bytes, str] = {}
    fixtures = []
    by_command: Dict[str, List[str]] = {}
    for seq in sorted(payloads):
        payload, body = payloads[seq], raw[seq]
        name = "%04d-%s.json" % (seq, labels[seq])
        entry: Dict[str, Any] = {"seq": seq, "file": written.get(body, name), "command": labels[seq],
                                 "method": payload.get("RequestMethod"), "uri": payload.get("RequestUri"),
                                 "status": status.get(seq), "view": daemon["view_of"][seq]}
        if body in written:
            entry["duplicate_of"] = written[body]
        else:
            written[body] = name
            (directory / name).write_bytes(body)
        entry["expected"], reason = expectation(suite, labels[seq], payload)
        if reason:
            entry["reason"] = reason
        fixtures.append(entry)
        by_command.setdefault(labels[seq], []).append(entry["file"])
    for command in commands:
        command["fixtures"] = by_command.get(command["name"], [])
    info = host_facts.pop("info")
    index = dict({"suite": suite, "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "recorded_by": "tools/record_cli_fixtures.py"}, **host_facts)
    index.update(commands=commands, fixtures=fixtures)
    daemon.pop("view_of")
    daemon_out = dict(daemon, info=info, **answers)
    (directory / "index.json").write_text(json_lines(index))
    (directory / "daemon.json").write_text(json.dumps(daemon_out, indent=None, sort_keys=True, separators=(",", ":")) + "\n")
    return {"requests": len(payloads), "files": len(written), "commands": len(commands),
            "failed": sum(1 for c in commands if c["exit_code"] != 0)}


def record(suite: str, out: Path, keep_host: bool) -> Dict[str, int]:
    host = "cli-fixtures-%s" % suite
    started = time.monotonic()
    with heavy_lock(), tempfile.TemporaryDirectory(prefix="cli-fixtures-") as scratch:
        locked = time.monotonic()
        try:
            log("Starting %s from docker-userns-host:%s" % (host, suite))
            start_host(suite, host)
            start_recorder_and_docker(host)
            in_host(host, SETUP)
            commands = run_commands(host, suite)
            host_facts = facts(host)
            docker("cp", "%s:%s" % (host, RECORDING), scratch)
            recording = read_recording(Path(scratch) / os.path.basename(RECORDING))
            answers = host_answers(host, host_path_candidates(load_plugin(), recording.payloads, recording.views),
                                   device_candidates(recording.payloads))
        finally:
            if not keep_host:
                docker("rm", "-f", "-v", host, check=False)
        counts = write_suite(out, suite, recording, commands, host_facts, answers)
    log("%s: %d requests, %d files, %d commands (%d failed) in %.0f s (%.0f s waiting for the lock)" % (
        suite, counts["requests"], counts["files"], counts["commands"], counts["failed"], time.monotonic() - started,
        locked - started))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(SUITES))
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "cli"))
    parser.add_argument("--keep-host", action="store_true", help="leave the host container running (to look around)")
    args = parser.parse_args()
    if "DOCKER_HOST" not in os.environ:
        cache = os.environ.get("DOCKER_USERNS_DEV_CACHE", "/var/cache/docker-userns-dev")
        os.environ["DOCKER_HOST"] = "unix://%s/outer/docker.sock" % cache
    suites = [s for s in args.suites.split(",") if s]
    unknown = set(suites) - set(SUITES)
    if unknown:
        parser.error("unknown suites: %s" % ", ".join(sorted(unknown)))
    started = time.monotonic()
    for suite in suites:
        record(suite, Path(args.out), args.keep_host)
    log("Recorded %s in %.0f s" % (", ".join(suites), time.monotonic() - started))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
