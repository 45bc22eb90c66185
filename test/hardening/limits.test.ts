// What a careless or hostile flow author can write must not freeze, exhaust or crash the process that runs it:
// each case ends the activity with a typed `limit-exceeded` error (or is refused at compile), the run takes its
// error branch, and the process lives on. No timed assertions: the limits themselves are counted, not timed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../src/core/errors.js";
import { createEngine, type EngineOptions } from "../../src/runtime/create-engine.js";
import { cli } from "../helpers/cli.js";
import { end, flow } from "../helpers/flows.js";
import { closeAllServers, type LoopbackServer, startHttpServer } from "../helpers/servers.js";

/** A parse activity over `{{ body }}` whose failures go to `handled`, which records the error. */
function parseFlow(pathExpression: string, outputType = "json") {
  return flow(
    {
      read: {
        type: "parse",
        input: "{{ body }}",
        parseSettings: [{ outputVariable: "found", pathExpression }],
        next: { success: "done", error: "handled" },
      },
      handled: {
        type: "set-variable",
        assignments: [{ variable: "failure", value: "{{ read.error }}" }],
        next: { default: "done" },
      },
      done: end,
    },
    { variables: { body: { type: "string" }, found: { type: outputType }, failure: { type: "json" } } },
  );
}

async function run(
  document: Record<string, unknown>,
  variables: Record<string, unknown>,
  options: EngineOptions = {},
) {
  const engine = createEngine(options);
  try {
    return await engine.compile(document).run({ variables });
  } finally {
    await engine.close();
  }
}

function compileProblem(pathExpression: string): string {
  const engine = createEngine();
  try {
    engine.compile(parseFlow(pathExpression));
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return (error as ValidationError).problems.map((p) => `${p.path}: ${p.message}`).join("\n");
  } finally {
    void engine.close();
  }
  throw new Error(`${pathExpression} compiled`);
}

describe("JSON paths a flow author writes", () => {
  it("refuses a backtracking regular expression in a filter at compile time", () => {
    const problem = compileProblem("$[?(@.s && @.s.match(/^(a+)+$/))]");
    expect(problem).toContain("$.activities.read.parseSettings[0].pathExpression");
    expect(problem).toContain("regular expressions are not allowed in filters");
  });

  it("refuses a filter that calls methods (unbounded allocation) at compile time", () => {
    const problem = compileProblem("$[?(@.s.repeat(1e8).split('').length > 0)]");
    expect(problem).toContain("method and function calls are not allowed in filters");
  });

  it("refuses a 128 KB path at once, naming the length limit", () => {
    const problem = compileProblem(`$${".a".repeat(64 * 1024)}`);
    expect(problem).toContain("131073 characters long; the limit (jsonPathLength) is 1000");
  });

  it("refuses brackets nested deeper than the nesting limit", () => {
    const problem = compileProblem(`$${"[?(@".repeat(5)}.a${")]".repeat(5)}`);
    expect(problem).toContain("nest deeper than 8 levels");
  });

  it("ends $..*..*..*..* on a 0.5 MB response with limit-exceeded and takes the error branch", async () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({
      id: i,
      tags: ["a", "b"],
      owner: { name: `n${i}` },
    }));
    const body = JSON.stringify({ items, pad: "x".repeat(512 * 1024 - JSON.stringify(items).length) });
    expect(body.length).toBeGreaterThan(500_000);
    const result = await run(parseFlow("$..*..*..*..*"), { body });
    expect(result.status).toBe("completed");
    expect(result.path).toEqual(["read", "handled", "done"]);
    expect(result.trace[0]!.error).toEqual({
      kind: "limit-exceeded",
      message: expect.stringMatching(/^activity "read": limit jsonPathSteps exceeded: .*200000 steps/),
    });
  });

  it("compiles a valid filter on a field some elements lack; they simply do not match", async () => {
    const body = JSON.stringify({
      items: [{ id: 1 }, { id: 2, owner: { name: "VIP" } }, { id: 3, owner: null }, 7, null],
    });
    const result = await run(parseFlow("$.items[?(@.owner.name == 'VIP')].id"), { body });
    expect(result.variables.found).toEqual([2]);
    expect(result.variables.failure).toBeNull();
  });

  it("negates only numbers in filters: `-@` on an array is no number (JavaScript would stringify the array)", async () => {
    const body = JSON.stringify({ items: [[5], 5, "5", { n: 5 }] });
    const result = await run(parseFlow("$.items[?(-@ == -5)]"), { body });
    expect(result.variables.found).toEqual([5]);
  });

  it("honours an engine's own step budget", async () => {
    const body = JSON.stringify({ items: Array.from({ length: 100 }, (_, id) => ({ id })) });
    const tight = await run(parseFlow("$.items[*].id"), { body }, { limits: { jsonPathSteps: 50 } });
    expect(tight.trace[0]!.error?.kind).toBe("limit-exceeded");
    const roomy = await run(parseFlow("$.items[*].id"), { body });
    expect((roomy.variables.found as unknown[]).length).toBe(100);
  });
});

