"""Helpers shared by the Molecule scenarios' testinfra tests.

Loaded into pytest as a plugin (`-p hosttest.fixtures`, see
.config/molecule/config.yml), so every scenario's tests see the same fixtures.
"""
