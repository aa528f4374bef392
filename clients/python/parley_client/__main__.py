import sys

from parley_client.cli import main

sys.exit(main())
