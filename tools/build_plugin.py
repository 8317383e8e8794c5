#!/usr/bin/env python3
"""Build the plugin's one deployable file from its package, as SQLite builds its amalgamation.

    tools/build_plugin.py            write files/docker_userns_enforcement_plugin.py
    tools/build_plugin.py --check    exit 1 when the committed file is not what the build makes

The package src/docker_userns_plugin/ is what people edit; the file is what the role deploys and
operators read. The build joins the modules in the order of MODULES, each section headed by the
module it came from and its docstring, with one import block on top. It refuses a module that:
- imports a sibling that comes later in MODULES (dependencies run one way: transport -> policy ->
  rules -> lookups and decoding; no module reaches back up);
- imports a sibling otherwise than `from .module import name, ...`, or a name the sibling does not
  define at its top level;
- defines a top-level name another module defines too (in one file they would clash).
Standard library only, deterministic: the same sources always make the same bytes.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Set

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "docker_userns_plugin"
TARGET = ROOT / "files" / "docker_userns_enforcement_plugin.py"

# Dependency order: each module may import only from the ones above it.
MODULES = [
    "gojson", "config", "schemas", "request",
    "table_types", "table_container_types", "table_container_routes", "table_api_routes", "routes",
    "lookups", "containers", "host_paths", "host_devices", "host_network", "mounts", "remap_effects", "engine",
    "context", "review", "rules_request", "rules_userns", "rules_features", "rules_cis", "rules_host_config",
    "rules_drivers", "rules_devices", "rules_network", "rules_root_work", "rules_engine",
    "policy", "audit_log",
    "daemon_api", "daemon_lookup",
    "plugin_service", "http_server", "sockets", "report", "main",
]
BANNER = "# " + "-" * 93


class BuildError(Exception):
    """A module breaks one of the rules above; the message says which and where."""


class Module:
    """One source module: its docstring, its imports and the source lines after them."""

    def __init__(self, name: str, text: str):
        self.name = name
        tree = ast.parse(text, filename=name + ".py")
        docstring = ast.get_docstring(tree, clean=True)
        if not docstring:
            raise BuildError("%s.py has no docstring: say what the module is for" % name)
        self.docstring = docstring
        self.stdlib_imports: Set[str] = set()
        self.stdlib_from: Dict[str, Set[str]] = {}
        self.siblings: Dict[str, List[str]] = {}
        body_start = None
        for node in tree.body[1:]:
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            if isinstance(node, ast.Import) and body_start is None:
                self.stdlib_imports.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and body_start is None:
                self._import_from(node)
            else:
                if isinstance(node, (ast.Import, ast.ImportFrom)) and body_start is not None:
                    raise BuildError("%s.py:%d: imports belong at the top of the module" % (name, node.lineno))
                if body_start is None:
                    body_start = _first_line(node)
        lines = text.splitlines()
        start = (body_start or len(lines) + 1) - 1
        while start > 0 and lines[start - 1].startswith("#"):  # the comments right above it belong to it
            start -= 1
        self.body = "\n".join(lines[start:]).strip("\n")
        self.defined = _top_level_names(tree)

    def _import_from(self, node: ast.ImportFrom) -> None:
        names = [alias.name for alias in node.names]
        if any(alias.asname for alias in node.names):
            raise BuildError("%s.py:%d: no `as` in imports (one name, one meaning, in one file)" % (self.name, node.lineno))
        if node.level == 0 and node.module:
            self.stdlib_from.setdefault(node.module, set()).update(names)
        elif node.level == 1 and node.module:
            self.siblings.setdefault(node.module, []).extend(names)
        else:
            raise BuildError("%s.py:%d: import siblings as `from .module import name`" % (self.name, node.lineno))


def _first_line(node: ast.stmt) -> int:
    """The first line of a statement, its decorators and the comments right above it."""
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _top_level_names(tree: ast.Module) -> Set[str]:
    names: Set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.For)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def read_modules(package: Path = PACKAGE, order: Sequence[str] = MODULES) -> List[Module]:
    """The package's modules in dependency order; raise BuildError when one breaks a rule."""
    found = sorted(p.stem for p in package.glob("*.py") if p.stem != "__init__")
    if sorted(order) != found:
        raise BuildError("MODULES in tools/build_plugin.py and the package differ: %s" % sorted(set(order) ^ set(found)))
    modules: List[Module] = []
    owner: Dict[str, str] = {}
    for name in order:
        text = (package / (name + ".py")).read_text(encoding="utf-8")
        module = Module(name, text)
        for sibling, names in module.siblings.items():
            if sibling not in order[:list(order).index(name)]:
                raise BuildError("%s imports %s, which comes later in the dependency order (tools/build_plugin.py MODULES)" % (name, sibling))
            missing = [n for n in names if owner.get(n) != sibling]
            if missing:
                raise BuildError("%s imports %s from %s, which does not define it" % (name, ", ".join(missing), sibling))
        for defined in sorted(module.defined):
            if defined in owner:
                raise BuildError("%s is defined in both %s and %s" % (defined, owner[defined], name))
            owner[defined] = name
        modules.append(module)
    return modules


def _comment(text: str) -> List[str]:
    return [("# " + line).rstrip() for line in text.splitlines()]


def build(package: Path = PACKAGE, order: Sequence[str] = MODULES) -> str:
    """The one file, as text."""
    modules = read_modules(package, order)
    package_doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")), clean=True)
    if not package_doc:
        raise BuildError("__init__.py has no docstring: it becomes the file's")
    imports: Set[str] = set()
    from_imports: Dict[str, Set[str]] = {}
    for module in modules:
        imports |= module.stdlib_imports
        for source, names in module.stdlib_from.items():
            from_imports.setdefault(source, set()).update(names)
    out = ["#!/usr/bin/env python3", '"""%s\n"""' % package_doc, "",
           "# Built by tools/build_plugin.py from src/docker_userns_plugin/ (%d modules). Edit those, then run" % len(modules),
           "# `make plugin`; `make test` fails when this file is not what the build makes of them.",
           "", "from __future__ import annotations", ""]
    out += ["import %s" % name for name in sorted(imports)]
    out += ["from %s import %s" % (source, ", ".join(sorted(from_imports[source]))) for source in sorted(from_imports)]
    out.append("")
    for index, module in enumerate(modules):
        out += ([] if index == 0 else ["", ""]) + [BANNER] + _comment("%s.py: %s" % (module.name, module.docstring)) + [BANNER, "", "", module.body]
    return "\n".join(out) + "\n"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing it")
    args = parser.parse_args(argv)
    try:
        text = build()
    except (BuildError, SyntaxError) as err:
        print("build_plugin: %s" % err, file=sys.stderr)
        return 2
    if not args.check:
        TARGET.write_text(text, encoding="utf-8")
        print("wrote %s (%d lines)" % (TARGET.relative_to(ROOT), text.count("\n")))
        return 0
    committed = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    if committed == text:
        print("%s is what the build makes of src/docker_userns_plugin/" % TARGET.relative_to(ROOT))
        return 0
    diff = difflib.unified_diff(committed.splitlines(), text.splitlines(), "committed", "built", lineterm="", n=1)
    print("\n".join(list(diff)[:40]), file=sys.stderr)
    print("build_plugin: %s is not what the build makes of src/docker_userns_plugin/: run `make plugin` and commit it"
          % TARGET.relative_to(ROOT), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
