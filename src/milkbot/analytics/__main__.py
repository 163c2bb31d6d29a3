"""``python -m milkbot.analytics``: each analytics query run once, for the profilers (see
:mod:`milkbot.perf.profiling`, where it lives: measurement is not part of the read layer)."""

import sys

from milkbot.perf.profiling import main

if __name__ == "__main__":
    sys.exit(main())
