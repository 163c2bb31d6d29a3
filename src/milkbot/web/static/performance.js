/* Performance: equity curve and drawdown for the chosen range (7D/30D/90D/1Y/All). */
(function () {
  "use strict";
  var M = window.Milkbot;
  var curve = M.data();
  var MAX_POINTS = 400;

  function xs(c) { return c.points.map(function (p) { return M.day(p.date); }); }
  function equitySeries(c) {
    return [xs(c), c.points.map(function (p) { return M.plotDollars(p.equity_dollars); })];
  }
  function drawdownSeries(c) {
    return [xs(c), c.points.map(function (p) { return -M.plotDollars(p.drawdown_dollars); })];
  }

  var cursorSync = { key: "perf" };
  function dayValue(u, v) { return v === null ? "–" : M.isoDay(v); }
  var equity = M.plot(
    document.getElementById("equity-chart"),
    {
      height: 280,
      tzDate: M.utcDate,
      cursor: { sync: cursorSync },
      scales: { x: M.dayScale() },
      axes: [M.dayAxis(), M.moneyAxis()],
      series: [
        { label: "Day", value: dayValue },
        {
          label: "Equity",
          stroke: "#2b6cb0",
          width: 2,
          fill: "rgba(43,108,176,0.08)",
          points: { show: false },
          value: function (u, v) { return M.chartMoney(v); },
        },
      ],
    },
    equitySeries(curve)
  );
  var drawdown = M.plot(
    document.getElementById("drawdown-chart"),
    {
      height: 150,
      tzDate: M.utcDate,
      cursor: { sync: cursorSync },
      scales: { x: M.dayScale() },
      axes: [M.dayAxis(), M.moneyAxis()],
      series: [
        { label: "Day", value: dayValue },
        {
          label: "Drawdown",
          stroke: "#c0392b",
          width: 1.5,
          fill: "rgba(192,57,43,0.15)",
          points: { show: false },
          value: function (u, v) { return M.chartMoney(v); },
        },
      ],
    },
    drawdownSeries(curve)
  );

  function render(c) {
    curve = c;
    equity.setData(equitySeries(c));
    drawdown.setData(drawdownSeries(c));
    var s = c.summary;
    M.setText("end-equity", M.money(s.end_equity_dollars));
    M.setText("period-pnl", M.money(s.total_pnl_dollars, true) + " in range", s.total_pnl_dollars);
    M.setText("return", M.number(s.total_return_pct) + "%", s.total_return_pct);
    M.setText("days", M.plural(s.days, "day"));
    M.setText("max-dd", M.money(s.max_drawdown_dollars));
    M.setText("max-dd-pct", M.number(s.max_drawdown_pct) + "% of peak");
    M.setText("sharpe", M.number(s.sharpe));
    M.setText("sortino", "Sortino " + M.number(s.sortino));
    M.setText("best", s.best_day ? s.best_day.date + " " + M.money(s.best_day.pnl_dollars, true) : "–");
    M.setText("worst", s.worst_day ? s.worst_day.date + " " + M.money(s.worst_day.pnl_dollars, true) : "–");
    M.updated(c.as_of);
  }

  function load(days) {
    return M.getJSON("/api/v1/equity?days=" + days + "&max_points=" + MAX_POINTS).then(render);
  }

  M.ranges(load);
  M.every(function () { return load(M.currentDays(365)); });
})();
