import path from "node:path";
import type { Command } from "commander";
import { type ConnectivityResult, createBasicAuthValidator } from "../connectors/connectivity.js";
import { ConnectorError } from "../connectors/errors.js";
import { ConnectorFileStore } from "../connectors/file-store.js";
import { composeMergePatches, isPlainObject } from "../connectors/merge-patch.js";
import type { RedisFleet } from "../connectors/redis/fleet.js";
import { TokenKeyError } from "../connectors/redis/sealing.js";
import { ConnectorRegistry } from "../connectors/registry.js";
import { ADMIN_ROLES, type AdminRole, assertMayPerform, isAdminRole } from "../connectors/roles.js";
import type { Connector } from "../connectors/schema.js";
import { insecureSecretWarnings, maskConnector } from "../connectors/secrets.js";
import { connectorCertificateWarning } from "../connectors/transport.js";
import { connectorEndpoints } from "../connectors/url-rules.js";
import type { Problem } from "../core/errors.js";
import { parseJsonText } from "../core/json-source.js";
import { EXIT, UsageError } from "./io.js";
import type { CliContext } from "./main.js";
import { collectList, splitPair } from "./options.js";
import { paint } from "./paint.js";
import { openFleet, REDIS_OPTION_HELP, redisUrlFrom } from "./redis-options.js";

/**
 * `flowrun connectors ...`: the registry's operations on a connectors file. Exit codes: 0 done, 2 refused by a
 * rule or invalid input (the message names the rule), 1 the file could not be read or written, or changed
 * underneath us (nothing was written).
 */

interface CommonOptions {
  file: string;
  redis?: string;
  role: string;
  allowLoopbackHttp?: boolean;
}

interface ChangeOptions extends CommonOptions {
  name?: string;
  type?: string;
  set?: string[];
  setJson?: string[];
  unset?: string[];
  stdin?: boolean;
  validate?: boolean;
}

/** Failures of the environment rather than refusals: the command may succeed when run again. */
const IO_ERRORS: ReadonlySet<string> = new Set([
  "concurrent-change",
  "connectors-file",
  "connectors-store",
  "store-locked",
]);

/** What every `connectors` subcommand shares: its options, the session runner and the printers. */
interface Kit {
  ctx: CliContext;
  colors: ReturnType<typeof paint>;
  subcommand(name: string, description: string): Command;
  withChangeOptions(command: Command): Command;
  run(
    options: CommonOptions,
    createIfMissing: boolean,
    body: (context: Session) => Promise<void>,
  ): Promise<void>;
  printConnectivity(result: ConnectivityResult): void;
  /** Plain secrets are allowed but insecure in a file; say so each time one is saved (Redis seals them). */
  printSecretWarnings(connector: Connector): void;
}

export function registerConnectorsCommand(program: Command, ctx: CliContext): void {
  const kit = connectorsKit(program, ctx);
  registerReadCommands(kit);
  registerChangeCommands(kit);
  registerStatusCommands(kit);
  registerValidateCommand(kit);
  registerFleetCommands(kit);
}

