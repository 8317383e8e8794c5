"""Import the plugin file (which lives outside any package) as the module `plugin`."""

import importlib.util
import sys
from pathlib import Path

PLUGIN_PATH = Path(__file__).resolve().parent.parent / "files" / "docker_userns_enforcement_plugin.py"


def load():
    if "docker_userns_enforcement_plugin" in sys.modules:
        return sys.modules["docker_userns_enforcement_plugin"]
    spec = importlib.util.spec_from_file_location("docker_userns_enforcement_plugin", PLUGIN_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
