"""Reviewed table, container types: every field of the bodies that make or change a container
(Config, HostConfig with its Resources, NetworkingConfig, mounts, exec and update bodies), as
Go's encoding/json reads them in Docker 20.10 to 29.x, with the verdict on a non-zero value.

Read from moby's api/types and the daemon code that acts on each field, at v20.10.24, v24.0.9,
v25.0.17, v26.1.5, v27.5.1, v28.5.2 and docker-v29.7.2. "since" is the API version that added a
field, where one did; fields without it are in every version from 1.24.
"""

from __future__ import annotations

from .table_types import allow, check, list_of, map_of, merged, one_of, refuse, struct

# Reasons that recur.
INSIDE = "applies inside the container only"
CGROUP = "a limit the runtime writes into the container's own cgroup"
SHOWN = "metadata the daemon stores and shows; it acts on nothing host-side"
IGNORED_ON_LINUX = "ignored by a Linux daemon"
HOST_DEVICE_STAT = ("the daemon stat(2)s this host path to find its device numbers and throttles that device for "
                    "the container's cgroup; nothing is opened or made")

HEALTHCHECK = struct("the health check, run inside the container", {
    "Test": allow(INSIDE), "Interval": allow(INSIDE), "Timeout": allow(INSIDE), "StartPeriod": allow(INSIDE),
    "Retries": allow(INSIDE), "StartInterval": allow(INSIDE, since="1.44"),
})

# container.Config: the image's settings, all applied inside the container's own namespaces.
CONFIG_FIELDS = {
    "Hostname": allow(INSIDE), "Domainname": allow(INSIDE),
    "User": allow("the user inside the container; under remapping its ids are shifted into the range"),
    "AttachStdin": allow(INSIDE), "AttachStdout": allow(INSIDE), "AttachStderr": allow(INSIDE),
    "ExposedPorts": allow("documentation of ports; only PublishAllPorts publishes them (reviewed there)"),
    "Tty": allow(INSIDE), "OpenStdin": allow(INSIDE), "StdinOnce": allow(INSIDE), "Env": allow(INSIDE),
    "Cmd": allow(INSIDE), "Healthcheck": HEALTHCHECK, "ArgsEscaped": allow(IGNORED_ON_LINUX),
    "Image": allow("the image to run; its files are the container's, remapped"),
    "Volumes": check("volume-copy", "anonymous volumes: the daemon creates them with the default or VolumeDriver "
                     "driver and copies the image's files into them as real root"),
    "WorkingDir": allow("created inside the container's own root file system"),
    "Entrypoint": allow(INSIDE), "NetworkDisabled": allow(INSIDE),
    "MacAddress": allow("the container's MAC address on its own interface"),
    "OnBuild": allow("instructions stored in a committed image"), "Labels": allow(SHOWN),
    "StopSignal": allow(INSIDE), "StopTimeout": allow(INSIDE), "Shell": allow(INSIDE),
}
CONFIG = struct("the container's configuration", CONFIG_FIELDS)

LOG_CONFIG = struct("the logging driver and its options", {
    "Type": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin, joining it into a "
                  "socket path unchecked"),
    "Config": check("log-driver", "the driver's options; some name host sockets, addresses and files the daemon opens as "
                    "real root"),
})
DEVICE_MAPPING = struct("a host device given to the container", {
    "PathOnHost": check("device-grant", "the daemon resolves it on the host (a directory: every device below it) and has "
                        "the runtime make the node and allow the device in the container's device cgroup"),
    "PathInContainer": check("device-grant", "where the device appears; under remapping the runtime binds it from this "
                             "path as the host has it, so it must be the device's own path"),
    "CgroupPermissions": check("device-grant", "the device cgroup's r, w and m for that device"),
})
DEVICE_REQUEST = struct("a device request (--gpus): the driver's host-side hook runs as real root", {
    "Driver": check("runtime-hooks", "nvidia: the NVIDIA toolkit's prestart hook runs as real root on the host; cdi: "
                    "the administrator's CDI specs add devices, mounts and hooks"),
    "Count": check("runtime-hooks", "part of the device request"), "DeviceIDs": check("runtime-hooks", "part of the device request"),
    "Capabilities": check("runtime-hooks", "part of the device request"),
    "Options": check("runtime-hooks", "part of the device request"),
})
WEIGHT_DEVICE = struct("a block device weight", {"Path": allow(HOST_DEVICE_STAT), "Weight": allow(CGROUP)})
THROTTLE_DEVICE = struct("a block device throttle", {"Path": allow(HOST_DEVICE_STAT), "Rate": allow(CGROUP)})
ULIMIT = struct("a resource limit", {
    "Name": allow("set by the runtime for the container's processes (it may raise hard limits: a resource matter)"),
    "Hard": allow("as Name"), "Soft": allow("as Name"),
})

