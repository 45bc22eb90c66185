// Opens a registry that follows its connectors file and never closes it: the process must still exit by itself.
import { ConnectorFileStore, ConnectorRegistry } from "../../src/index.js";

const registry = await ConnectorRegistry.open(new ConnectorFileStore(process.argv[2]!));
process.stdout.write(`following ${registry.list({ role: "full-admin" }).length}\n`);
