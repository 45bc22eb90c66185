/**
 * Escapes text for HTML element content and quoted attribute values. Everything a report shows that came from a
 * flow, a response or a test file goes through this: a flow value `<script>` must stay text.
 */
export function escapeHtml(value: unknown): string {
  const text = typeof value === "string" ? value : String(value);
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A JSON value as readable text (strings quoted, undefined spelled out), escaped. */
export function escapeJson(value: unknown, indent?: number): string {
  return escapeHtml(
    value === undefined ? "undefined" : (JSON.stringify(value, null, indent) ?? String(value)),
  );
}
