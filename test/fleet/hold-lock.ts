// A writer that dies holding the lock: takes the connectors file's write lock through the library, says
// so on stdout, and holds it until the test kills it (SIGKILL: no exit handler runs, the lock file stays behind).
import { acquireFileLock } from "../../src/connectors/file-lock.js";

const [file] = process.argv.slice(2);
if (!file) throw new Error("usage: hold-lock FILE");
await acquireFileLock(file);
process.stdout.write(`locked by ${process.pid}\n`);
setInterval(() => undefined, 60_000);