describe("the limits option", () => {
  it("refuses a name that is not a limit and a value that is not a positive whole number", () => {
    expect(() => createEngine({ limits: { jsonPathStep: 5 } as never })).toThrow(
      "limits.jsonPathStep is not a limit",
    );
    expect(() => createEngine({ limits: { valueDepth: 0 } })).toThrow(
      "limits.valueDepth must be a positive whole number",
    );
  });

  it("bounds the depth of values written into variables", async () => {
    const engine = createEngine({ limits: { valueDepth: 3 } });
    try {
      const document = flow(
        {
          copy: {
            type: "set-variable",
            assignments: [{ variable: "copied", value: "{{ contact.nested }}" }],
            next: { default: "done" },
          },
          done: end,
        },
        { variables: { copied: { type: "json" } } },
      );
      const result = await engine
        .compile(document)
        .run({ contact: { nested: { a: { b: { c: { d: 1 } } } } } });
      expect(result.error).toEqual({
        activity: "copy",
        kind: "limit-exceeded",
        message: expect.stringMatching(
          /activity "copy": limit valueDepth exceeded: the value for variable "copied" .* nests deeper than 3 levels$/,
        ),
      });
      const fits = await engine.compile(document).run({ contact: { nested: { a: { b: { c: 1 } } } } });
      expect(fits.variables.copied).toEqual({ a: { b: { c: 1 } } });
    } finally {
      await engine.close();
    }
  });

  it("bounds the depth of parsed responses", async () => {
    const body = JSON.stringify({ a: { b: { c: { d: 1 } } } });
    const shallow = await run(parseFlow("$"), { body }, { limits: { valueDepth: 3 } });
    expect(shallow.trace[0]!.error?.message).toMatch(/^activity "read": limit valueDepth exceeded/);
    const deepEnough = await run(parseFlow("$.a.b"), { body }, { limits: { valueDepth: 3 } });
    expect(deepEnough.trace[0]!.error?.kind).toBe("limit-exceeded");
    const fits = await run(parseFlow("$.a.b"), { body }, { limits: { valueDepth: 4 } });
    expect(fits.variables.found).toEqual({ c: { d: 1 } });
  });
});

describe("templates a flow author writes", () => {
  const promptFlow = (prompt: string) =>
    flow(
      {
        say: { type: "play-message", prompt, next: { default: "done" } },
        handled: {
          type: "set-variable",
          assignments: [{ variable: "failure", value: "{{ say.error }}" }],
          next: { default: "done" },
        },
        done: end,
      },
      { variables: { failure: { type: "json" }, list: { type: "json" } }, onError: "handled" },
    );

  it("ends a 20-million-step Liquid loop with limit-exceeded (templateMemory) on the error branch", async () => {
    const result = await run(promptFlow("{% for i in (1..20000000) %}x{% endfor %}"), {});
    expect(result.path).toEqual(["say", "handled", "done"]);
    expect(result.trace[0]!.error).toEqual({
      kind: "limit-exceeded",
      message: expect.stringMatching(/^activity "say": limit templateMemory exceeded/),
    });
  });

  it("ends a loop that allocates nothing but runs long with limit-exceeded (templateRenderMs)", async () => {
    const list = Array.from({ length: 1000 }, (_, i) => i);
    const loop =
      "{% for a in list %}{% for b in list %}{% for c in list %}{% endfor %}{% endfor %}{% endfor %}";
    const result = await run(promptFlow(loop), { list });
    expect(result.trace[0]!.error?.message).toMatch(/^activity "say": limit templateRenderMs exceeded/);
  });

  it("charges the json filter to templateMemory: chained, it cannot double a string until memory runs out", async () => {
    const result = await run(promptFlow(`{{ "\\"" ${"| json ".repeat(20)}}}`), {});
    expect(result.path).toEqual(["say", "handled", "done"]);
    expect(result.trace[0]!.error?.message).toMatch(/^activity "say": limit templateMemory exceeded/);
  });

  it("bounds filters on the fast expression path too", async () => {
    const result = await run(
      flow(
        {
          grow: {
            type: "set-variable",
            assignments: [{ variable: "text", value: "{{ list | join: '----------' }}" }],
            next: { default: "done" },
          },
          done: end,
        },
        { variables: { text: { type: "string" }, list: { type: "json" } } },
      ),
      { list: Array.from({ length: 50_000 }, () => "0123456789") },
    );
    expect(result.status).toBe("failed");
    expect(result.error?.kind).toBe("limit-exceeded");
  });

  it("never ends `completed` past the run's deadline, even when the last activity kept the event loop busy", async () => {
    const list = Array.from({ length: 1000 }, (_, i) => i);
    const loop =
      "{% for a in list %}{% for b in list %}{% for c in list %}{% endfor %}{% endfor %}{% endfor %}";
    const engine = createEngine({ limits: { templateRenderMs: 200 } });
    try {
      const result = await engine.compile(promptFlow(loop)).run({ variables: { list }, deadlineMs: 20 });
      expect(result.status).toBe("aborted");
      expect(result.reason).toBe("deadline");
    } finally {
      await engine.close();
    }
  });
});

