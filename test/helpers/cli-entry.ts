// The CLI's entry as bin/flowrun.js has it, on the TypeScript source; bundled by test/helpers/processes.ts.
import { runCli } from "../../src/cli/main.js";

process.exitCode = await runCli(process.argv.slice(2));
