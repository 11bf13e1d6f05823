/**
 * The real OpenTelemetry SDK, registered globally with in-memory exporters: metrics read on demand, spans
 * kept as they end, contexts carried by AsyncLocalStorage. What an application's telemetry setup does, minus
 * the network.
 */
import { context, metrics, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** One data point, flattened: a sum, or a histogram's count and sum. */
export interface Point {
  name: string;
  unit: string;
  attributes: Record<string, unknown>;
  /** A counter's or up-down counter's value; a histogram's count. */
  value: number;
  /** A histogram's sum. */
  sum?: number;
  /** A histogram's largest value. */
  max?: number;
}

export interface OtelSdk {
  spans: InMemorySpanExporter;
  /** Every data point of the package's meter, as of now. */
  collect(): Promise<Point[]>;
  /** Unregisters and shuts everything down (no timer left). */
  stop(): Promise<void>;
}

export function registerOtelSdk(): OtelSdk {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spans = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  metrics.setGlobalMeterProvider(meterProvider);
  trace.setGlobalTracerProvider(tracerProvider);
  return {
    spans,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      const points: Point[] = [];
      for (const resource of exporter.getMetrics()) {
        for (const scope of resource.scopeMetrics) {
          if (scope.scope.name !== 'nestjs-memolock') continue;
          for (const metric of scope.metrics) {
            for (const point of metric.dataPoints) {
              const { name, unit } = metric.descriptor;
              const attributes = { ...point.attributes };
              if (metric.dataPointType === DataPointType.HISTOGRAM) {
                const h = point.value as { count: number; sum?: number; max?: number };
                points.push({ name, unit, attributes, value: h.count, sum: h.sum, max: h.max });
              } else points.push({ name, unit, attributes, value: point.value as number });
            }
          }
        }
      }
      return points;
    },
    async stop() {
      await meterProvider.shutdown();
      await tracerProvider.shutdown();
      contextManager.disable();
      metrics.disable();
      trace.disable();
      context.disable();
    },
  };
}

/** The value of `name` for these attributes (0 when absent). */
export function valueOf(points: Point[], name: string, attributes: Record<string, unknown>): number {
  const point = points.find(
    (p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
  );
  return point?.value ?? 0;
}
