import { ConnectorError } from "./errors.js";

/** Admin roles of seed 001 (Webex Contact Center admin guide, table 1) and what each may do with connectors. */

export const ADMIN_ROLES = [
  "full-admin",
  "cc-service-admin",
  "external-full-admin",
  "external-cc-admin",
  "helpdesk-full-admin",
  "partner-full-admin",
  "external-read-only-admin",
  "helpdesk-basic-admin",
  "partner-read-only-admin",
  "read-only-admin",
] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export const CONNECTOR_OPERATIONS = [
  "list",
  "show",
  "create",
  "edit",
  "deactivate",
  "reactivate",
  "delete",
] as const;
export type ConnectorOperation = (typeof CONNECTOR_OPERATIONS)[number];

type AccessLevel = "read-write" | "read-only" | "no-access";

const ACCESS: Record<AdminRole, AccessLevel> = {
  "full-admin": "read-write",
  "cc-service-admin": "read-write",
  "external-full-admin": "read-write",
  "external-cc-admin": "read-write",
  "helpdesk-full-admin": "read-write",
  "partner-full-admin": "read-write",
  "external-read-only-admin": "read-only",
  "helpdesk-basic-admin": "read-only",
  "partner-read-only-admin": "read-only",
  // Seed 001 lists the plain read-only administrator with "no access" to connectors.
  "read-only-admin": "no-access",
};

const READ_OPERATIONS: ReadonlySet<ConnectorOperation> = new Set(["list", "show"]);

export function isAdminRole(text: string): text is AdminRole {
  return (ADMIN_ROLES as readonly string[]).includes(text);
}

export function mayPerform(role: AdminRole, operation: ConnectorOperation): boolean {
  const level = ACCESS[role];
  if (level === "read-write") return true;
  return level === "read-only" && READ_OPERATIONS.has(operation);
}

/** Throws `forbidden-role` unless `role` may perform `operation`. */
export function assertMayPerform(role: AdminRole | undefined, operation: ConnectorOperation): void {
  if (role === undefined)
    throw new ConnectorError(
      "forbidden-role",
      `${operation} refused: no admin role given (admin roles rule: every connector operation needs a role)`,
    );
  if (mayPerform(role, operation)) return;
  const level = ACCESS[role];
  const why =
    level === "no-access"
      ? `role ${role} has no access to connectors`
      : `role ${role} has read-only access (list and show only)`;
  throw new ConnectorError("forbidden-role", `${operation} refused by the admin roles rule: ${why}`);
}
