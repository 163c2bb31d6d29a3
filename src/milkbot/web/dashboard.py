"""What the dashboard is made of: its pages, the ranges a page offers and how much each page
asks the API for. How the pages are served is :mod:`milkbot.web.pages`; these stay apart from
it (no FastAPI, no analytics service, no pool) so the load test can import them.
"""

from __future__ import annotations

from milkbot.analytics.window import MAX_DAYS

# (name, path, label) of each page, in the navigation's order.
NAV = (
    ("overview", "/", "Overview"),
    ("cities", "/cities", "Cities"),
    ("performance", "/performance", "Performance"),
    ("strategies", "/strategies", "Strategies"),
    ("trades", "/trades", "Trades"),
    ("status", "/status", "Health"),
    ("compare", "/compare", "Compare"),
)
# The range selector of the cities, performance and strategies pages: label -> days (All = the
# longest window there is).
RANGES = (("7D", 7), ("30D", 30), ("90D", 90), ("1Y", 365), ("All", MAX_DAYS))
# Trades per page of the trades page's feed (its first page and each scroll).
FEED_PAGE_SIZE = 50
# The performance page's equity curve is thinned to at most this many points.
EQUITY_MAX_POINTS = 400
# The comparison page's default window (days).
COMPARE_DAYS = 90
