import { describe, expect, it } from "vitest";
import { ConnectorError } from "../../src/connectors/errors.js";
import { ConnectorRegistry } from "../../src/connectors/registry.js";
import {
  ADMIN_ROLES,
  type AdminRole,
  CONNECTOR_OPERATIONS,
  type ConnectorOperation,
} from "../../src/connectors/roles.js";
import { connectorInput } from "./builders.js";

const READ_WRITE: AdminRole[] = [
  "full-admin",
  "cc-service-admin",
  "external-full-admin",
  "external-cc-admin",
  "helpdesk-full-admin",
  "partner-full-admin",
];
const READ_ONLY: AdminRole[] = [
  "external-read-only-admin",
  "helpdesk-basic-admin",
  "partner-read-only-admin",
];

function expected(role: AdminRole, operation: ConnectorOperation): boolean {
  if (READ_WRITE.includes(role)) return true;
  if (READ_ONLY.includes(role)) return operation === "list" || operation === "show";
  return false;
}

/** A registry holding an active "Live" and an inactive "Parked" connector, set up by a full admin. */
async function fixture(): Promise<ConnectorRegistry> {
  const registry = new ConnectorRegistry(undefined, { role: "full-admin" });
  await registry.create(connectorInput("custom", "Live"));
  await registry.create(connectorInput("custom", "Parked"));
  await registry.deactivate("Parked");
  return registry;
}

const perform: Record<
  ConnectorOperation,
  (registry: ConnectorRegistry, role: AdminRole) => Promise<unknown>
> = {
  list: async (registry, role) => registry.list({ role }),
  show: async (registry, role) => registry.show("Live", { role }),
  create: (registry, role) => registry.create(connectorInput("genesys", "New"), { role }),
  edit: (registry, role) =>
    registry.edit("Parked", { resourceDomainUrl: "https://other.example.com" }, { role }),
  deactivate: (registry, role) => registry.deactivate("Live", { role }),
  reactivate: (registry, role) => registry.reactivate("Parked", { role }),
  delete: (registry, role) => registry.delete("Parked", { role }),
};

describe("admin role matrix (seed 001)", () => {
  it("knows all ten roles and seven operations", () => {
    expect(ADMIN_ROLES).toHaveLength(10);
    expect(CONNECTOR_OPERATIONS).toHaveLength(7);
  });

  for (const role of ADMIN_ROLES) {
    for (const operation of CONNECTOR_OPERATIONS) {
      const allowed = expected(role, operation);
      it(`${role} ${allowed ? "may" : "may not"} ${operation}`, async () => {
        const registry = await fixture();
        const before = JSON.stringify(registry.toDocument());
        if (allowed) {
          await perform[operation](registry, role);
          return;
        }
        const error = await perform[operation](registry, role).then(
          () => undefined,
          (thrown: unknown) => thrown,
        );
        expect(error).toBeInstanceOf(ConnectorError);
        expect((error as ConnectorError).code).toBe("forbidden-role");
        expect((error as ConnectorError).message).toContain(`${operation} refused by the admin roles rule`);
        expect(JSON.stringify(registry.toDocument())).toBe(before);
      });
    }
  }

  it("refuses admin operations when no role is given at all", async () => {
    const registry = new ConnectorRegistry();
    await expect(registry.create(connectorInput("custom", "X"))).rejects.toMatchObject({
      code: "forbidden-role",
    });
    expect(() => registry.list()).toThrow(/no admin role/);
  });
});
