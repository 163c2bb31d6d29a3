/* Cities: net P&L bars per city and the table, for the chosen range. */
(function () {
  "use strict";
  var M = window.Milkbot;
  var report = M.data();
  var POS = "#1a7f4b";
  var NEG = "#c0392b";

  function series(r) {
    var xs = [], pos = [], neg = [];
    r.cities.forEach(function (c, i) {
      xs.push(i);
      var net = M.plotDollars(c.net_pnl_dollars);
      pos.push(net >= 0 ? net : null);
      neg.push(net < 0 ? net : null);
    });
    return [xs, pos, neg];
  }

  var bars = uPlot.paths.bars({ size: [0.6, 48] });
  var cityAxis = M.axis(function (u, vals) {
    return vals.map(function (v) {
      var c = report.cities[v];
      return Number.isInteger(v) && c ? c.city : "";
    });
  });
  cityAxis.font = "11px system-ui, sans-serif";
  cityAxis.grid = { show: false };
  /* One tick per city, whatever the width. */
  cityAxis.splits = function () {
    return report.cities.map(function (c, i) { return i; });
  };

  /* Bars grow from zero: the y range always includes it. */
  function withZero(u, min, max) {
    var lo = Math.min(0, min), hi = Math.max(0, max);
    if (lo === hi) hi = lo + 1;
    var pad = (hi - lo) * 0.08;
    return [lo < 0 ? lo - pad : 0, hi > 0 ? hi + pad : 0];
  }
  var chart = M.plot(
    document.getElementById("city-bars"),
    {
      height: 260,
      legend: { show: false },
      cursor: { points: { show: false } },
      scales: {
        x: { time: false, range: function () { return [-0.5, report.cities.length - 0.5]; } },
        y: { range: withZero },
      },
      axes: [cityAxis, M.moneyAxis()],
      series: [
        {},
        { label: "Profit", stroke: POS, fill: POS, paths: bars, points: { show: false } },
        { label: "Loss", stroke: NEG, fill: NEG, paths: bars, points: { show: false } },
      ],
    },
    series(report)
  );

  function rows(r) {
    return r.cities.map(function (c) {
      return "<tr><td>" + M.esc(c.city) + "</td><td class=\"num\">" + M.count(c.trades) +
        "</td><td class=\"num opt\">" + M.contracts(c.contracts) + "</td><td class=\"num opt " +
        M.tone(c.gross_pnl_dollars) + "\">" + M.money(c.gross_pnl_dollars, true) +
        "</td><td class=\"num opt\">" + M.money(c.fees_dollars) + "</td><td class=\"num " +
        M.tone(c.net_pnl_dollars) + "\">" + M.money(c.net_pnl_dollars, true) +
        "</td><td class=\"num opt\">" + M.count(c.wins) + " / " + M.count(c.losses) + "</td><td class=\"num\">" +
        M.percent(c.win_rate) + "</td><td class=\"num opt\">" + M.percent(c.roi) +
        "</td><td class=\"num opt\">" + M.money(c.open_exposure_dollars) + "</td></tr>";
    }).join("");
  }

  function render(r) {
    report = r;
    chart.setData(series(r));
    document.querySelector("#city-table tbody").innerHTML = rows(r);
    M.setText("window", "Settlement days " + r.window.start + " to " + r.window.end +
      " (" + M.plural(r.window.days, "day") + ")");
    M.updated(r.as_of);
  }

  function load(days) {
    return M.getJSON("/api/v1/metrics/cities?days=" + days).then(render);
  }

  M.ranges(load);
  M.every(function () { return load(M.currentDays(30)); });
})();
