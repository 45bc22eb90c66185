import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process with a captured, colourless terminal. */
export async function cli(
  args: string[],
  options: { cwd?: string; stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    readStdin: async () => options.stdin ?? "",
    color: false,
    cwd: options.cwd ?? process.cwd(),
    env: options.env ?? process.env,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}
