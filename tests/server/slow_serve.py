"""``lorafleet serve <args>`` with a test-only slow service added to the role's server.

Started as a subprocess by test_server_shutdown.py: it runs the real CLI (signal handling,
logging, bootstrap) and only swaps the role's bindings for ``[Slow, RegistryService]`` so the
test does not depend on what the role's own services load at start.
"""

import sys

from lorafleet_testkit import registry_only, slow_binding

import lorafleet.server.bootstrap as bootstrap
from lorafleet.cli.main import main

bootstrap.role_bindings = lambda ctx: [slow_binding(), *registry_only(ctx)]
sys.exit(main(["serve", *sys.argv[1:]]))
