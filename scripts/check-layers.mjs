#!/usr/bin/env node
// The architecture rules of README "Architecture", checked on every `npm test`:
//  1. a folder of src/ imports only from itself or from folders of a lower level (so no two folders import each
//     other and no folder cycle can form);
//  2. no function in src/ is longer than MAX_FUNCTION_LINES lines;
//  3. one module sends HTTP: only SENDER_FILE may import a sending function of undici or node:http(s) (see
//     SENDING_IMPORTS; a default or namespace import of those modules counts), call a dispatcher's
//     `.dispatch(...)`, or call the global `fetch(...)`. Elsewhere undici gives only types, Agents, MockAgents,
//     errors and connectors (building dispatchers is fine; sending is the sender's job);
//  4. one home per connector type: only files in TYPES_DIR name a connector type to decide something (a `case`,
//     an `===`/`!==` comparison, or an object keyed by the type's name); elsewhere code asks the type's descriptor.
//     The type names are the `type` of each `defineConnectorType({ type: "...", ... })` in TYPES_DIR.
// Usage: node scripts/check-layers.mjs [srcDir]   (exit 1 and one line per violation when a rule is broken)
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/** Lower imports higher never; equal levels (different folders) never import each other. */
export const LEVELS = {
  core: 0,
  engine: 1,
  http: 1,
  connectors: 2,
  activities: 3,
  runtime: 4,
  replay: 5,
  cli: 6,
};
export const MAX_FUNCTION_LINES = 100;

/** The one module of src/ that sends HTTP (README "Architecture": the one sender). */
export const SENDER_FILE = "http/sender.ts";
/** Per module, the value imports that send a request. */
export const SENDING_IMPORTS = {
  undici: new Set(["request", "fetch", "stream", "pipeline", "connect", "upgrade"]),
  "node:http": new Set(["request", "get"]),
  "node:https": new Set(["request", "get"]),
  http: new Set(["request", "get"]),
  https: new Set(["request", "get"]),
};

/** The folder of src/ where each connector type is one module (README "Architecture"). */
export const TYPES_DIR = "connectors/types";

/** The connector type names: the `type` of every `defineConnectorType({ ... })` in TYPES_DIR. */
function connectorTypeNames(srcDir) {
  const names = new Set();
  const dir = path.join(srcDir, TYPES_DIR);
  let files;
  try {
    files = sourceFiles(dir);
  } catch {
    return names;
  }
  for (const file of files) {
    const sourceFile = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
    const visit = (node) => {
      const descriptor =
        ts.isCallExpression(node) &&
        ts.isIdentifier(node.expression) &&
        node.expression.text === "defineConnectorType" &&
        node.arguments[0] &&
        ts.isObjectLiteralExpression(node.arguments[0])
          ? node.arguments[0]
          : undefined;
      for (const property of descriptor?.properties ?? [])
        if (
          ts.isPropertyAssignment(property) &&
          property.name.getText(sourceFile) === "type" &&
          ts.isStringLiteral(property.initializer)
        )
          names.add(property.initializer.text);
      ts.forEachChild(node, visit);
    };
    visit(sourceFile);
  }
  return names;
}

const COMPARISONS = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
]);