# container.Resources, embedded in HostConfig (its fields sit at HostConfig's top level) and the
# body of an update.
RESOURCES_FIELDS = {
    "CpuShares": allow(CGROUP), "Memory": allow(CGROUP), "NanoCpus": allow(CGROUP),
    "CgroupParent": refuse("the runtime would create the container's cgroup under this host cgroup, outside the "
                           "daemon's own, and on cgroup v1 the daemon creates its parents and writes their real-time "
                           "limits as real root"),
    "BlkioWeight": allow(CGROUP), "BlkioWeightDevice": list_of(WEIGHT_DEVICE),
    "BlkioDeviceReadBps": list_of(THROTTLE_DEVICE), "BlkioDeviceWriteBps": list_of(THROTTLE_DEVICE),
    "BlkioDeviceReadIOps": list_of(THROTTLE_DEVICE), "BlkioDeviceWriteIOps": list_of(THROTTLE_DEVICE),
    "CpuPeriod": allow(CGROUP), "CpuQuota": allow(CGROUP), "CpuRealtimePeriod": allow(CGROUP),
    "CpuRealtimeRuntime": allow(CGROUP), "CpusetCpus": allow(CGROUP), "CpusetMems": allow(CGROUP),
    "Devices": list_of(DEVICE_MAPPING),
    "DeviceCgroupRules": check("device-grant", "rules added to the container's device cgroup: which device numbers its "
                               "processes may open or make"),
    "DeviceRequests": list_of(DEVICE_REQUEST),
    "KernelMemory": allow(CGROUP + " (cgroup v1; ignored from API 1.42)"), "KernelMemoryTCP": allow(CGROUP + " (cgroup v1)"),
    "MemoryReservation": allow(CGROUP), "MemorySwap": allow(CGROUP), "MemorySwappiness": allow(CGROUP),
    "OomKillDisable": allow(CGROUP), "PidsLimit": allow(CGROUP), "Ulimits": list_of(ULIMIT),
    "CpuCount": allow(IGNORED_ON_LINUX), "CpuPercent": allow(IGNORED_ON_LINUX),
    "IOMaximumIOps": allow("refused by a Linux daemon"), "IOMaximumBandwidth": allow("refused by a Linux daemon"),
}

BIND_OPTIONS = struct("options of a bind mount", {
    "Propagation": one_of(("", "private", "rprivate", "slave", "rslave"),
                          "shared and rshared propagate mounts made inside the container back into the host's mount "
                          "tree: the container's root could mount over host paths below the bind"),
    "NonRecursive": allow("leaves mounts below the source out"),
    "CreateMountpoint": check("bind-source", "the daemon would create a missing source as real root", since="1.42"),
    "ReadOnlyNonRecursive": allow("read-only only at the top", since="1.44"),
    "ReadOnlyForceRecursive": allow("read-only all the way down", since="1.44"),
})
VOLUME_DRIVER_CONFIG = struct("the driver of a volume the mount creates", {
    "Name": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin"),
    "Options": check("volume-options", "options of the local driver are mount(2) arguments the daemon applies as real "
                     "root in the host's mount namespace"),
})
VOLUME_OPTIONS = struct("options of a volume mount", {
    "NoCopy": allow("leaves the volume as it is (no copy of the image's files)"),
    "Labels": allow(SHOWN), "DriverConfig": VOLUME_DRIVER_CONFIG,
    "Subpath": check("volume-copy", "the directory inside the volume that is mounted (and filled)", since="1.45"),
})
TMPFS_OPTIONS = struct("options of a tmpfs mount", {
    "SizeBytes": allow(INSIDE), "Mode": allow(INSIDE),
    "Options": allow("tmpfs flags for a file system that lives in memory, inside the container", since="1.46"),
})
MOUNT = struct("a mount (--mount)", {
    "Type": one_of(("bind", "volume", "tmpfs"), "npipe is Windows only, cluster volumes need swarm, and image "
                   "mounts (API 1.48) make the daemon mount an image's layers: not reviewed"),
    "Source": check("bind-source", "a bind's host path (checked like every bind) or a volume's name (checked for copy-up)"),
    "Target": allow("the path inside the container"), "ReadOnly": allow("read-only"),
    "Consistency": allow(IGNORED_ON_LINUX), "BindOptions": BIND_OPTIONS, "VolumeOptions": VOLUME_OPTIONS,
    "TmpfsOptions": TMPFS_OPTIONS,
    "ClusterOptions": refuse("cluster volumes are swarm's (CSI plugins publish them on the nodes)", since="1.42"),
    "ImageOptions": refuse("image mounts (API 1.48) are not reviewed by this plugin", since="1.48"),
})

