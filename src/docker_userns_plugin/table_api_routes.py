"""Reviewed table, the other routes: images and builds, the system routes, volumes, networks,
managed plugins, swarm, BuildKit's session and gRPC, distribution and the debug routes, each with
its query parameters and body, in the order the daemon's router tries them.

Swarm's routes are refused as a whole unless the administrator allows swarm (allow_swarm): its
tasks start containers without asking any authorization plugin, so a field-by-field review of
its specs would protect nothing.
"""

from __future__ import annotations

from .table_container_routes import FILTERS, READS
from .table_container_types import ENDPOINT_SETTINGS
from .table_types import (
    BUILD,
    NETWORK_CONNECT,
    NETWORK_CREATE,
    OTHER,
    PLUGIN_OP,
    REFUSED,
    SERVICE_WRITE,
    SWARM,
    SWARM_JOIN,
    VOLUME_CREATE,
    allow,
    check,
    list_of,
    one_of,
    refuse,
    route,
    struct,
)

PLATFORM = allow("which platform's variant of an image")
REGISTRY = ("talks to the registry named in the image's reference (TLS unless the daemon's configuration makes it "
            "insecure), and stores what it gets as image layers")
BUILD_CGROUP = allow("a limit of the classic builder's RUN containers, in their own cgroup")
SWARM_BODY = allow("swarm: refused unless allow_swarm; once allowed, swarm's tasks bypass every authorization "
                   "plugin anyway, so the spec is not reviewed field by field")

NETWORK_CREATE_BODY = struct("a new network", {
    "Name": allow("the network's name"), "CheckDuplicate": allow("refuses a duplicate name"),
    "Driver": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin, joining it "
                    "into a socket path unchecked; macvlan and ipvlan make links on the host's interfaces"),
    "Scope": one_of(("local",), "swarm and global scopes are swarm's"),
    "EnableIPv6": allow("IPv6 on the network's bridge"), "EnableIPv4": allow("IPv4 on the network", since="1.48"),
    "IPAM": struct("addresses of the network", {
        "Driver": check("driver-name", "the address manager: default, null, or a plugin by name"),
        "Options": check("network-options", "options of the address manager"),
        "Config": list_of(struct("a subnet of the network", {
            "Subnet": check("network-options", "the daemon routes this subnet to the network's bridge on the host: one "
                            "that overlaps the host's own routes or addresses would take the host's traffic"),
            "IPRange": allow("the part of the subnet containers get addresses from"),
            "Gateway": check("network-options", "the address the daemon gives the bridge on the host"),
            "AuxiliaryAddresses": allow("addresses of the subnet kept out of use"),
        })),
    }),
    "Internal": allow("no route out of the network"), "Attachable": allow("swarm: manual containers may join"),
    "Ingress": refuse("swarm's routing-mesh network"), "ConfigOnly": allow("a configuration other networks take"),
    "ConfigFrom": struct("the configuration network", {"Network": allow("its name")}),
    "Options": check("network-options", "options of the driver; some name or reconfigure host interfaces"),
    "Labels": allow("metadata the daemon stores and shows"),
})
VOLUME_CREATE_BODY = struct("a new volume", {
    "Name": allow("the volume's name"),
    "Driver": check("driver-name", "the daemon looks a name that is not local up as a plugin, joining it into a socket "
                    "path unchecked"),
    "DriverOpts": check("volume-options", "options of the local driver are mount(2) arguments the daemon applies as real "
                        "root in the host's mount namespace whenever the volume is mounted"),
    "Labels": allow("metadata the daemon stores and shows"),
    "ClusterVolumeSpec": refuse("cluster volumes are swarm's (CSI plugins publish them on the nodes)", since="1.42"),
})
PLUGIN_PRIVILEGES_BODY = list_of(struct("a privilege the plugin asks for", {
    "Name": check("managed-plugins", "granted to a managed plugin, which runs as real root outside the remapping"),
    "Description": allow("text"), "Value": check("managed-plugins", "what is granted: mounts, devices, capabilities")}))

