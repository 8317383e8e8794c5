# Two commands on a fresh Debian 12 machine, as root:
#   make demo   apply playbooks/site.yml to a disposable Docker host and show the refusal
#   make test   lint, pytest and every Molecule scenario, with their own set-up
# Everything they keep between runs is under /var/cache/docker-userns-dev.

.PHONY: test demo demo-clean setup lint pytest molecule outer-stop plugin upstream-engines

test:
	tools/test.sh

demo:
	tools/demo.sh

demo-clean:
	tools/demo.sh clean

# The plugin's one file, from its package (src/docker_userns_plugin): run after editing it.
plugin:
	python3 tools/build_plugin.py

# Pieces of `make test`, for development.
setup:
	tools/setup.sh

lint:
	TEST_PARTS=lint tools/test.sh

pytest:
	TEST_PARTS=pytest tools/test.sh

# make molecule SCENARIOS="default absent"
molecule:
	TEST_PARTS=molecule $(if $(SCENARIOS),MOLECULE_SCENARIOS="$(SCENARIOS)") tools/test.sh

# Docker CE from Docker's official static tarballs, one Molecule run per engine (not part of
# `make test`; docs/testing.md, "Docker CE engines"):
#   make upstream-engines ENGINES="24.0.9 29.7.2"
ENGINES ?= 24.0.9 25.0.17 26.1.5 27.5.1 28.5.2 29.5.0 29.7.2
upstream-engines:
	tools/upstream-engines.sh $(ENGINES)

# Stop the private Docker engine that runs the demo and test hosts.
outer-stop:
	tools/outer-dockerd.sh stop

# ---- Benchmarks -------------------------------------------------------------------
# Every benchmark, then each figure as `name: value` (docs/performance.md).
.PHONY: bench
bench:
	bench/run_all.sh
