"""The guide's ``kernprof -l -v src/analytics/api.py``: each analytics query run once against the
configured database (``MILKBOT_DATABASE_URL``, or the embedded server), with the query functions
wrapped in kernprof's ``profile`` so ``-v`` prints their lines. A plain script, not a package:
it runs :mod:`milkbot.perf.profiling`, as ``python -m milkbot.analytics`` does (same options:
``--days N``, ``--json``).
"""

import sys

from milkbot.perf.profiling import main

if __name__ == "__main__":
    sys.exit(main())
