import sys

from benchpin.cli import main

sys.exit(main())