/** Where a file decides something by a connector type's name instead of asking the type's descriptor. */
function connectorTypeSwitches(sourceFile, typeNames) {
  const found = [];
  const named = (node) => node && ts.isStringLiteralLike(node) && typeNames.has(node.text);
  const visit = (node) => {
    if (ts.isCaseClause(node) && named(node.expression))
      found.push({ node, what: `case "${node.expression.text}"` });
    else if (ts.isBinaryExpression(node) && COMPARISONS.has(node.operatorToken.kind)) {
      const literal = named(node.left) ? node.left : named(node.right) ? node.right : undefined;
      if (literal) found.push({ node, what: `a comparison with "${literal.text}"` });
    } else if (
      ts.isPropertyAssignment(node) &&
      ts.isObjectLiteralExpression(node.parent) &&
      (ts.isStringLiteral(node.name) || ts.isIdentifier(node.name)) &&
      typeNames.has(node.name.text)
    )
      found.push({ node, what: `an object keyed by "${node.name.text}"` });
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

/** Where a file other than the sender sends HTTP itself: sending imports, `.dispatch(` calls, global `fetch(`. */
function sendingCalls(sourceFile) {
  const found = [];
  const visit = (node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const names = SENDING_IMPORTS[node.moduleSpecifier.text];
      const clause = node.importClause;
      if (names && clause && !clause.isTypeOnly) {
        if (clause.name) found.push({ node, what: `a default import of ${node.moduleSpecifier.text}` });
        const bindings = clause.namedBindings;
        if (bindings && ts.isNamespaceImport(bindings))
          found.push({ node, what: `a namespace import of ${node.moduleSpecifier.text}` });
        if (bindings && ts.isNamedImports(bindings))
          for (const element of bindings.elements) {
            const imported = (element.propertyName ?? element.name).text;
            if (!element.isTypeOnly && names.has(imported))
              found.push({ node, what: `${imported} from ${node.moduleSpecifier.text}` });
          }
      }
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (ts.isPropertyAccessExpression(callee) && callee.name.text === "dispatch")
        found.push({ node, what: "a dispatcher's .dispatch()" });
      else if (ts.isIdentifier(callee) && callee.text === "fetch") found.push({ node, what: "fetch()" });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

function sourceFiles(dir) {
  const files = [];
  for (const name of readdirSync(dir)) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) files.push(...sourceFiles(full));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) files.push(full);
  }
  return files;
}

/** The top folder of src/ a file belongs to; undefined for files directly in src/ (the public index). */
function folderOf(srcDir, file) {
  const parts = path.relative(srcDir, file).split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
}

function importedSpecifiers(sourceFile) {
  const specifiers = [];
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specifiers.push({ text: node.moduleSpecifier.text, node });
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      specifiers.push({ text: node.arguments[0].text, node });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return specifiers;
}

function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  if (node.name) return node.name.getText();
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent)) return parent.name.getText();
  return "(anonymous)";
}

function longFunctions(sourceFile) {
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line;
      const end = sourceFile.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION_LINES) found.push({ name: functionName(node), line: start + 1, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(sourceFile);
  return found;
}

export function checkSources(srcDir) {
  const violations = [];
  const typeNames = connectorTypeNames(srcDir);
  for (const file of sourceFiles(srcDir)) {
    const text = readFileSync(file, "utf8");
    const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const where = (node) =>
      `${path.relative(process.cwd(), file)}:${sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1}`;
    const from = folderOf(srcDir, file);
    if (from !== undefined && !(from in LEVELS))
      violations.push(`${path.relative(process.cwd(), file)}: folder src/${from}/ has no level in LEVELS`);
    for (const { text: specifier, node } of importedSpecifiers(sourceFile)) {
      if (!specifier.startsWith(".")) continue;
      const target = path.resolve(path.dirname(file), specifier);
      if (!target.startsWith(srcDir + path.sep)) {
        violations.push(`${where(node)}: imports ${specifier}, outside src/`);
        continue;
      }
      const to = folderOf(srcDir, target);
      if (from === undefined || to === from) continue;
      if (to === undefined) {
        violations.push(`${where(node)}: src/${from}/ imports the public index (${specifier})`);
        continue;
      }
      if (!(LEVELS[to] < LEVELS[from]))
        violations.push(
          `${where(node)}: src/${from}/ (level ${LEVELS[from]}) imports src/${to}/ (level ${LEVELS[to]}): ${specifier}; import only downward`,
        );
    }
    if (path.relative(srcDir, file).split(path.sep).join("/") !== SENDER_FILE)
      for (const { node, what } of sendingCalls(sourceFile))
        violations.push(`${where(node)}: sends HTTP itself (${what}); send through src/${SENDER_FILE}`);
    const inTypesDir = path.relative(path.join(srcDir, TYPES_DIR), file).split(path.sep)[0] !== "..";
    if (!inTypesDir)
      for (const { node, what } of connectorTypeSwitches(sourceFile, typeNames))
        violations.push(
          `${where(node)}: decides by connector type (${what}); declare it in the type's module in src/${TYPES_DIR}/`,
        );
    for (const fn of longFunctions(sourceFile))
      violations.push(
        `${path.relative(process.cwd(), file)}:${fn.line}: function ${fn.name} has ${fn.lines} lines (at most ${MAX_FUNCTION_LINES})`,
      );
  }
  return violations;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const srcDir = path.resolve(process.argv[2] ?? "src");
  const violations = checkSources(srcDir);
  for (const violation of violations) console.error(violation);
  if (violations.length > 0) {
    console.error(`check-layers: ${violations.length} violation${violations.length === 1 ? "" : "s"}`);
    process.exit(1);
  }
  console.log(
    `check-layers: imports go only downward; no function over ${MAX_FUNCTION_LINES} lines; only src/${SENDER_FILE} sends HTTP; only src/${TYPES_DIR}/ decides by connector type`,
  );
}
