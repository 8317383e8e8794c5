"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into each sanity
virtual environment: its host is not reachable from these machines (only package registries are).
It installs pip from the interpreter's own ensurepip, then the packages ansible-test asked for
(the pinned pip) from the package index, as get-pip.py would. Used only by test_collection.py,
which copies it to where ansible-test looks for a cached get-pip.py.
"""

import subprocess
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")

# In a child process: ensurepip.bootstrap() would set PIP_CONFIG_FILE=/dev/null in this one, and the
# machine's pip configuration (certificates, index) must apply to the install below.
subprocess.check_call([sys.executable, "-m", "ensurepip"])
arguments = [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY_OPTIONS]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + arguments))
