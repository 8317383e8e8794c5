"""Reviewed table, container routes: the container, exec, commit and checkpoint routes of the
daemon's API, each with its query parameters and body, in the order the daemon's router tries them
(the checkpoint router before the container router).

Patterns are matched against the whole cleaned path without its /vX.Y prefix; "(.*)" stands for
{name:.*}, which may hold slashes (a legacy link name "web/db" names a container).
"""

from __future__ import annotations

from .table_container_types import CHECKPOINT_CREATE_BODY, COMMIT_BODY, CREATE_BODY, EXEC_CREATE_BODY, EXEC_START_BODY, UPDATE_BODY
from .table_types import (
    ARCHIVE_READ,
    ARCHIVE_WRITE,
    CHECKPOINT,
    CONTAINER_CREATE,
    CONTAINER_ENTER,
    CONTAINER_START,
    EXEC_START,
    OTHER,
    allow,
    check,
    one_of,
    refuse,
    route,
)

FILTERS = allow("narrows a listing or a prune; the daemon refuses keys it does not know")
READS = "reads the daemon's own state; nothing host-side is done for the client"
STREAMS = {name: allow("which of the container's streams") for name in ("stdin", "stdout", "stderr", "logs", "stream")}
STREAMS["detachKeys"] = allow("the key sequence that detaches the client")
SIGNAL = allow("a signal for the container's processes")
TTY_SIZE = {"h": allow("the terminal's height"), "w": allow("the terminal's width")}
CHECKPOINT_DIR = check("checkpoint-dir", "a host directory the daemon lists, creates or removes as real root")

