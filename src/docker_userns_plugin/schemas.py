"""Schemas: the Docker API types the rules read, as Go structs (field names and JSON kinds), and
the HostConfig the daemon applies for a create body.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .gojson import Field, Schema, TypeMismatch, Undecodable, go_decode_struct, parse_go_json

MOUNT = Schema([
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
DEVICE = Schema([Field("PathOnHost", "string")])

# HostConfig fields the rules read (Resources is embedded in HostConfig, so Devices and
# DeviceCgroupRules sit at its top level).
HOST_CONFIG_FIELDS = [
    Field("UsernsMode", "string"),
    Field("Privileged", "bool"),
    Field("PidMode", "string"),
    Field("IpcMode", "string"),
    Field("NetworkMode", "string"),
    Field("UTSMode", "string"),
    Field("CgroupnsMode", "string"),
    Field("CapAdd", "strings"),
    Field("Binds", "strings"),
    Field("Mounts", "structs", MOUNT),
    Field("Devices", "structs", DEVICE),
    Field("DeviceCgroupRules", "strings"),
    Field("VolumeDriver", "string"),
    Field("VolumesFrom", "strings"),
]
HOST_CONFIG = Schema(HOST_CONFIG_FIELDS)

# The daemon decodes create bodies (and pre-1.24 start bodies) into a wrapper that embeds
# *HostConfig: HostConfig fields given at the top level count when no "HostConfig" key is.
CREATE_WRAPPER = Schema(HOST_CONFIG_FIELDS + [Field("HostConfig", "ptr", HOST_CONFIG)])

SERVICE_SPEC = Schema([
    Field("TaskTemplate", "struct", Schema([Field("Runtime", "string"), Field("PluginSpec", "ptr", Schema([]))])),
])

CHECKPOINT_CREATE_OPTIONS = Schema([Field("CheckpointDir", "string")])


def effective_host_config(body: bytes) -> Dict[str, Any]:
    """The HostConfig the daemon will apply for a create (or legacy start) body."""
    value = parse_go_json(body)
    try:
        wrapper = go_decode_struct(CREATE_WRAPPER, value, {})
    except TypeMismatch as err:
        raise Undecodable("the body does not match the Docker API types: %s" % err) from None
    inner: Optional[Dict[str, Any]] = wrapper.get("HostConfig")
    if inner is not None:
        return inner
    wrapper.pop("HostConfig", None)
    return wrapper


CREATE_IMAGE = Schema([Field("Image", "string")])  # the create body's Config is embedded: Image is at the top
