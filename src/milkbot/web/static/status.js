/* Health: components, their status and age, refreshed from /api/v1/health. */
(function () {
  "use strict";
  var M = window.Milkbot;

  // The public's table has no Age and Message columns (its health carries neither).
  var detailed = document.querySelectorAll("#component-table thead th").length > 2;

  function rows(h) {
    return h.components.map(function (c) {
      var row = "<tr><td>" + M.esc(c.name) + "</td><td><span class=\"badge badge-" + c.status +
        "\">" + c.status + "</span></td>";
      if (detailed) {
        var age = c.age_seconds === null ? "–" : M.number(c.age_seconds, 0) + " s";
        row += "<td class=\"num nowrap\">" + age + "</td><td class=\"msg\">" +
          M.esc(c.message) + "</td>";
      }
      return row + "</tr>";
    }).join("");
  }

  M.every(function () {
    return M.getJSON("/api/v1/health").then(function (h) {
      document.querySelector("#component-table tbody").innerHTML = rows(h);
      M.setBadge("health-badge", h.status);
      M.updated(h.checked_at);
    });
  });
})();
