import { FlowrunError } from "../core/errors.js";

/** Where CLI commands write and read, so that tests can run them in-process and read what they printed. */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readStdin(): Promise<string>;
  /** Colour only on a terminal. */
  readonly color: boolean;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    },
    color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    cwd: process.cwd(),
    env: process.env,
  };
}

/**
 * Exit codes: 0 completed, 1 failed or aborted, 2 usage or validation error, 3 halted, 4 the run met a
 * configuration problem (unset secret, missing secret file, unknown connector) whatever its status: CI must not
 * take a misconfigured run for a success just because the flow's error path completed.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, halted: 3, configuration: 4 } as const;

/** A usage mistake on the command line (exit 2). */
export class UsageError extends FlowrunError {
  constructor(message: string) {
    super("usage", message);
    this.name = "UsageError";
  }
}
