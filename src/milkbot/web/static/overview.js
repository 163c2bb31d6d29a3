/* Overview: equity sparkline, then hero cards, cities and latest trades refreshed from
   /api/v1/summary. */
(function () {
  "use strict";
  var M = window.Milkbot;
  var data = M.data();

  function series(points) {
    return [
      points.map(function (p) { return M.day(p.date); }),
      points.map(function (p) { return M.plotDollars(p.equity_dollars); }),
    ];
  }

  var spark = M.plot(
    document.getElementById("spark"),
    {
      height: 140,
      legend: { show: false },
      cursor: { show: true, points: { show: false } },
      tzDate: M.utcDate,
      scales: { x: M.dayScale() },
      axes: [M.dayAxis(), M.moneyAxis()],
      series: [
        { value: function (u, v) { return v === null ? "–" : M.isoDay(v); } },
        { stroke: "#2b6cb0", width: 2, fill: "rgba(43,108,176,0.10)", points: { show: false } },
      ],
    },
    series(data.sparkline)
  );

  function tradeRows(trades) {
    return trades.map(function (t) {
      return "<tr><td class=\"time\">" + M.timeCell(t.time) + "</td><td class=\"opt\">" + M.esc(t.city) +
        "</td><td class=\"ticker\">" + M.breakable(t.ticker) + "</td><td><span class=\"side side-" +
        t.side + "\">" + t.action + " " + t.side.toUpperCase() + "</span></td><td class=\"num\">" +
        M.contracts(t.contracts) + "</td><td class=\"num\">" + M.money(t.price_dollars) + "</td></tr>";
    }).join("");
  }

  function cityRows(cities) {
    return cities.map(function (c) {
      return "<tr><td>" + M.esc(c.city) + "</td><td class=\"num\">" + M.count(c.trades) +
        "</td><td class=\"num " + M.tone(c.net_pnl_dollars) + "\">" + M.money(c.net_pnl_dollars, true) +
        "</td><td class=\"num\">" + M.percent(c.win_rate) + "</td></tr>";
    }).join("");
  }

  function render(s) {
    M.setText("equity", M.money(s.equity_dollars));
    M.setText("total-pnl", M.money(s.total_pnl_dollars, true) + " since start", s.total_pnl_dollars);
    M.setText("net-pnl", M.money(s.net_pnl_dollars, true), s.net_pnl_dollars);
    M.setText("exposure", M.money(s.open_exposure_dollars) + " open exposure");
    M.setText("win-rate", M.percent(s.win_rate));
    M.setText("wins-losses", M.count(s.wins) + " won · " + M.count(s.losses) + " lost");
    M.setText("trades", M.count(s.trades));
    M.setText("max-dd", M.number(s.max_drawdown_pct, 1) + "%");
    var all = s.all_time_window;
    document.getElementById("all-time").innerHTML = all ? M.esc(all.start) + " to " +
      M.esc(all.end) + " · max drawdown <span id=\"all-time-dd\">" +
      M.number(s.all_time_max_drawdown_pct, 1) + "%</span> all time" : "no trades yet";
    /* Every "N days" label names the window the figures beside it cover. */
    Array.prototype.forEach.call(document.querySelectorAll(".span"), function (el) {
      el.textContent = M.plural(s.window.days, "day");
    });
    M.setBadge("health-badge", s.health);
    document.querySelector("#city-table tbody").innerHTML = cityRows(s.cities);
    document.querySelector("#latest-trades tbody").innerHTML = tradeRows(s.latest_trades);
    spark.setData(series(s.sparkline));
    M.updated(s.as_of);
  }

  M.every(function () {
    /* The window the page was rendered with, so refreshed figures keep their labels' window. */
    return M.getJSON("/api/v1/summary?days=" + data.window.days).then(render);
  });
})();
