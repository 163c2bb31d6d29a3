/* Strategies: the metrics table and the calibration chart (predicted vs observed). */
(function () {
  "use strict";
  var M = window.Milkbot;
  var data = M.data();
  var select = document.getElementById("cal-strategy");

  /* uPlot wants one shared x: the deciles' mean probabilities, framed by 0 and 1 so the
     diagonal spans the square. "Observed" is the line through every decile with a filled
     point where there are enough signals to judge; a decile with fewer than min_signals is a
     hollow grey point of its own series, so the legend says what the hollow points are. The
     legend's values carry each decile's signal count. */
  var counts = [];
  var smallIdx = [];
  function series(cal) {
    var bins = cal.bins.filter(function (b) { return b.n > 0; });
    var xs = [0], diag = [0], obs = [null], few = [null];
    counts = [null];
    smallIdx = [];
    bins.forEach(function (b) {
      xs.push(b.mean_prob);
      diag.push(b.mean_prob);
      obs.push(b.observed_freq);
      few.push(b.small ? b.observed_freq : null);
      counts.push(b.n);
      if (b.small) smallIdx.push(xs.length - 1);
    });
    xs.push(1); diag.push(1); obs.push(null); few.push(null); counts.push(null);
    return [xs, diag, obs, few];
  }

  function withCount(u, v, si, i) {
    if (v === null || v === undefined) return "–";
    var n = i === null || i === undefined ? null : counts[i];
    return M.percent(v) + (n ? " · " + M.plural(n, "signal") : "");
  }

  var initial = series(data.calibration);
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
          points: {
            show: false,
            size: 8,
            fill: "#2b6cb0",
            /* Filled points only where the decile has enough signals. */
            filter: function (u, si) {
              return u.data[si].map(function (v, i) { return i; }).filter(function (i) {
                return u.data[si][i] !== null && smallIdx.indexOf(i) < 0;
              });
            },
          },
          value: withCount,
        },
        {
          label: "Fewer than " + M.plural(data.calibration.min_signals, "signal"),
          stroke: "#9aa3b5",
          width: 2,
          paths: function () { return null; },
          points: { show: true, size: 9, width: 2, stroke: "#9aa3b5", fill: "#ffffff" },
          value: withCount,
        },
      ],
    },
    initial
  );

  function calibrationRows(cal) {
    return cal.bins.map(function (b) {
      var few = b.small && b.n ? " <span class=\"few\">too few</span>" : "";
      return "<tr" + (b.small ? " class=\"small\"" : "") + "><td>" + M.percent(b.lower, 0) +
        "–" + M.percent(b.upper, 0) + "</td><td class=\"num\">" + M.count(b.n) + few +
        "</td><td class=\"num\">" + M.percent(b.mean_prob) + "</td><td class=\"num\">" +
        M.percent(b.observed_freq) + "</td></tr>";
    }).join("");
  }

  function renderCalibration(cal) {
    chart.setData(series(cal));
    M.setText("brier", M.number(cal.brier_score, 3));
    M.setText("settled", M.plural(cal.settled_signals, "settled signal"));
    M.setText("min-signals", M.plural(cal.min_signals, "signal"));
    document.querySelector("#calibration-table tbody").innerHTML = calibrationRows(cal);
  }

  function rows(m) {
    return m.strategies.map(function (s) {
      return "<tr><td>" + M.breakable(s.strategy) + "</td><td class=\"num opt\">" + M.count(s.signals) +
        "</td><td class=\"num\">" + M.count(s.trades) + "</td><td class=\"num " +
        M.tone(s.net_pnl_dollars) + "\">" + M.money(s.net_pnl_dollars, true) + "</td><td class=\"num\">" +
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

  select.addEventListener("change", function () {
    M.setParam("strategy", select.value);
    load(M.currentDays(365));
  });
  M.ranges(load);
  M.every(function () { return load(M.currentDays(365)); });
})();
