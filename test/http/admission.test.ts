import { describe, expect, it } from "vitest";
import { AdmissionGate, type AdmissionWaiter } from "../../src/http/admission.js";

const ORIGIN = "http://127.0.0.1:1";
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

function waiter(admitted: string[], name: string): AdmissionWaiter {
  return { admit: () => admitted.push(name) };
}

describe("the per-origin admission gate", () => {
  it("admits up to its limit, queues the rest in order, and admits a waiter only on a later turn", async () => {
    const gate = new AdmissionGate(2);
    const admitted: string[] = [];
    expect(gate.enter(ORIGIN, waiter(admitted, "a"))).toBe(true);
    expect(gate.enter(ORIGIN, waiter(admitted, "b"))).toBe(true);
    expect(gate.enter(ORIGIN, waiter(admitted, "c"))).toBe(false);
    expect(gate.enter(ORIGIN, waiter(admitted, "d"))).toBe(false);
    expect(gate.enter("http://127.0.0.1:2", waiter(admitted, "other origin"))).toBe(true);
    gate.leave(ORIGIN);
    expect(admitted).toEqual([]);
    await nextTurn();
    expect(admitted).toEqual(["c"]);
    expect(gate.load(ORIGIN)).toEqual({ active: 2, waiting: 1 });
  });

  it("drops a withdrawn waiter at once: it is never admitted", async () => {
    const gate = new AdmissionGate(1);
    const admitted: string[] = [];
    gate.enter(ORIGIN, waiter(admitted, "a"));
    const gaveUp = waiter(admitted, "gave up");
    gate.enter(ORIGIN, gaveUp);
    gate.enter(ORIGIN, waiter(admitted, "c"));
    gate.withdraw(ORIGIN, gaveUp);
    expect(gate.load(ORIGIN)).toEqual({ active: 1, waiting: 1 });
    gate.leave(ORIGIN);
    await nextTurn();
    expect(admitted).toEqual(["c"]);
  });

  it("lets nobody overtake a waiting request, and forgets an origin once idle", async () => {
    const gate = new AdmissionGate(1);
    const admitted: string[] = [];
    gate.enter(ORIGIN, waiter(admitted, "a"));
    gate.enter(ORIGIN, waiter(admitted, "b"));
    gate.leave(ORIGIN);
    // A slot is free until the next turn, but "b" waits for it: a newcomer queues behind.
    expect(gate.enter(ORIGIN, waiter(admitted, "newcomer"))).toBe(false);
    await nextTurn();
    expect(admitted).toEqual(["b"]);
    gate.leave(ORIGIN);
    await nextTurn();
    gate.leave(ORIGIN);
    expect(admitted).toEqual(["b", "newcomer"]);
    expect(gate.load(ORIGIN)).toEqual({ active: 0, waiting: 0 });
  });
});