CONTAINER_ROUTES = [
    # The checkpoint router (experimental daemons; the others answer 501) comes first.
    route("checkpoint-list", "GET", "/containers/(.*)/checkpoints", CHECKPOINT, "list checkpoints of",
          "lists the container's checkpoints", {"dir": CHECKPOINT_DIR}),
    route("checkpoint-create", "POST", "/containers/(.*)/checkpoints", CHECKPOINT, "checkpoint",
          "CRIU dumps the container's processes", body=CHECKPOINT_CREATE_BODY),
    route("checkpoint-delete", "DELETE", "/containers/([^/]+)/checkpoints/([^/]+)", CHECKPOINT, "delete a checkpoint of",
          "removes a checkpoint", {"dir": CHECKPOINT_DIR}),
    # The container router.
    route("container-inspect", "GET", "/containers/(.*)/json", OTHER, "inspect", READS, {"size": allow("adds sizes")}),
    route("container-list", "GET", "/containers/json", OTHER, "list containers", READS, {
        "all": allow("includes stopped containers"), "size": allow("adds sizes"), "limit": allow("at most this many"),
        "since": allow("narrows the listing"), "before": allow("narrows the listing"), "filters": FILTERS}),
    route("container-top", "GET", "/containers/(.*)/top", OTHER, "list processes of",
          "runs the host's ps as real root and keeps the rows of the container's processes", {
              "ps_args": allow("options of ps, which only reads /proc and prints: nothing is written or run")}),
    route("container-logs", "GET", "/containers/(.*)/logs", OTHER, "read logs of", READS, {
        name: allow("which log lines and how") for name in
        ("stdout", "stderr", "follow", "timestamps", "since", "until", "tail", "details", "format")}),
    route("container-changes", "GET", "/containers/(.*)/changes", OTHER, "list changes of", READS),
    route("container-export", "GET", "/containers/(.*)/export", OTHER, "export",
          "reads the container's file system from the daemon's storage, not through its mounts"),
    route("container-stats", "GET", "/containers/(.*)/stats", OTHER, "read statistics of", READS, {
        "stream": allow("streams the statistics"), "one-shot": allow("one sample")}),
    route("container-attach-ws", "GET", "/containers/(.*)/attach/ws", CONTAINER_ENTER, "attach to",
          "attaches a websocket to the container's streams", STREAMS),
    route("archive-read", "GET", "/containers/(.*)/archive", ARCHIVE_READ, "copy files out of",
          "the daemon copies the container's files as real root, through its mounts (docker cp)",
          {"path": allow("the path inside the container")}),
    route("archive-stat", "HEAD", "/containers/(.*)/archive", ARCHIVE_READ, "read file details in",
          "the daemon sets up the container's mounts as real root to stat a path", {"path": allow("the path inside the container")}),
    route("container-create", "POST", "/containers/create", CONTAINER_CREATE, "create",
          "creates a container: every field of the body is reviewed", {
              "name": allow("the container's name"), "platform": allow("which variant of the image", since="1.41")},
          body=CREATE_BODY),
    route("container-kill", "POST", "/containers/(.*)/kill", OTHER, "kill", "sends a signal", {"signal": SIGNAL}),
    route("container-pause", "POST", "/containers/(.*)/pause", OTHER, "pause", "freezes the container's processes"),
    route("container-unpause", "POST", "/containers/(.*)/unpause", CONTAINER_ENTER, "unpause",
          "lets the container's processes run again"),
    route("container-restart", "POST", "/containers/(.*)/restart", CONTAINER_ENTER, "restart",
          "stops and starts the container again, setting up its mounts as real root",
          {"t": allow("seconds before the kill"), "signal": SIGNAL}),
    route("container-start", "POST", "/containers/(.*)/start", CONTAINER_START, "start",
          "starts the container's command, setting up its mounts as real root", {
              "checkpoint": allow("restores a checkpoint from the container's own directory (experimental daemons)"),
              "checkpoint-dir": CHECKPOINT_DIR}),
    route("container-stop", "POST", "/containers/(.*)/stop", OTHER, "stop", "stops the container",
          {"t": allow("seconds before the kill"), "signal": SIGNAL}),
    route("container-wait", "POST", "/containers/(.*)/wait", OTHER, "wait for", READS,
          {"condition": one_of(("not-running", "next-exit", "removed"), "the daemon knows only these")}),
    route("container-resize", "POST", "/containers/(.*)/resize", OTHER, "resize", "resizes the container's terminal", TTY_SIZE),
    route("container-attach", "POST", "/containers/(.*)/attach", CONTAINER_ENTER, "attach to",
          "attaches the client to the container's streams", STREAMS),
    route("container-copy", "POST", "/containers/(.*)/copy", ARCHIVE_READ, "copy files out of",
          "before API 1.24 (which the plugin refuses) copies a path out; newer versions answer 404",
          body=refuse("a body of API versions before 1.24")),
    route("exec-create", "POST", "/containers/(.*)/exec", CONTAINER_ENTER, "exec into",
          "prepares a process to run in the container", body=EXEC_CREATE_BODY),
    route("container-rename", "POST", "/containers/(.*)/rename", CONTAINER_ENTER, "rename",
          "renames the container", {"name": allow("the new name")}),
    route("container-update", "POST", "/containers/(.*)/update", CONTAINER_ENTER, "update",
          "changes the container's limits and restart policy", body=UPDATE_BODY),
    route("container-prune", "POST", "/containers/prune", OTHER, "remove stopped containers",
          "removes stopped containers", {"filters": FILTERS}),
    route("archive-write", "PUT", "/containers/(.*)/archive", ARCHIVE_WRITE, "copy files into",
          "the daemon unpacks the client's tar into the container as real root, through its mounts (docker cp)", {
              "path": allow("the directory inside the container"),
              "noOverwriteDirNonDir": allow("refuses to replace a directory by a file"),
              "copyUIDGID": check("engine-vulnerability", "gives the files the container user's ids")}),
    route("container-delete", "DELETE", "/containers/(.*)", OTHER, "remove", "removes the container", {
        "force": allow("kills it first"), "v": allow("removes its anonymous volumes"), "link": allow("removes a legacy link")}),
    route("exec-start", "POST", "/exec/(.*)/start", EXEC_START, "start an exec in",
          "runs the prepared process in its container", body=EXEC_START_BODY),
    route("exec-resize", "POST", "/exec/(.*)/resize", OTHER, "resize", "resizes the exec's terminal", TTY_SIZE),
    route("exec-inspect", "GET", "/exec/(.*)/json", OTHER, "inspect", READS),
    route("commit", "POST", "/commit", OTHER, "commit", "makes an image of a container's files and a new Config", {
        "container": allow("the container"), "repo": allow("the image's name"), "tag": allow("the image's tag"),
        "author": allow("metadata"), "comment": allow("metadata"), "pause": allow("pauses it meanwhile"),
        "changes": allow("Dockerfile instructions for the image's Config (CMD, ENV ...)")}, body=COMMIT_BODY),
]