HOST_CONFIG_FIELDS = {
    "Binds": check("bind-source", "-v: host paths the daemon creates (missing ones), re-owns and mounts as real root, "
                   "and named volumes it fills with the image's files"),
    "ContainerIDFile": allow("used by the client only; the daemon ignores it"),
    "LogConfig": LOG_CONFIG,
    "NetworkMode": check("network-mode", "bridge, none, a user-defined network or container:NAME; the host's network "
                         "(by name or ID) is refused under remapping"),
    "PortBindings": map_of(list_of(struct("a published port", {
        "HostIp": allow("the host address the published port listens on"),
        "HostPort": allow("the host port; Docker publishes it for the container, as it is meant to"),
    }))),
    "RestartPolicy": struct("the restart policy", {
        "Name": one_of(("no", "always", "on-failure", "unless-stopped"), "the daemon knows only these"),
        "MaximumRetryCount": allow("how often on-failure restarts"),
    }),
    "AutoRemove": allow("removes the container when it exits"),
    "VolumeDriver": check("driver-name", "the driver of the container's new volumes: a plugin name the daemon looks up"),
    "VolumesFrom": check("bind-source", "takes over another container's mounts, its host binds among them"),
    "ConsoleSize": allow(INSIDE, since="1.42"),
    "Annotations": check("runtime-hooks", "OCI annotations: the runtime and its hooks act on them as real root", since="1.43"),
    "CapAdd": check("cap-add", "capabilities inside the remapped user namespace (the opt-in CIS rule may refuse them)"),
    "CapDrop": allow("fewer capabilities"),
    "CgroupnsMode": one_of(("", "host", "private"), "the cgroup namespace: private, or the host's view of the cgroup "
                           "tree (the opt-in CIS rule may refuse host)", since="1.41"),
    "Dns": allow("written into the container's resolv.conf"), "DnsOptions": allow("as Dns"), "DnsSearch": allow("as Dns"),
    "ExtraHosts": allow("written into the container's /etc/hosts"),
    "GroupAdd": allow("supplementary groups inside the container, remapped"),
    "IpcMode": check("outside-container", "private, shareable, none, host (the host's IPC objects, with their own "
                     "permission bits; the opt-in CIS rule may refuse it) or container:NAME, " + "which must be inside the remapping"),
    "Cgroup": allow(IGNORED_ON_LINUX),
    "Links": allow("legacy links: names and addresses in the container's /etc/hosts"),
    "OomScoreAdj": allow("the OOM killer's preference for the container's processes: a resource matter"),
    "PidMode": check("outside-container", "private, host (refused by the daemon under remapping) or container:NAME, "
                     "which must be inside the remapping"),
    "Privileged": check("remap-refuses", "every capability and every device: the daemon refuses it under remapping, and "
                        "the plugin checks that the daemon remaps"),
    "PublishAllPorts": allow("publishes the exposed ports on host ports Docker picks"),
    "ReadonlyRootfs": allow("a read-only root file system"),
    "SecurityOpt": check("security-opt", "seccomp, AppArmor and SELinux settings and no-new-privileges: profiles "
                         "loaded on the host are applied by name"),
    "StorageOpt": check("storage-opt", "options of the storage driver for the container's layer"),
    "Tmpfs": allow("tmpfs file systems inside the container, which live in memory"),
    "UTSMode": one_of(("", "host"), "the host's UTS namespace shows the host's name; the opt-in CIS rule may refuse it"),
    "UsernsMode": check("host-userns", "host runs the container as real root on the host (CIS Docker 5.31)"),
    "ShmSize": allow("the size of the container's /dev/shm"),
    "Sysctls": check("sysctls", "kernel settings written in the container's namespaces; with a namespace shared with "
                     "the host they would be the host's"),
    "Runtime": check("runtime-hooks", "the OCI runtime; an unconfigured io.containerd.NAME.vN makes containerd run the "
                     "shim binary of that name as real root"),
    "Isolation": one_of(("", "default"), "the only isolation a Linux daemon knows"),
    "Mounts": list_of(MOUNT),
    "MaskedPaths": check("masked-paths", "paths of /proc and /sys hidden from the container; an empty list unmasks "
                         "them all (--security-opt systempaths=unconfined)"),
    "ReadonlyPaths": check("masked-paths", "paths of /proc and /sys made read-only; an empty list makes them writable"),
    "Init": allow("the daemon's own init binary, read-only, as the container's first process"),
    "Capabilities": refuse("a field of API 1.40 that the daemon refuses, and no client sends"),
}
RESOURCES = struct("resources", RESOURCES_FIELDS)
HOST_CONFIG = merged("the host configuration: everything the daemon sets up around the container",
                     struct("", HOST_CONFIG_FIELDS), RESOURCES)

