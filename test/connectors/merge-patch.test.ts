import { describe, expect, it } from "vitest";
import { applyMergePatch, composeMergePatches } from "../../src/connectors/merge-patch.js";

const target = {
  name: "CRM",
  auth: { type: "oauth2", clientId: "a", clientSecret: { file: "secret.txt" }, scope: "read" },
  tokenExpiredStatuses: [401],
};

describe("composeMergePatches (the connectors command's --stdin patch, then its flags)", () => {
  it.each([
    [{ name: "CRM 2" }, { auth: { scope: null } }],
    [{ auth: { clientId: "b" } }, { auth: { clientId: "c", scope: "write" } }],
    [{ auth: { scope: null } }, { auth: { scope: "again" } }],
    [{ auth: { clientSecret: { file: "other.txt" } } }, { auth: { clientSecret: { env: "CRM_SECRET" } } }],
    [{ tokenExpiredStatuses: [401, 403] }, { tokenExpiredStatuses: null }],
  ] as const)("applying the composition = applying %j, then %j", (first, second) => {
    const composed = composeMergePatches(first, second);
    expect(applyMergePatch(target, composed)).toEqual(
      applyMergePatch(applyMergePatch(target, first), second),
    );
  });

  it("keeps null, which removes the field where the patch is applied", () => {
    expect(composeMergePatches({ auth: { scope: "x" } }, { auth: { scope: null } })).toEqual({
      auth: { scope: null },
    });
  });
});
