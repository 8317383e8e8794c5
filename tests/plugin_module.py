"""The plugin, two ways: its package (src/docker_userns_plugin, which the unit tests import) and
the one file built from it (files/docker_userns_enforcement_plugin.py, which the role deploys and
the integration tests run; load() imports it as the module `docker_userns_enforcement_plugin`).

Importing this module puts src/ on sys.path, so `from docker_userns_plugin import policy` works.
"""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLUGIN_PATH = REPO / "files" / "docker_userns_enforcement_plugin.py"
PACKAGE_PATH = REPO / "src" / "docker_userns_plugin"

if str(PACKAGE_PATH.parent) not in sys.path:
    sys.path.insert(0, str(PACKAGE_PATH.parent))


def load():
    """The shipped file, as a module."""
    if "docker_userns_enforcement_plugin" in sys.modules:
        return sys.modules["docker_userns_enforcement_plugin"]
    spec = importlib.util.spec_from_file_location("docker_userns_enforcement_plugin", PLUGIN_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
