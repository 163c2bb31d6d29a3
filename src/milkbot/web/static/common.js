/* Shared by every dashboard page: formatting, JSON fetches, auto-refresh, range links and
   uPlot charts. No build step; plain ES2017. */
(function () {
  "use strict";

  var M = {};
  M.charts = {};
  M.drawn = {};

  M.data = function () {
    return JSON.parse(document.getElementById("page-data").textContent);
  };

  /* An exact dollar amount as the API serves it (a decimal string: "1234.5", "-0.0012") for
     people: "$1,234.50", "-$0.0012"; signed adds "+" to a gain. Cents always, sub-cent digits
     only where the amount has them. String arithmetic only: no float ever rounds money. */
  M.money = function (dollars, signed) {
    if (dollars === null || dollars === undefined) return "–";
    var text = String(dollars);
    var negative = text.charAt(0) === "-";
    if (negative || text.charAt(0) === "+") text = text.slice(1);
    var parts = text.split(".");
    var whole = parts[0].replace(/^0+(?=\d)/, "") || "0";
    var fraction = (parts[1] || "").replace(/0+$/, "");
    while (fraction.length < 2) fraction += "0";
    var zero = /^0*$/.test(whole) && /^0*$/.test(fraction);
    var sign = negative && !zero ? "-" : signed && !zero && !negative ? "+" : "";
    return sign + "$" + whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + fraction;
  };
  /* A count of contracts ("1250.00") as Kalshi writes it, with thousands separators. */
  M.contracts = function (count) {
    if (count === null || count === undefined) return "–";
    var parts = String(count).split(".");
    var fraction = ((parts[1] || "") + "00").slice(0, 2);
    return parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + fraction;
  };
  /* A chart's value under the cursor (a float of dollars, only ever plotted) to the cent. */
  M.chartMoney = function (v) {
    if (v === null || v === undefined) return "–";
    var sign = v < 0 ? "-" : "";
    return sign + "$" + Math.abs(v).toLocaleString("en-US", {
      minimumFractionDigits: 2,
      maximumFractionDigits: 2,
    });
  };
  /* A dollar string as a number, for chart coordinates only (never summed or shown). */
  M.plotDollars = function (dollars) {
    return dollars === null || dollars === undefined ? null : parseFloat(dollars);
  };
  M.percent = function (ratio, digits) {
    if (ratio === null || ratio === undefined) return "–";
    return (ratio * 100).toFixed(digits === undefined ? 1 : digits) + "%";
  };
  M.number = function (value, digits) {
    if (value === null || value === undefined) return "–";
    return value.toLocaleString("en-US", {
      minimumFractionDigits: digits === undefined ? 2 : digits,
      maximumFractionDigits: digits === undefined ? 2 : digits,
    });
  };
  M.count = function (n) {
    return n.toLocaleString("en-US");
  };
  /* "1 trade", "2 trades", "1,234 cities": the count and the noun that agrees with it (the
     plural defaults to one + "s"); the pages' Jinja filter `plural` says the same. */
  M.plural = function (n, one, many) {
    return M.count(n) + " " + (n === 1 ? one : many || one + "s");
  };
  /* "pos", "neg" or "" for a signed amount: a number or a decimal string of dollars. */
  M.tone = function (value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") {
      if (/^[-+]?[0.]*$/.test(value)) return "";
      return value.charAt(0) === "-" ? "neg" : "pos";
    }
    return !value ? "" : value > 0 ? "pos" : "neg";
  };
  /* ISO time "2026-11-26T14:05:00+00:00" -> "2026-11-26 14:05" (the API's times are UTC). */
  M.utc = function (iso) {
    return iso.slice(0, 16).replace("T", " ");
  };
  /* The same time for a narrow table cell: the date never breaks, the time may wrap. */
  M.timeCell = function (iso) {
    var t = M.utc(iso);
    return "<span class=\"nowrap\">" + t.slice(0, 10) + "</span> " + t.slice(11);
  };
  M.esc = function (text) {
    return String(text).replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  };
  /* Escaped text with a line-break opportunity after each "-" and "_" (tickers, names). */
  M.breakable = function (text) {
    return M.esc(text).replace(/([-_])/g, "$1<wbr>");
  };
  /* Seconds since the epoch of a settlement day "YYYY-MM-DD" at 00:00 UTC (uPlot's x unit). */
  M.day = function (iso) {
    return Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10)) / 1000;
  };

  M.setText = function (id, text, toneValue) {
    var el = document.getElementById(id);
    if (!el) return;
    el.textContent = text;
    if (toneValue !== undefined) {
      el.classList.remove("pos", "neg");
      var t = M.tone(toneValue);
      if (t) el.classList.add(t);
    }
  };
  M.setBadge = function (id, status) {
    var el = document.getElementById(id);
    if (!el) return;
    el.className = "badge badge-" + status;
    el.textContent = status;
  };
  M.updated = function (iso) {
    M.setText("updated", M.utc(iso));
  };

  /* The account the page shows (its URL's ?account=, resolved by the server): every API
     call of the page asks for that account's figures. */
  M.account = function () {
    return document.body.dataset.account || "";
  };
  M.withAccount = function (url) {
    var account = M.account();
    if (!account || url.indexOf("/api/") !== 0 || /[?&]account=/.test(url)) return url;
    return url + (url.indexOf("?") < 0 ? "?" : "&") + "account=" + encodeURIComponent(account);
  };

  M.getJSON = function (url) {
    return fetch(M.withAccount(url), { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) {
          var msg = body && body.error ? body.error.message : "HTTP " + r.status;
          throw new Error(msg);
        }
        return body;
      });
    });
  };

  /* Run fn every data-refresh seconds while the page is visible; a failed refresh keeps the
     page as it is and says so in the footer rather than throwing. */
  M.every = function (fn) {
    var seconds = +document.body.dataset.refresh;
    if (!seconds) return;
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      Promise.resolve()
        .then(fn)
        .catch(function (err) {
          M.setText("updated", "(refresh failed: " + err.message + ")");
        })
        .then(function () {
          busy = false;
        });
    }, seconds * 1000);
  };

  /* Range links (?days=N): fetch instead of navigating, mark the active one, keep the URL. */
  M.ranges = function (onPick) {
    var links = document.querySelectorAll(".ranges .range");
    Array.prototype.forEach.call(links, function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        var days = +a.dataset.days;
        Array.prototype.forEach.call(links, function (b) {
          b.classList.toggle("active", b === a);
          b.setAttribute("aria-pressed", b === a ? "true" : "false");
        });
        M.setParam("days", days);
        onPick(days);
      });
    });
  };
  /* Keep the address in step with what the page shows (other parameters stay), so a reload
     or a shared link shows the same; an empty value removes the parameter. */
  M.setParam = function (name, value) {
    var params = new URLSearchParams(location.search);
    if (value === "" || value === null || value === undefined) params.delete(name);
    else params.set(name, value);
    var query = params.toString();
    history.replaceState(null, "", location.pathname + (query ? "?" + query : ""));
  };
  M.currentDays = function (fallback) {
    var active = document.querySelector(".ranges .range.active");
    return active ? +active.dataset.days : fallback;
  };

  var axisStroke = "#677085";
  var grid = { stroke: "#e2e5eb", width: 1 };
  M.axis = function (values) {
    var a = { stroke: axisStroke, grid: grid, ticks: { stroke: "#e2e5eb" } };
    if (values) a.values = values;
    return a;
  };
  /* Dollars on the axis (the series are in dollars); cents too when the ticks are less than
     a dollar apart. */
  M.moneyAxis = function () {
    var a = M.axis(function (u, vals) {
      var step = vals.length > 1 ? Math.abs(vals[1] - vals[0]) : 1;
      var digits = step < 1 ? 2 : 0;
      return vals.map(function (v) {
        var sign = v < 0 ? "-" : "";
        return sign + "$" + Math.abs(v).toLocaleString("en-US", {
          minimumFractionDigits: digits,
          maximumFractionDigits: digits,
        });
      });
    });
    a.size = 64;
    return a;
  };
  M.utcDate = function (ts) {
    return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC");
  };

  /* Settlement-day axes. The series have one point per day, so the ticks fall on whole days
     (UTC midnight, as M.day places the points) at every range and say dates, never times:
     uPlot picks the smallest of these steps whose labels fit. */
  var DAY = 86400;
  var MONTH = 30 * DAY; /* uPlot's month step: ticks on the 1st of the month */
  var YEAR = 365 * DAY; /* and on the 1st of January */
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  M.DAY_STEPS = [DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, MONTH, 2 * MONTH, 3 * MONTH,
    6 * MONTH, YEAR, 2 * YEAR, 5 * YEAR, 10 * YEAR];
  /* "2026-11-26" of a tick or cursor position (seconds, UTC): the legend's x value. */
  M.isoDay = function (ts) {
    return new Date(ts * 1000).toISOString().slice(0, 10);
  };
  /* Tick labels: "Nov 26" (the year below the first and at each new year) for day steps,
     "Nov" (year likewise) for month steps, "2026" for year steps. */
  M.dayLabels = function (u, splits, axisIdx, space, step) {
    var lastYear = null;
    return splits.map(function (ts) {
      var d = new Date(ts * 1000);
      var year = d.getUTCFullYear();
      if (step >= YEAR) return String(year);
      var label = MONTHS[d.getUTCMonth()] + (step >= MONTH ? "" : " " + d.getUTCDate());
      if (year !== lastYear) label += "\n" + year;
      lastYear = year;
      return label;
    });
  };
  M.dayAxis = function () {
    var a = M.axis(M.dayLabels);
    a.incrs = M.DAY_STEPS;
    a.space = 56;
    return a;
  };
  /* The x scale of a daily series: a lone day still spans a day either side, so its tick is
     a date like any other. */
  M.dayScale = function () {
    return {
      time: true,
      range: function (u, min, max) {
        return max - min < DAY ? [min - DAY, max + DAY] : [min, max];
      },
    };
  };

  /* A uPlot chart filling el's width; redrawn on resize; registered as M.charts[el.id]. */
  M.plot = function (el, opts, data) {
    opts.width = Math.max(el.clientWidth, 200);
    opts.height = opts.height || 260;
    opts.hooks = opts.hooks || {};
    opts.hooks.draw = (opts.hooks.draw || []).concat(function () {
      if (!M.drawn[el.id]) {
        M.drawn[el.id] = true;
        el.dataset.drawn = "1";
        if (window.performance && performance.mark) performance.mark("chart-drawn:" + el.id);
      }
    });
    var u = new uPlot(opts, data, el);
    M.charts[el.id] = u;
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        var w = Math.max(el.clientWidth, 200);
        if (w !== u.width) u.setSize({ width: w, height: opts.height });
      }).observe(el);
    }
    return u;
  };

  /* The account switcher: picking an account opens the same page for it at once (its button
     does the same without script). */
  var switcher = document.getElementById("account-switcher");
  if (switcher) {
    switcher.querySelector("select").addEventListener("change", function () {
      switcher.submit();
    });
  }

  window.Milkbot = M;
})();
