import { AsyncLocalStorage } from "node:async_hooks";
import { type Context, type ContextManager, context, metrics, ROOT_CONTEXT, trace } from "@opentelemetry/api";
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";

/**
 * What a host does to see flowrun's telemetry, with the SDK's in-memory exporters: a registered tracer provider and
 * meter provider, and (only when asked) a context manager. `uninstall` unregisters all of it.
 */
export interface InstalledTelemetry {
  readonly provider: BasicTracerProvider;
  /** The host's own tracer (for the host span a run is a child of). */
  readonly hostTracer: ReturnType<BasicTracerProvider["getTracer"]>;
  spans(): ReadableSpan[];
  /** flowrun's metrics (scope `flowrun`) as the in-memory exporter received them, after a flush. */
  metrics(): Promise<MetricData[]>;
  uninstall(): Promise<void>;
}

/** A context manager over AsyncLocalStorage, as @opentelemetry/context-async-hooks provides to Node hosts. */
export class AsyncLocalStorageContextManager implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    scope: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(scope, () => fn.apply(thisArg, args));
  }
  bind<T>(scope: Context, target: T): T {
    if (typeof target !== "function") return target;
    const manager = this;
    return function (this: unknown, ...args: unknown[]) {
      return manager.with(scope, () => (target as (...a: unknown[]) => unknown).apply(this, args));
    } as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

export function installTelemetry(options: { contextManager?: boolean } = {}): InstalledTelemetry {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  trace.setGlobalTracerProvider(provider);
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);
  if (options.contextManager) context.setGlobalContextManager(new AsyncLocalStorageContextManager());
  return {
    provider,
    hostTracer: provider.getTracer("host"),
    spans: () => exporter.getFinishedSpans(),
    async metrics() {
      await reader.forceFlush();
      const latest = metricExporter.getMetrics().at(-1);
      return (latest?.scopeMetrics ?? [])
        .filter((scope) => scope.scope.name === "flowrun")
        .flatMap((scope) => scope.metrics);
    },
    async uninstall() {
      trace.disable();
      metrics.disable();
      context.disable();
      await provider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** The data points of one metric, empty when it was never recorded. */
export function points(data: MetricData[], name: string): DataPoint<unknown>[] {
  return (data.find((metric) => metric.descriptor.name === name)?.dataPoints ?? []) as DataPoint<unknown>[];
}

/** The value of the counter point whose attributes include `attributes` (0 when none matches). */
export function counted(data: MetricData[], name: string, attributes: Record<string, unknown>): number {
  const matching = points(data, name).filter((point) =>
    Object.entries(attributes).every(([key, value]) => point.attributes[key] === value),
  );
  return matching.reduce((sum, point) => sum + (point.value as number), 0);
}
