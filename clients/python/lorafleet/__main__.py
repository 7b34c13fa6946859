"""``python -m lorafleet`` = the ``lorafleet`` command."""

import sys

from lorafleet.cli.main import main

sys.exit(main())
