/* Trade feed: infinite scroll over the cursor API, a city filter, and a live top of the feed. */
(function () {
  "use strict";
  var M = window.Milkbot;
  var end = document.getElementById("feed-end");
  var body = document.querySelector("#trade-table tbody");
  var filter = document.getElementById("city-filter");
  var sideFilter = document.getElementById("side-filter");
  var pageSize = +end.dataset.pageSize;
  var feed = { cursor: end.dataset.cursor || null, loading: false, pages: 1 };
  M.feed = feed;

  function row(t) {
    return "<tr><td class=\"time\">" + M.timeCell(t.time) + "</td><td class=\"opt\">" + M.esc(t.city) +
      "</td><td class=\"ticker\">" + M.breakable(t.ticker) + "</td><td><span class=\"side side-" +
      t.side + "\">" + t.action + " " + t.side.toUpperCase() + "</span></td><td class=\"num\">" +
      M.contracts(t.contracts) + "</td><td class=\"num\">" + M.money(t.price_dollars) + "</td></tr>";
  }

  function url(cursor) {
    var q = "/api/v1/trades/public?limit=" + pageSize;
    if (filter.value) q += "&city=" + encodeURIComponent(filter.value);
    if (sideFilter.value) q += "&side=" + encodeURIComponent(sideFilter.value);
    if (cursor) q += "&cursor=" + encodeURIComponent(cursor);
    return q;
  }

  function show(page, replace) {
    var html = page.trades.map(row).join("");
    if (replace) body.innerHTML = html;
    else body.insertAdjacentHTML("beforeend", html);
    feed.cursor = page.next_cursor;
    end.textContent = feed.cursor ? "Loading older trades…" : "End of feed";
    var empty = document.getElementById("feed-empty");
    empty.hidden = body.rows.length > 0;
    empty.textContent = filter.value || sideFilter.value ?
      "No public trades match these filters." : "No public trades yet.";
    M.setText("trade-count", M.count(body.rows.length) + " shown");
    M.updated(new Date().toISOString());
  }

  function nearEnd() {
    return end.getBoundingClientRect().top < window.innerHeight + 400;
  }

  function loadMore() {
    if (!feed.cursor || feed.loading) return Promise.resolve();
    feed.loading = true;
    return M.getJSON(url(feed.cursor))
      .then(function (page) {
        feed.pages += 1;
        show(page, false);
      })
      .catch(function (err) {
        end.textContent = "Could not load older trades: " + err.message;
      })
      .then(function () {
        feed.loading = false;
        if (feed.cursor && nearEnd()) return loadMore();
      });
  }

  function reload() {
    feed.loading = true;
    return M.getJSON(url(null)).then(function (page) {
      feed.pages = 1;
      show(page, true);
    }).then(function () {
      feed.loading = false;
      if (feed.cursor && nearEnd()) return loadMore();
    }, function (err) {
      feed.loading = false;
      throw err;
    });
  }

  end.textContent = feed.cursor ? "Loading older trades…" : "End of feed";
  new IntersectionObserver(function (entries) {
    if (entries.some(function (e) { return e.isIntersecting; })) loadMore();
  }, { rootMargin: "400px 0px" }).observe(end);

  function onFilter() {
    M.setParam("city", filter.value);
    M.setParam("side", sideFilter.value);
    reload().catch(function (err) { end.textContent = "Could not load trades: " + err.message; });
  }
  filter.addEventListener("change", onFilter);
  sideFilter.addEventListener("change", onFilter);
  /* New trades arrive at the top: refresh only while the reader is there, so a refresh never
     pulls the rows out from under someone scrolling through history. */
  M.every(function () {
    if (window.scrollY > 200 || feed.loading) return;
    return reload();
  });
})();