ENDPOINT_IPAM = struct("fixed addresses of the container on that network", {
    "IPv4Address": allow("an address of the network's subnet"), "IPv6Address": allow("as IPv4Address"),
    "LinkLocalIPs": allow("link-local addresses of the container's interface"),
})
ENDPOINT_SETTINGS = struct("the container's endpoint on a network", {
    "IPAMConfig": ENDPOINT_IPAM, "Links": allow("names in the container's /etc/hosts"),
    "Aliases": allow("names other containers resolve"), "NetworkID": allow("ignored on input"),
    "EndpointID": allow("ignored on input"), "Gateway": allow("ignored on input"), "IPAddress": allow("ignored on input"),
    "IPPrefixLen": allow("ignored on input"), "IPv6Gateway": allow("ignored on input"),
    "GlobalIPv6Address": allow("ignored on input"), "GlobalIPv6PrefixLen": allow("ignored on input"),
    "MacAddress": allow("the MAC address of the container's interface", since="1.44"),
    "DriverOpts": check("network-options", "options of the network driver for this endpoint; the daemon writes the "
                        "sysctls among them"),
    "DNSNames": allow("names the network's DNS answers for the container", since="1.44"),
    "GwPriority": allow("which network is the container's default gateway", since="1.48"),
})
NETWORKING = struct("the networks the container joins", {
    "EndpointsConfig": map_of(ENDPOINT_SETTINGS, "networks by name or ID, each with the container's endpoint on it; "
                              "the host's network is refused under remapping", rule="network-mode"),
})

# The create body: Config's fields at the top level, HostConfig and NetworkingConfig beside them.
# Docker 20.10 to 26.1 also take HostConfig's fields at the top level (an embedded *HostConfig):
# with no "HostConfig" key those are the HostConfig, so they are reviewed the same way.
CREATE_BODY = merged("a new container: Config, HostConfig and NetworkingConfig", CONFIG,
                     struct("", {"HostConfig": HOST_CONFIG, "NetworkingConfig": NETWORKING,
                                 "Cpuset": allow(CGROUP + " (20.10 to 26.1: fills CpusetCpus)")}),
                     HOST_CONFIG)

UPDATE_BODY = merged("new limits and restart policy of a container", RESOURCES,
                     struct("", {"RestartPolicy": HOST_CONFIG_FIELDS["RestartPolicy"]}))

EXEC_CREATE_BODY = struct("a process to run in a container", {
    "User": allow("the user inside the container, remapped"),
    "Privileged": allow("every capability inside the container's user namespace: the outside-container rule refuses "
                        "execs into containers outside the remapping"),
    "Tty": allow(INSIDE), "AttachStdin": allow(INSIDE), "AttachStderr": allow(INSIDE), "AttachStdout": allow(INSIDE),
    "Detach": allow("ignored"), "DetachKeys": allow(INSIDE), "Env": allow(INSIDE), "WorkingDir": allow(INSIDE),
    "Cmd": allow(INSIDE), "ConsoleSize": allow(INSIDE, since="1.42"),
})
EXEC_START_BODY = struct("how to start an exec", {
    "Detach": allow("whether the client stays attached"), "Tty": allow(INSIDE), "ConsoleSize": allow(INSIDE, since="1.42"),
})
CHECKPOINT_CREATE_BODY = struct("a checkpoint (experimental daemons)", {
    "CheckpointID": allow("the checkpoint's name"),
    "CheckpointDir": check("checkpoint-dir", "a host directory the daemon creates, writes (CRIU dump) and removes as "
                           "real root"),
    "Exit": allow("stops the container after the checkpoint"),
})
# POST /commit: the new image's Config. Docker 28.5 and older decode the body like a create body,
# then validate its HostConfig and drop it; no container is made.
COMMIT_BODY = merged("the committed image's Config", CONFIG, struct("", {
    "HostConfig": allow("decoded and dropped by Docker 28.5 and older; nothing is made from it"),
    "NetworkingConfig": allow("decoded and dropped by Docker 28.5 and older; nothing is made from it"),
}))
