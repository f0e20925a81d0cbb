import sys

from anix_core.cli import main

sys.exit(main())
