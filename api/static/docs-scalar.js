/* /schema: Scalar's API reference for the document named by #app's data-url. */
(function () {
  "use strict";
  var el = document.getElementById("app");
  window.Scalar.createApiReference("#app", {url: el.dataset.url, withDefaultFonts: false});
})();
