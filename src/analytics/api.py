"""The guide's ``kernprof -l -v src/analytics/api.py``: each analytics query run once against the
configured database (``MILKBOT_DATABASE_URL``, or the embedded server), with the query functions
wrapped in kernprof's ``profile`` so ``-v`` prints their lines. A plain script, not a package:
it runs ``python -m milkbot.analytics`` (same options: ``--days N``, ``--json``).
"""

import sys

from milkbot.analytics.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
