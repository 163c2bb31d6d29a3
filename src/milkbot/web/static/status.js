/* Health: components, their status and age, refreshed from /api/v1/health. */
(function () {
  "use strict";
  var M = window.Milkbot;

  function rows(h) {
    return h.components.map(function (c) {
      var age = c.age_seconds === null ? "–" : M.number(c.age_seconds, 0) + " s";
      return "<tr><td>" + M.esc(c.name) + "</td><td><span class=\"badge badge-" + c.status + "\">" +
        c.status + "</span></td><td class=\"num nowrap\">" + age + "</td><td class=\"msg\">" +
        M.esc(c.message) + "</td></tr>";
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
