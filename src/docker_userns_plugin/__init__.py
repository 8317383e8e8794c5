"""Docker authorization plugin that keeps every container inside the user-namespace remapping.

The Docker daemon consults this plugin on every API request (AuthZPlugin.AuthZReq). It refuses
host user namespaces (`docker run --userns=host`) however the request spells them, refuses to
run code in, attach to or start again containers that are already outside the remapping, refuses
the daemon's own file copies (`docker cp`) through host-backed mounts, refuses managed Docker
plugins (they run as real root outside the remapping) unless allowlisted, and fails closed when
it cannot see, parse or check a request that could matter.

One file, Python 3.8+ standard library only: it is copied onto hosts as it is.

    python3 docker_userns_enforcement_plugin.py --socket PATH [--config FILE]
    python3 docker_userns_enforcement_plugin.py --check-config FILE

The source is this package, one module per concern (docs/contributing.md lists them);
tools/build_plugin.py joins the modules, in dependency order, into that one file, each section
headed by the module it came from. Everything below the transport is pure and testable without
sockets: the policy receives its lookups (the daemon, the host's paths) as a parameter.
"""
