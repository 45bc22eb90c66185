/** The http-request the fleet tests' flows make: GET /ping through the connector "CRM". */
export function crmPing(next: string) {
  return {
    type: "http-request",
    useAuthenticatedEndpoint: true,
    connector: "CRM",
    requestPath: "/ping",
    timeoutMs: 2000,
    next: { success: next, error: next },
  };
}