API_ROUTES = [
    # The image router.
    route("image-list", "GET", "/images/json", OTHER, "list images", READS, {
        "all": allow("includes intermediate images"), "filters": FILTERS, "filter": allow("a legacy name filter"),
        "shared-size": allow("adds sizes", since="1.42"), "manifests": allow("adds manifests", since="1.47"),
        "identity": allow("adds provenance", since="1.54")}),
    route("image-search", "GET", "/images/search", OTHER, "search images", "asks a registry's index",
          {"term": allow("what to search for, maybe on a named registry"), "limit": allow("at most this many"), "filters": FILTERS}),
    route("image-save-many", "GET", "/images/get", OTHER, "export images", "writes images as a tar to the client",
          {"names": allow("the images"), "platform": PLATFORM}),
    route("image-save", "GET", "/images/(.*)/get", OTHER, "export an image", "writes an image as a tar to the client",
          {"platform": PLATFORM}),
    route("image-history", "GET", "/images/(.*)/history", OTHER, "read image history", READS, {"platform": PLATFORM}),
    route("image-inspect", "GET", "/images/(.*)/json", OTHER, "inspect an image", READS,
          {"manifests": allow("adds manifests"), "platform": PLATFORM}),
    route("image-attestations", "GET", "/images/(.*)/attestations", OTHER, "read image attestations", READS,
          {"platform": PLATFORM, "type": allow("which attestations"), "statement": allow("adds the statements")}, since="1.55"),
    route("image-load", "POST", "/images/load", OTHER, "load images",
          "unpacks the client's image tar into the daemon's storage (owners shifted into the remapped range; device "
          "nodes in layers are usable only where the device cgroup allows the device, which the devices rule keeps "
          "to harmless ones)", {"quiet": allow("less output"), "platform": PLATFORM}),
    route("image-create", "POST", "/images/create", OTHER, "pull or import an image", REGISTRY, {
        "fromImage": allow("the image to pull: " + REGISTRY), "tag": allow("the tag"),
        "fromSrc": one_of(("-",), "'-' imports the layer from the request's body; a URL would make the daemon download "
                          "it from the host's network namespace, where the host's loopback-only services are reachable"),
        "repo": allow("the imported image's name"), "message": allow("metadata"),
        "changes": allow("Dockerfile instructions for the image's Config"), "platform": PLATFORM}),
    route("image-push", "POST", "/images/(.*)/push", OTHER, "push an image", "uploads an image to a registry",
          {"tag": allow("which tag"), "platform": PLATFORM},
          body=allow("registry credentials (before 28.0, when no X-Registry-Auth header carries them)"),
          body_unseen_ok="the body holds only registry credentials"),
    route("image-tag", "POST", "/images/(.*)/tag", OTHER, "tag an image", "names an image",
          {"repo": allow("the new name"), "tag": allow("the new tag")}),
    route("image-prune", "POST", "/images/prune", OTHER, "remove unused images", "removes unused images", {"filters": FILTERS}),
    route("image-delete", "DELETE", "/images/(.*)", OTHER, "remove an image", "removes an image", {
        "force": allow("removes it though it is in use"), "noprune": allow("keeps untagged parents"),
        "platforms": allow("only these variants", since="1.50")}),
    # The system router.
    route("options", "OPTIONS", "/(.*)", OTHER, "ask about", "answers CORS preflights; nothing is done"),
    route("ping", "GET", "/_ping", OTHER, "ping", "answers OK"),
    route("ping-head", "HEAD", "/_ping", OTHER, "ping", "answers OK"),
    route("events", "GET", "/events", OTHER, "read events", READS,
          {"since": allow("from when"), "until": allow("until when"), "filters": FILTERS}),
    route("info", "GET", "/info", OTHER, "read system information", READS),
    route("version", "GET", "/version", OTHER, "read the version", READS),
    route("system-df", "GET", "/system/df", OTHER, "read disk usage", READS,
          {"type": allow("which kinds of object", since="1.42"), "verbose": allow("per object", since="1.52")}),
    route("auth", "POST", "/auth", OTHER, "log in", "checks registry credentials against a registry",
          body=allow("registry credentials"), body_unseen_ok="the daemon never forwards /auth bodies; they hold only "
          "registry credentials, which the daemon checks against the registry"),
    # The volume router.
    route("volume-list", "GET", "/volumes", OTHER, "list volumes", READS, {"filters": FILTERS}),
    route("volume-inspect", "GET", "/volumes/(.*)", OTHER, "inspect a volume", READS),
    route("volume-create", "POST", "/volumes/create", VOLUME_CREATE, "create a volume",
          "creates a volume; the local driver mounts it as its options say whenever a container uses it", body=VOLUME_CREATE_BODY),
    route("volume-prune", "POST", "/volumes/prune", OTHER, "remove unused volumes", "removes unused volumes", {"filters": FILTERS}),
    route("volume-update", "PUT", "/volumes/(.*)", SWARM, "update a cluster volume", "changes a swarm cluster volume",
          {"version": allow("swarm")}, body=SWARM_BODY, since="1.42"),
    route("volume-delete", "DELETE", "/volumes/(.*)", OTHER, "remove a volume", "removes a volume",
          {"force": allow("forgets it though its driver fails")}),
    # The build router.
    route("build", "POST", "/build", BUILD, "build an image",
          "builds from the client's context: the classic builder runs each RUN in a container it makes itself (no "
          "authorization plugin is asked), with the settings of these parameters; BuildKit (version=2) runs its steps "
          "remapped", {
              "dockerfile": allow("the Dockerfile's path in the context"), "t": allow("the image's names"),
              "extrahosts": allow("written into the RUN containers' /etc/hosts"),
              "remote": one_of(("client-session",), "client-session is BuildKit's context from the client's own session; "
                               "a git URL makes the daemon run git as real root on the host, on a repository the client "
                               "chose (clone, fetch, submodules), and an HTTP URL makes it download from the host's network "
                               "namespace, where loopback-only services are reachable; send the context instead"),
              "q": allow("less output"), "nocache": allow("no cache"), "cachefrom": allow("images to take cache from"),
              "pull": allow("pulls base images again"), "rm": allow("removes intermediate containers"),
              "forcerm": allow("as rm"), "memory": BUILD_CGROUP, "memswap": BUILD_CGROUP, "cpushares": BUILD_CGROUP, "cpusetcpus": BUILD_CGROUP,
              "cpusetmems": BUILD_CGROUP, "cpuperiod": BUILD_CGROUP, "cpuquota": BUILD_CGROUP,
              "cgroupparent": refuse("the runtime would create the RUN containers' cgroups under this host cgroup"),
              "buildargs": allow("ARG values; a BUILDKIT_SYNTAX frontend is checked against the engine's BuildKit flaws"),
              "shmsize": allow("the RUN containers' /dev/shm"), "labels": allow("the image's labels"),
              "networkmode": check("network-mode", "the RUN containers' network: the host's shares its namespace (BuildKit "
                                   "grants that even under remapping), container:NAME another container's"),
              "ulimits": allow("limits of the RUN processes"), "squash": allow("squashes the layers (experimental)"),
              "isolation": one_of(("", "default"), "the only isolation a Linux daemon knows"),
              "target": allow("the stage to build"),
              "securityopt": allow("Windows only: a Linux daemon refuses the build"), "platform": PLATFORM,
              "outputs": allow("BuildKit's exporter: into the daemon's images, or streamed to the client"),
              "session": allow("the BuildKit session that serves the client's files"),
              "buildid": allow("a name to cancel the build by"),
              "version": one_of(("1", "2"), "1 is the classic builder, 2 BuildKit")}),
    route("build-prune", "POST", "/build/prune", OTHER, "remove build cache", "removes build cache", {
        "all": allow("all of it"), "filters": FILTERS, "keep-storage": allow("how much to keep"),
        "reserved-space": allow("how much to keep"), "max-used-space": allow("at most this much"),
        "min-free-space": allow("leave this much free")}),
    route("build-cancel", "POST", "/build/cancel", OTHER, "cancel a build", "cancels a BuildKit build", {"id": allow("the build")}),
    # The session router.
    route("session", "POST", "/session", OTHER, "open a BuildKit session",
          "the daemon becomes a client of the caller's own files, secrets and SSH agent for a build"),
    # The swarm routes.
    route("swarm-init", "POST", "/swarm/init", SWARM_JOIN, "make this host a swarm node", "creates a swarm", body=SWARM_BODY),
    route("swarm-join", "POST", "/swarm/join", SWARM_JOIN, "make this host a swarm node", "joins a swarm", body=SWARM_BODY),
    route("swarm-leave", "POST", "/swarm/leave", OTHER, "leave the swarm", "leaves a swarm", {"force": allow("even a manager")}),
    route("swarm-inspect", "GET", "/swarm", OTHER, "inspect the swarm", READS),
    route("swarm-unlockkey", "GET", "/swarm/unlockkey", OTHER, "read the unlock key", READS),
    route("swarm-update", "POST", "/swarm/update", SWARM, "configure swarm", "changes the swarm's settings", {
        name: allow("swarm") for name in ("version", "rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey")},
        body=SWARM_BODY),
    route("swarm-unlock", "POST", "/swarm/unlock", SWARM, "unlock the swarm", "unlocks a swarm manager", body=SWARM_BODY),
    route("service-list", "GET", "/services", OTHER, "list services", READS, {"filters": FILTERS, "status": allow("adds status")}),
    route("service-inspect", "GET", "/services/([^/]+)", OTHER, "inspect a service", READS, {"insertDefaults": allow("adds defaults")}),
    route("service-create", "POST", "/services/create", SERVICE_WRITE, "create a service", "creates a service", body=SWARM_BODY),
    route("service-update", "POST", "/services/([^/]+)/update", SERVICE_WRITE, "update a service", "changes a service",
          {name: allow("swarm") for name in ("version", "registryAuthFrom", "rollback")}, body=SWARM_BODY),
    route("service-delete", "DELETE", "/services/([^/]+)", OTHER, "remove a service", "removes a service"),
    route("service-logs", "GET", "/services/([^/]+)/logs", OTHER, "read service logs", READS, {
        name: allow("which log lines") for name in ("details", "follow", "stdout", "stderr", "since", "timestamps", "tail")}),
    route("node-list", "GET", "/nodes", OTHER, "list nodes", READS, {"filters": FILTERS}),
    route("node-inspect", "GET", "/nodes/([^/]+)", OTHER, "inspect a node", READS),
    route("node-delete", "DELETE", "/nodes/([^/]+)", OTHER, "remove a node", "removes a node", {"force": allow("even if up")}),
    route("node-update", "POST", "/nodes/([^/]+)/update", SWARM, "update a node", "changes a node", {"version": allow("swarm")},
          body=SWARM_BODY),
    route("task-list", "GET", "/tasks", OTHER, "list tasks", READS, {"filters": FILTERS}),
    route("task-inspect", "GET", "/tasks/([^/]+)", OTHER, "inspect a task", READS),
    route("task-logs", "GET", "/tasks/([^/]+)/logs", OTHER, "read task logs", READS, {
        name: allow("which log lines") for name in ("details", "follow", "stdout", "stderr", "since", "timestamps", "tail")}),
    route("secret-list", "GET", "/secrets", OTHER, "list secrets", READS, {"filters": FILTERS}),
    route("secret-create", "POST", "/secrets/create", SWARM, "create a secret", "stores a secret in the swarm", body=SWARM_BODY),
    route("secret-delete", "DELETE", "/secrets/([^/]+)", OTHER, "remove a secret", "removes a secret"),
    route("secret-inspect", "GET", "/secrets/([^/]+)", OTHER, "inspect a secret", READS),
    route("secret-update", "POST", "/secrets/([^/]+)/update", SWARM, "update a secret", "changes a secret",
          {"version": allow("swarm")}, body=SWARM_BODY),
    route("config-list", "GET", "/configs", OTHER, "list configs", READS, {"filters": FILTERS}),
    route("config-create", "POST", "/configs/create", SWARM, "create a config", "stores a config in the swarm", body=SWARM_BODY),
    route("config-delete", "DELETE", "/configs/([^/]+)", OTHER, "remove a config", "removes a config"),
    route("config-inspect", "GET", "/configs/([^/]+)", OTHER, "inspect a config", READS),
    route("config-update", "POST", "/configs/([^/]+)/update", SWARM, "update a config", "changes a config",
          {"version": allow("swarm")}, body=SWARM_BODY),
    # The plugin router.
    route("plugin-list", "GET", "/plugins", OTHER, "list plugins", READS, {"filters": FILTERS}),
    route("plugin-inspect", "GET", "/plugins/(.*)/json", OTHER, "inspect a plugin", READS),
    route("plugin-privileges", "GET", "/plugins/privileges", OTHER, "read a plugin's privileges",
          "asks a registry what a plugin would need", {"remote": allow("the plugin's image")}),
    route("plugin-delete", "DELETE", "/plugins/(.*)", OTHER, "remove a plugin", "removes a managed plugin",
          {"force": allow("even if enabled")}),
    route("plugin-enable", "POST", "/plugins/(.*)/enable", PLUGIN_OP, "enable",
          "starts a managed plugin: it runs as real root, outside the remapping", {"timeout": allow("seconds to wait")}),
    route("plugin-disable", "POST", "/plugins/(.*)/disable", OTHER, "disable", "stops a managed plugin",
          {"force": allow("even if in use")}),
    route("plugin-pull", "POST", "/plugins/pull", PLUGIN_OP, "install", "installs a managed plugin",
          {"remote": check("managed-plugins", "the plugin's image"), "name": check("managed-plugins", "its local name")},
          body=PLUGIN_PRIVILEGES_BODY),
    route("plugin-push", "POST", "/plugins/(.*)/push", OTHER, "push", "uploads a managed plugin to a registry"),
    route("plugin-upgrade", "POST", "/plugins/(.*)/upgrade", PLUGIN_OP, "upgrade", "replaces a managed plugin's image",
          {"remote": check("managed-plugins", "the new image")}, body=PLUGIN_PRIVILEGES_BODY),
    route("plugin-set", "POST", "/plugins/(.*)/set", PLUGIN_OP, "set", "changes a managed plugin's mounts, devices and settings",
          body=list_of(check("managed-plugins", "KEY=VALUE settings; mount sources and device paths of a plugin that runs "
                                                "as real root"))),
    route("plugin-create", "POST", "/plugins/create", PLUGIN_OP, "create", "makes a managed plugin from the client's tar",
          {"name": check("managed-plugins", "the plugin's name")}),
    # The distribution router.
    route("distribution", "GET", "/distribution/(.*)/json", OTHER, "read an image's manifest", "asks a registry"),
    # The network router.
    route("network-list", "GET", "/networks", OTHER, "list networks", READS + " (also GET /networks/: the plugin reads paths "
          "without their trailing slash)", {"filters": FILTERS}),
    route("network-inspect", "GET", "/networks/(.+)", OTHER, "inspect a network", READS,
          {"verbose": allow("adds swarm details"), "scope": allow("where to look")}),
    route("network-create", "POST", "/networks/create", NETWORK_CREATE, "create a network",
          "creates a network: the bridge driver makes a bridge on the host, its address and routes, and firewall rules",
          body=NETWORK_CREATE_BODY),
    route("network-connect", "POST", "/networks/(.*)/connect", NETWORK_CONNECT, "connect a container to",
          "puts a container on a network", body=struct("the container and its endpoint", {
              "Container": allow("the container"), "EndpointConfig": ENDPOINT_SETTINGS})),
    route("network-disconnect", "POST", "/networks/(.*)/disconnect", OTHER, "disconnect a container from",
          "takes a container off a network", body=struct("the container", {
              "Container": allow("the container"), "Force": allow("even if it is gone")})),
    route("network-prune", "POST", "/networks/prune", OTHER, "remove unused networks", "removes unused networks",
          {"filters": FILTERS}),
    route("network-delete", "DELETE", "/networks/(.*)", OTHER, "remove a network", "removes a network"),
    # The debug routes (every method before 28.0), then BuildKit's gRPC.
    route("debug", "*", "/debug/(.*)", REFUSED, "read the daemon's debug data",
          "Go's pprof and expvar: the daemon's command line, memory and goroutines, and CPU profiles; clients need none "
          "of it"),
    route("grpc", "POST", "/grpc", BUILD, "open a BuildKit session",
          "BuildKit's whole API over the hijacked connection: the plugin sees none of the calls inside (builds run "
          "remapped; see the threat model for what BuildKit grants)"),
]
