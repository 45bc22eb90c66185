// Preloaded (node --require) into a host process: `@opentelemetry/api` resolves to the package named by
// FLOWRUN_TEST_OTEL_API, or is missing when that is "missing" — a host on another API version, or on none.
const Module = require("node:module");

const wanted = process.env.FLOWRUN_TEST_OTEL_API;
const resolve = Module._resolveFilename;
Module._resolveFilename = function resolveAliased(request, ...rest) {
  if (request !== "@opentelemetry/api" || !wanted) return resolve.call(this, request, ...rest);
  if (wanted === "missing") {
    const error = new Error("Cannot find module '@opentelemetry/api'");
    error.code = "MODULE_NOT_FOUND";
    throw error;
  }
  return resolve.call(this, wanted, ...rest);
};
