/* Strategies: the metrics table and the calibration chart (predicted vs observed). */
(function () {
  "use strict";
  var M = window.Milkbot;
  var data = M.data();
  var select = document.getElementById("cal-strategy");

  /* uPlot wants one shared x: the deciles' mean probabilities, framed by 0 and 1 so the
     diagonal spans the square. */
  function series(cal) {
    var bins = cal.bins.filter(function (b) { return b.n > 0; });
    var xs = [0], diag = [0], obs = [null];
    bins.forEach(function (b) {
      xs.push(b.mean_prob);
      diag.push(b.mean_prob);
      obs.push(b.observed_freq);
    });
    xs.push(1); diag.push(1); obs.push(null);
    return [xs, diag, obs];
  }

  var el = document.getElementById("calibration-chart");
  var pct = function (u, vals) { return vals.map(function (v) { return Math.round(v * 100) + "%"; }); };
  var chart = M.plot(
    el,
    {
      height: Math.min(Math.max(el.clientWidth, 200), 420),
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [M.axis(pct), M.axis(pct)],
      series: [
        { label: "Predicted", value: function (u, v) { return v === null ? "–" : M.percent(v); } },
        { label: "Perfect", stroke: "#9aa3b5", width: 1, dash: [4, 4], points: { show: false } },
        {
          label: "Observed",
          stroke: "#2b6cb0",
          width: 2,
          spanGaps: true,
          points: { show: true, size: 8, fill: "#2b6cb0" },
          value: function (u, v) { return v === null ? "–" : M.percent(v); },
        },
      ],
    },
    series(data.calibration)
  );

  function renderCalibration(cal) {
    chart.setData(series(cal));
    M.setText("brier", M.number(cal.brier_score, 3));
    M.setText("settled", M.count(cal.settled_signals));
  }

  function rows(m) {
    return m.strategies.map(function (s) {
      return "<tr><td>" + M.breakable(s.strategy) + "</td><td class=\"num opt\">" + M.count(s.signals) +
        "</td><td class=\"num\">" + M.count(s.trades) + "</td><td class=\"num " +
        M.tone(s.net_pnl_cents) + "\">" + M.money(s.net_pnl_cents, true) + "</td><td class=\"num\">" +
        M.percent(s.win_rate) + "</td><td class=\"num opt\">" + M.percent(s.avg_edge) +
        "</td><td class=\"num opt\">" + M.number(s.profit_factor) + "</td><td class=\"num opt\">" +
        M.number(s.sharpe) + "</td><td class=\"num\">" + M.number(s.brier_score, 3) + "</td></tr>";
    }).join("");
  }

  function load(days) {
    var strategy = select.value ? "&strategy=" + encodeURIComponent(select.value) : "";
    return Promise.all([
      M.getJSON("/api/v1/metrics/strategies?days=" + days),
      M.getJSON("/api/v1/calibration?days=" + days + strategy),
    ]).then(function (res) {
      document.querySelector("#strategy-table tbody").innerHTML = rows(res[0]);
      renderCalibration(res[1]);
      M.updated(res[0].as_of);
    });
  }

  select.addEventListener("change", function () { load(M.currentDays(365)); });
  M.ranges(load);
  M.every(function () { return load(M.currentDays(365)); });
})();
