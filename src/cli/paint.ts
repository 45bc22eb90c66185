import pc from "picocolors";

type Painter = (text: string) => string;
export interface Paint {
  red: Painter;
  green: Painter;
  yellow: Painter;
  cyan: Painter;
  dim: Painter;
  bold: Painter;
}

const plain: Painter = (text) => text;

/** Colours for a terminal, or plain text when output is not a TTY. */
export function paint(enabled: boolean): Paint {
  const colors = pc.createColors(enabled);
  return enabled
    ? {
        red: colors.red,
        green: colors.green,
        yellow: colors.yellow,
        cyan: colors.cyan,
        dim: colors.dim,
        bold: colors.bold,
      }
    : { red: plain, green: plain, yellow: plain, cyan: plain, dim: plain, bold: plain };
}