function connectorsKit(program: Command, ctx: CliContext): Kit {
  const connectors = program
    .command("connectors")
    .description("manage connectors: list, show, add, edit, deactivate, reactivate, delete, validate");
  const colors = paint(ctx.io.color);

  const subcommand = (name: string, description: string): Command =>
    connectors
      .command(name)
      .description(description)
      .option("--file <file>", "connectors file", "connectors.json")
      .option("--redis <url>", REDIS_OPTION_HELP)
      .option("--role <role>", `acting admin role (${ADMIN_ROLES.join(", ")})`, "full-admin")
      .option(
        "--allow-loopback-http",
        "accept http:// base and token URLs on loopback hosts (tests, local mocks)",
      )
      .exitOverride()
      .configureOutput({ writeOut: (t) => ctx.io.stdout(t), writeErr: (t) => ctx.io.stderr(t) });

  const withChangeOptions = (command: Command): Command =>
    command
      .option("--name <name>", "connector name")
      .option(
        "--set <key=value>",
        "set a field (dotted path, e.g. auth.clientId=x or auth.clientSecret.env=VAR)",
        collectList,
      )
      .option(
        "--set-json <key=json>",
        "set a field to a JSON value (e.g. tokenExpiredStatuses=[401,403])",
        collectList,
      )
      .option("--stdin", "read the connector (add) or a JSON merge patch (edit) from standard input")
      .option("--validate", "check connectivity before saving; a failure refuses the save");

  /** Runs one operation; refusals become a message naming the rule and an exit code. */
  const run = async (
    options: CommonOptions,
    createIfMissing: boolean,
    body: (context: Session) => Promise<void>,
  ) => {
    let session: Session | undefined;
    try {
      session = await openSession(ctx, options, createIfMissing);
      // A file warns about plain-text secrets; Redis seals them, so there is nothing to warn about there.
      if (!session.fleet) for (const warning of session.registry.warnings) printProblem(warning);
      await body(session);
    } catch (error) {
      if (error instanceof TokenKeyError) throw new UsageError(error.message);
      if (!(error instanceof ConnectorError)) throw error;
      ctx.io.stderr(`${colors.red("error")}: ${error.message}\n`);
      ctx.exit(IO_ERRORS.has(error.code) ? EXIT.failed : EXIT.usage);
    } finally {
      await session?.fleet?.close();
    }
  };

  const printProblem = (problem: Problem) => {
    const label = problem.severity === "error" ? colors.red("error") : colors.yellow("warning");
    ctx.io.stderr(`${label} ${colors.dim(problem.path)}: ${problem.message}\n`);
  };

  const printConnectivity = (result: ConnectivityResult) => {
    const label =
      result.status === "ok"
        ? colors.green("connectivity ok")
        : result.status === "failed"
          ? colors.red("connectivity failed")
          : colors.yellow("note");
    ctx.io.stdout(`${label}: ${result.message}\n`);
  };

  const printSecretWarnings = (connector: Connector) => {
    for (const warning of insecureSecretWarnings(connector)) printProblem(warning);
  };
  return { ctx, colors, subcommand, withChangeOptions, run, printConnectivity, printSecretWarnings };
}

function registerReadCommands(kit: Kit): void {
  const { ctx, subcommand, run } = kit;
  subcommand("list", "list connectors (secrets masked)")
    .option("--json", "print the connectors as JSON")
    .action(async (options: CommonOptions & { json?: boolean }) =>
      run(options, false, async ({ registry, role }) => {
        const all = registry.list({ role });
        const context = { env: ctx.io.env, baseDir: registry.baseDir ?? process.cwd() };
        for (const connector of all) {
          const warning = connectorCertificateWarning(connector, context);
          if (warning) ctx.io.stderr(`${kit.colors.yellow("warning")}: ${warning}\n`);
        }
        if (options.json) {
          ctx.io.stdout(`${JSON.stringify(all.map(maskConnector), null, 2)}\n`);
          return;
        }
        if (all.length === 0) {
          ctx.io.stdout("no connectors\n");
          return;
        }
        const rows = all.map((c) => [
          c.name,
          c.type,
          c.status,
          c.id,
          connectorEndpoints(c).baseUrl ?? "(from token)",
        ]);
        ctx.io.stdout(table([["NAME", "TYPE", "STATUS", "ID", "BASE URL"], ...rows]));
      }),
    );

  subcommand("show", "show one connector by name or id (secrets masked)")
    .argument("<connector>", "name (case-insensitive) or id")
    .action(async (nameOrId: string, options: CommonOptions) =>
      run(options, false, async ({ registry, role }) => {
        ctx.io.stdout(`${JSON.stringify(maskConnector(registry.show(nameOrId, { role })), null, 2)}\n`);
      }),
    );
}

function registerChangeCommands(kit: Kit): void {
  const { ctx, subcommand, withChangeOptions, run, printConnectivity, printSecretWarnings } = kit;
  withChangeOptions(subcommand("add", "create a connector (created active; the id is generated)"))
    .option("--type <type>", "connector type")
    .action(async (options: ChangeOptions) => {
      const fromFlags = changesFromFlags(options);
      await run(options, true, async ({ registry, role, fleet }) => {
        const fromStdin = options.stdin ? await readStdinJson(ctx) : {};
        if (!isPlainObject(fromStdin)) throw new UsageError("--stdin expects a JSON object (the connector)");
        const input = composeMergePatches(fromStdin, fromFlags);
        if (options.type !== undefined) input.type = options.type;
        const created = await registry.create(input, {
          role,
          validate: options.validate,
          onConnectivity: printConnectivity,
        });
        ctx.io.stdout(`created connector "${created.name}" (${created.type}, id ${created.id}), active\n`);
        if (!fleet) printSecretWarnings(created);
      });
    });

  withChangeOptions(subcommand("edit", "change an inactive connector's settings (id and type never change)"))
    .argument("<connector>", "name (case-insensitive) or id")
    .option("--unset <key>", "remove an optional field (dotted path)", collectList)
    .action(async (nameOrId: string, options: ChangeOptions) => {
      const fromFlags = changesFromFlags(options);
      await run(options, false, async ({ registry, role, fleet }) => {
        const fromStdin = options.stdin ? await readStdinJson(ctx) : {};
        if (!isPlainObject(fromStdin))
          throw new UsageError("--stdin expects a JSON object (a JSON merge patch)");
        const changes = composeMergePatches(fromStdin, fromFlags);
        if (Object.keys(changes).length === 0)
          throw new UsageError("nothing to change: give --name, --set, --set-json, --unset or --stdin");
        const edited = await registry.edit(nameOrId, changes, {
          role,
          validate: options.validate,
          onConnectivity: printConnectivity,
        });
        ctx.io.stdout(`edited connector "${edited.name}" (still inactive; reactivate it to use it)\n`);
        if (!fleet) printSecretWarnings(edited);
      });
    });
}

