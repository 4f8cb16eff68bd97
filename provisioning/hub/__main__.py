"""``python -m provisioning.hub --dir D [--host H --port P]``: serve a hub directory."""

import sys

from provisioning.hub.server import main

sys.exit(main())
