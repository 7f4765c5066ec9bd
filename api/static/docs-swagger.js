/* /swagger: Swagger UI for the document named by #swagger-container's data-url. */
(function () {
  "use strict";
  var el = document.getElementById("swagger-container");
  window.ui = window.SwaggerUIBundle({
    url: el.dataset.url, dom_id: "#swagger-container", deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
})();
