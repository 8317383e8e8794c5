"""Schemas: the Docker API types the rules read, as Go structs (field names and JSON kinds), and
the HostConfig the daemon applies for a create body.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .gojson import Field, Schema, TypeMismatch, Undecodable, go_decode_struct, parse_go_json

MOUNT_SCHEMA = Schema([
    Field("Type", "string"),
    Field("Source", "string"),
    Field("Target", "string"),
    Field("ReadOnly", "bool"),
    Field("BindOptions", "ptr", Schema([Field("CreateMountpoint", "bool")])),
    Field("VolumeOptions", "ptr", Schema([
        Field("NoCopy", "bool"),
        Field("Subpath", "string"),
        Field("DriverConfig", "ptr", Schema([Field("Name", "string"), Field("Options", "stringmap")])),
    ])),
])
DEVICE_SCHEMA = Schema([Field("PathOnHost", "string"), Field("PathInContainer", "string"), Field("CgroupPermissions", "string")])
DEVICE_REQUEST_SCHEMA = Schema([Field("Driver", "string"), Field("DeviceIDs", "strings")])
ENDPOINT_SCHEMA = Schema([Field("DriverOpts", "stringmap")])

# HostConfig fields the rules read (Resources is embedded in HostConfig, so Devices and
# DeviceCgroupRules sit at its top level).
HOST_CONFIG_SCHEMA_FIELDS = [
    Field("UsernsMode", "string"),
    Field("Privileged", "bool"),
    Field("PidMode", "string"),
    Field("IpcMode", "string"),
    Field("NetworkMode", "string"),
    Field("UTSMode", "string"),
    Field("CgroupnsMode", "string"),
    Field("CapAdd", "strings"),
    Field("Binds", "strings"),
    Field("Mounts", "structs", MOUNT_SCHEMA),
    Field("Devices", "structs", DEVICE_SCHEMA),
    Field("DeviceCgroupRules", "strings"),
    Field("VolumeDriver", "string"),
    Field("VolumesFrom", "strings"),
    Field("LogConfig", "struct", Schema([Field("Type", "string"), Field("Config", "stringmap")])),
    Field("Sysctls", "stringmap"),
    Field("SecurityOpt", "strings"),
    Field("StorageOpt", "stringmap"),
    Field("Runtime", "string"),
    Field("Annotations", "stringmap"),
    Field("DeviceRequests", "structs", DEVICE_REQUEST_SCHEMA),
    Field("MaskedPaths", "strings"),
    Field("ReadonlyPaths", "strings"),
]
HOST_CONFIG_SCHEMA = Schema(HOST_CONFIG_SCHEMA_FIELDS)

# Docker 20.10 to 26.1 decode create bodies into a wrapper that embeds *HostConfig: HostConfig
# fields given at the top level count when no "HostConfig" key is (27.0 and later ignore them).
CREATE_WRAPPER_SCHEMA = Schema(HOST_CONFIG_SCHEMA_FIELDS + [Field("HostConfig", "ptr", HOST_CONFIG_SCHEMA)])
CREATE_NETWORKS_SCHEMA = Schema([Field("NetworkingConfig", "ptr", Schema([Field("EndpointsConfig", "structmap", ENDPOINT_SCHEMA)]))])

NETWORK_CREATE_SCHEMA = Schema([
    Field("Name", "string"), Field("Driver", "string"), Field("Options", "stringmap"),
    Field("IPAM", "ptr", Schema([
        Field("Driver", "string"), Field("Options", "stringmap"),
        Field("Config", "structs", Schema([Field("Subnet", "string"), Field("Gateway", "string")])),
    ])),
])
NETWORK_CONNECT_SCHEMA = Schema([Field("Container", "string"), Field("EndpointConfig", "ptr", ENDPOINT_SCHEMA)])
VOLUME_CREATE_SCHEMA = Schema([Field("Name", "string"), Field("Driver", "string"), Field("DriverOpts", "stringmap")])

SERVICE_SPEC_SCHEMA = Schema([
    Field("TaskTemplate", "struct", Schema([Field("Runtime", "string"), Field("PluginSpec", "ptr", Schema([]))])),
])

CHECKPOINT_CREATE_SCHEMA = Schema([Field("CheckpointDir", "string")])


def effective_host_config(body: bytes) -> Dict[str, Any]:
    """The HostConfig the daemon will apply for a create body."""
    value = parse_go_json(body)
    try:
        wrapper = go_decode_struct(CREATE_WRAPPER_SCHEMA, value, {})
    except TypeMismatch as err:
        raise Undecodable("the body does not match the Docker API types: %s" % err) from None
    inner: Optional[Dict[str, Any]] = wrapper.get("HostConfig")
    if inner is not None:
        return inner
    wrapper.pop("HostConfig", None)
    return wrapper


CREATE_IMAGE_SCHEMA = Schema([Field("Image", "string")])  # the create body's Config is embedded: Image is at the top
