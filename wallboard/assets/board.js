"use strict";
(function () {
  var board = document.getElementById("board");
  var lost = document.getElementById("lost");
  var es = new EventSource("/wallboard/events" + location.search.replace(/token=[^&]*&?/, ""));
  es.addEventListener("board", function (e) {
    board.innerHTML = e.data;
    lost.hidden = true;
  });
  es.addEventListener("open", function () { lost.hidden = true; });
  es.addEventListener("error", function () { lost.hidden = false; });
  // A screen runs for days: reload now and then, which renews its session.
  setTimeout(function () { location.reload(); }, 4 * 3600 * 1000);
})();