function registerStatusCommands(kit: Kit): void {
  const { ctx, subcommand, run, printConnectivity } = kit;
  subcommand("deactivate", "deactivate a connector: settings are kept, flows using it halt")
    .argument("<connector>", "name (case-insensitive) or id")
    .action(async (nameOrId: string, options: CommonOptions) =>
      run(options, false, async ({ registry, role }) => {
        const before = registry.resolve(nameOrId)?.status;
        const connector = await registry.deactivate(nameOrId, { role });
        ctx.io.stdout(
          before === "inactive"
            ? `connector "${connector.name}" was already inactive\n`
            : `deactivated connector "${connector.name}"\n`,
        );
      }),
    );

  subcommand("reactivate", "reactivate a connector after validating it again")
    .argument("<connector>", "name (case-insensitive) or id")
    .action(async (nameOrId: string, options: CommonOptions) =>
      run(options, false, async ({ registry, role }) => {
        const before = registry.resolve(nameOrId)?.status;
        const connector = await registry.reactivate(nameOrId, { role, onConnectivity: printConnectivity });
        ctx.io.stdout(
          before === "active"
            ? `connector "${connector.name}" was already active\n`
            : `reactivated connector "${connector.name}"\n`,
        );
      }),
    );

  subcommand("delete", "delete an inactive connector")
    .argument("<connector>", "name (case-insensitive) or id")
    .action(async (nameOrId: string, options: CommonOptions) =>
      run(options, false, async ({ registry, role }) => {
        const connector = await registry.delete(nameOrId, { role });
        ctx.io.stdout(`deleted connector "${connector.name}" (id ${connector.id})\n`);
      }),
    );
}

function registerFleetCommands(kit: Kit): void {
  const { ctx, subcommand, run } = kit;
  subcommand("import", "seed the Redis store from a connectors file (refused when it holds connectors)")
    .argument("<file>", "connectors file to import")
    .option("--replace", "replace every connector the store holds (their shared tokens are dropped)")
    .action(async (source: string, options: CommonOptions & { replace?: boolean }) =>
      run(options, true, async ({ role, fleet }) => {
        if (!fleet) throw new UsageError("import writes into Redis: give --redis URL (or FLOWRUN_REDIS_URL)");
        assertMayPerform(role, "create");
        const sourcePath = path.resolve(ctx.io.cwd, source);
        const loaded = await new ConnectorFileStore(sourcePath, {
          allowLoopbackHttp: options.allowLoopbackHttp === true,
        }).load();
        const result = await fleet.store.importDocument(loaded.document, { replace: options.replace });
        ctx.io.stdout(
          `imported ${result.imported} connector${result.imported === 1 ? "" : "s"} from ${source} into ${fleet.store.location}` +
            `${result.replaced > 0 ? ` (replaced ${result.replaced})` : ""}\n`,
        );
      }),
    );

  subcommand(
    "export",
    "print the connectors as a connectors file (secrets masked, as show prints them)",
  ).action(async (options: CommonOptions) =>
    run(options, false, async ({ registry, role }) => {
      const connectors = registry.list({ role }).map(maskConnector);
      const { ccaiConfigs } = registry.toDocument();
      ctx.io.stdout(`${JSON.stringify({ connectors, ...(ccaiConfigs ? { ccaiConfigs } : {}) }, null, 2)}\n`);
    }),
  );
}