describe("deep values", () => {
  let server: LoopbackServer;
  let dir: string;
  const depth = 100_000;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "flowrun-limits-"));
    server = await startHttpServer((request, response) => {
      response.setHeader("content-type", "application/json");
      if (request.url.startsWith("/deep")) response.end(`${"[".repeat(depth)}1${"]".repeat(depth)}`);
      else response.end(`${'{"x":'.repeat(40)}1${"}".repeat(40)}`);
    });
  });
  afterAll(async () => {
    await closeAllServers();
    rmSync(dir, { recursive: true, force: true });
  });

  const fetchFlow = (route: string, pathExpression: string) => ({
    name: "deep",
    variables: { doc: { type: "json" } },
    start: "fetch",
    activities: {
      fetch: {
        type: "http-request",
        useAuthenticatedEndpoint: false,
        requestUrl: `${server.url}${route}`,
        parseSettings: [{ outputVariable: "doc", pathExpression }],
        next: { success: "done", error: "failed" },
      },
      failed: { type: "end-flow" },
      done: { type: "end-flow" },
    },
  });

  for (const pathExpression of ["$", "$..x"]) {
    it(`runs a response nested ${depth} levels deep through \`flowrun run\` (${pathExpression}): a trace, never a stack overflow`, async () => {
      const file = path.join(dir, "deep.flow.json");
      writeFileSync(file, JSON.stringify(fetchFlow("/deep", pathExpression)));
      const report = path.join(dir, "deep.html");
      for (const args of [[], ["--json"], ["--report", report]]) {
        const ran = await cli(["run", file, "--allow-loopback-http", ...args], { cwd: dir });
        expect(ran.stderr).not.toContain("internal error");
        expect(ran.stdout).toContain("fetch");
        expect(ran.stdout).toContain("limit-exceeded");
        expect(ran.stdout).toContain("valueDepth");
        expect(ran.code).toBe(0);
      }
      expect(readFileSync(report, "utf8")).toContain("limit-exceeded");
    });
  }

  it("records a response nested 100000 levels deep (as text) without a stack overflow", async () => {
    const file = path.join(dir, "deep.flow.json");
    writeFileSync(file, JSON.stringify(fetchFlow("/deep", "$")));
    const ran = await cli(
      ["record", file, "--allow-loopback-http", "--case", "deep", "--out", "deep.test.json"],
      { cwd: dir },
    );
    expect(ran.stderr).not.toContain("internal error");
    expect(ran.code).toBe(0);
    const recorded = JSON.parse(readFileSync(path.join(dir, "deep.test.json"), "utf8"));
    expect(recorded.cases[0].exchanges[0].response.body).toMatch(/^\[{1000}/);
  });

  it("prints a value deeper than 32 levels with a [...] marker", async () => {
    const file = path.join(dir, "forty.flow.json");
    writeFileSync(file, JSON.stringify(fetchFlow("/forty", "$")));
    const ran = await cli(["run", file, "--allow-loopback-http", "--json"], { cwd: dir });
    expect(ran.code).toBe(0);
    const shown = JSON.parse(ran.stdout);
    // The result is level 0, its variables 1, the variable 2: the 32nd level of the output is cut.
    let value = shown.variables.doc;
    let levels = 2;
    while (typeof value === "object") {
      value = value.x;
      levels++;
    }
    expect(value).toBe("[...]");
    expect(levels).toBe(32);
  });
});
