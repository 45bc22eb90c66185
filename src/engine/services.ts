/**
 * What the engine lends to activities: options and shared resources. Activities receive it through their
 * compile and run contexts, so an activity never reaches for globals and tests can substitute any part.
 */
export interface EngineServices {
  /** Maximum number of activities one run may execute (loop protection). */
  readonly maxSteps: number;
}