function registerValidateCommand(kit: Kit): void {
  const { ctx, colors, subcommand, run, printConnectivity } = kit;
  subcommand(
    "validate",
    "check the connectors file against the schema and every rule; optionally connectivity",
  )
    .argument("[connector]", "also check this connector's connectivity")
    .option("--connectivity", "check connectivity of every connector (or the one named)")
    .action(async (nameOrId: string | undefined, options: CommonOptions & { connectivity?: boolean }) =>
      run(options, false, async ({ registry, role, file }) => {
        const all = registry.list({ role });
        ctx.io.stdout(
          `${colors.green("✓")} ${file}: valid (${all.length} connector${all.length === 1 ? "" : "s"})\n`,
        );
        if (nameOrId === undefined && !options.connectivity) return;
        const targets = nameOrId === undefined ? all : [registry.show(nameOrId, { role })];
        let failed = false;
        for (const connector of targets) {
          const result = await registry.checkConnectivity(connector.id, { role });
          failed ||= result.status === "failed";
          ctx.io.stdout(`${connector.name}: `);
          printConnectivity(result);
        }
        if (failed) ctx.exit(EXIT.usage);
      }),
    );
}

interface Session {
  registry: ConnectorRegistry;
  role: AdminRole;
  /** Where the connectors are, for messages: the file (relative) or the Redis store. */
  file: string;
  /** With --redis: the fleet connection (closed when the command ends). */
  fleet?: RedisFleet;
}

async function openSession(
  ctx: CliContext,
  options: CommonOptions,
  createIfMissing: boolean,
): Promise<Session> {
  if (!isAdminRole(options.role))
    throw new UsageError(
      `--role must be one of ${ADMIN_ROLES.join(", ")}; got ${JSON.stringify(options.role)}`,
    );
  const role = options.role;
  const allowLoopbackHttp = options.allowLoopbackHttp === true;
  const redisUrl = redisUrlFrom(ctx, options.redis);
  if (redisUrl !== undefined) {
    const fleet = await openFleet(ctx, redisUrl, { allowLoopbackHttp });
    try {
      const validate = createBasicAuthValidator({ env: ctx.io.env, baseDir: ctx.io.cwd, allowLoopbackHttp });
      // One operation and exit: a write is refused when the state changed since it was read (version check).
      const registry = await ConnectorRegistry.open(fleet.store, {
        role,
        allowLoopbackHttp,
        validate,
        follow: false,
      });
      return { registry, role, file: fleet.store.location, fleet };
    } catch (error) {
      await fleet.close();
      throw error;
    }
  }
  const file = path.resolve(ctx.io.cwd, options.file);
  const store = new ConnectorFileStore(file, { createIfMissing, allowLoopbackHttp });
  const validate = createBasicAuthValidator({
    env: ctx.io.env,
    baseDir: path.dirname(file),
    allowLoopbackHttp,
  });
  // One operation and exit: each write re-reads the file under its lock, so there is nothing to follow.
  const registry = await ConnectorRegistry.open(store, { role, allowLoopbackHttp, validate, follow: false });
  return { registry, role, file: path.relative(ctx.io.cwd, file) || file };
}

async function readStdinJson(ctx: CliContext): Promise<unknown> {
  return parseJsonText(await ctx.io.readStdin(), "<stdin>");
}

/** The changes given as flags, as a JSON merge patch: `--set a.b=x` is `{ a: { b: "x" } }`, `--unset a.b` is `null`. */
function changesFromFlags(options: ChangeOptions): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  if (options.name !== undefined) changes.name = options.name;
  for (const pair of options.set ?? []) {
    const [key, value] = splitPair("--set", pair, "key=value");
    setPath(changes, key, value);
  }
  for (const pair of options.setJson ?? []) {
    const [key, text] = splitPair("--set-json", pair, "key=value");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new UsageError(`--set-json ${key}: not valid JSON: ${text}`);
    }
    setPath(changes, key, value);
  }
  for (const key of options.unset ?? []) setPath(changes, key, null);
  return changes;
}

const FORBIDDEN_KEYS = new Set(["__proto__", "constructor", "prototype"]);

function setPath(target: Record<string, unknown>, dottedKey: string, value: unknown): void {
  const keys = dottedKey.split(".");
  if (keys.some((key) => key === "" || FORBIDDEN_KEYS.has(key)))
    throw new UsageError(`invalid field path ${JSON.stringify(dottedKey)}`);
  let current = target;
  for (const key of keys.slice(0, -1)) {
    const next = current[key];
    if (!isPlainObject(next)) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[keys[keys.length - 1]!] = value;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows
    .map(
      (row) =>
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
    )
    .join("");
}
