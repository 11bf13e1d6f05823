/**
 * OpenTelemetry through `@opentelemetry/api`, an optional peer: loaded with a dynamic import (never at import
 * time of this package, and not at all when it is not installed), and the global meter and tracer providers
 * resolved again now and then, so that an app that registers its SDK after creating the engine still gets
 * its figures. Without an SDK (the API's no-op providers) nothing is recorded and nothing is built per call.
 *
 * Names: OpenTelemetry has no cache semantic conventions yet, so they live under `memolock.`; durations
 * in seconds as its conventions ask. Attributes: the tag and the outcome, never the id (unbounded).
 */
import type * as OtelApi from '@opentelemetry/api';

type Api = typeof OtelApi;
type Attributes = OtelApi.Attributes;

/** The instrumentation scope: the package's name. */
export const INSTRUMENTATION_SCOPE = 'nestjs-memolock';

/** `undefined` until loaded, `null` when it cannot be (not installed). */
let api: Api | null | undefined;
let loading: Promise<void> | undefined;

/** Starts loading the API once per process; resolves when it is loaded or known to be absent. */
export function loadOtelApi(): Promise<void> {
  loading ??= import('@opentelemetry/api').then(
    (loaded: Partial<Api>) => {
      api = typeof loaded.createNoopMeter === 'function' ? (loaded as Api) : null;
    },
    () => {
      api = null;
    },
  );
  return loading;
}

/** The instruments of one meter (one set per meter, shared by every engine that uses it). */
export interface MemoLockInstruments {
  calls: OtelApi.Counter;
  waitDuration: OtelApi.Histogram;
  computeDuration: OtelApi.Histogram;
  computationsActive: OtelApi.UpDownCounter;
  waitersActive: OtelApi.UpDownCounter;
  takeovers: OtelApi.Counter;
  renewals: OtelApi.Counter;
}

const instrumentsByMeter = new WeakMap<OtelApi.Meter, MemoLockInstruments>();

/** Bucket bounds (s) for durations from a Redis round trip to a long computation. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

function instrumentsOf(meter: OtelApi.Meter): MemoLockInstruments {
  let instruments = instrumentsByMeter.get(meter);
  if (instruments) return instruments;
  const advice = { explicitBucketBoundaries: DURATION_BUCKETS };
  instruments = {
    calls: meter.createCounter('memolock.calls', {
      description: 'Calls answered, by tag and outcome (each caller counts, not each flight).',
      unit: '{call}',
    }),
    waitDuration: meter.createHistogram('memolock.wait.duration', {
      description:
        "How long callers waited for another caller's computation (collapsed) or until they timed out.",
      unit: 's',
      advice,
    }),
    computeDuration: meter.createHistogram('memolock.compute.duration', {
      description: 'How long computations ran in this process, by tag and outcome (ok or error).',
      unit: 's',
      advice,
    }),
    computationsActive: meter.createUpDownCounter('memolock.computations.active', {
      description: 'Computations running in this process right now.',
      unit: '{computation}',
    }),
    waitersActive: meter.createUpDownCounter('memolock.waiters.active', {
      description: 'Callers in this process waiting for a computation (here or elsewhere) after a miss.',
      unit: '{caller}',
    }),
    takeovers: meter.createCounter('memolock.takeovers', {
      description: "Times a waiter found the holder's lock gone without a value and went for it itself.",
      unit: '{takeover}',
    }),
    renewals: meter.createCounter('memolock.renewals', {
      description: 'Lease renewals by computations, by outcome (ok or lost).',
      unit: '{renewal}',
    }),
  };
  instrumentsByMeter.set(meter, instruments);
  return instruments;
}

/** The no-op meter's class and tracer provider, to tell "no SDK" apart from a real provider. */
let noopMeterClass: unknown;
let noopTracerProvider: OtelApi.TracerProvider | undefined;

/**
 * One engine's view of the global providers: `metrics` and `tracer` are set while a real SDK is registered.
 * {@link refresh} resolves them again (cheap when nothing changed).
 */
export class OtelInstruments {
  metrics: MemoLockInstruments | undefined;
  tracer: OtelApi.Tracer | undefined;
  /**
   * Either of the two is on; or the API is still loading (the first milliseconds of the first engine): calls
   * that start then are followed too, and counted when they end if an SDK turned out to be there.
   */
  active = false;
  #meterProvider: OtelApi.MeterProvider | undefined;
  #tracerProvider: OtelApi.TracerProvider | undefined;

  /** Resolves the providers again (and loads the API first, when that has not started). */
  refresh(): void {
    if (api === undefined) {
      this.active = true;
      void loadOtelApi().then(() => this.refresh());
      return;
    }
    if (api === null) {
      this.active = false;
      return;
    }
    noopMeterClass ??= api.createNoopMeter().constructor;
    noopTracerProvider ??= new api.ProxyTracerProvider().getDelegate();
    const meterProvider = api.metrics.getMeterProvider();
    if (meterProvider !== this.#meterProvider) {
      this.#meterProvider = meterProvider;
      const meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE);
      this.metrics = meter.constructor === noopMeterClass ? undefined : instrumentsOf(meter);
    }
    const global = api.trace.getTracerProvider();
    const tracerProvider = global instanceof api.ProxyTracerProvider ? global.getDelegate() : global;
    if (tracerProvider !== this.#tracerProvider) {
      this.#tracerProvider = tracerProvider;
      this.tracer =
        tracerProvider === noopTracerProvider ? undefined : tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    }
    this.active = this.metrics !== undefined || this.tracer !== undefined;
  }

  /** The caller's active context, for spans that start later (only while tracing). */
  activeContext(): OtelApi.Context | undefined {
    return this.tracer ? api!.context.active() : undefined;
  }

  /**
   * Runs `fn` in a new span `name` under `parent` (the caller's context: the work may run from another
   * caller's, when reads are batched), made current for `fn`; `fn` ends it. Only while tracing.
   */
  inSpan<T>(
    name: string,
    parent: OtelApi.Context | undefined,
    attributes: Attributes,
    fn: (span: OtelApi.Span) => Promise<T>,
  ): Promise<T> {
    const { context, trace } = api!;
    const base = parent ?? context.active();
    const span = this.tracer!.startSpan(name, { attributes }, base);
    return context.with(trace.setSpan(base, span), fn, undefined, span);
  }

  /** A span `name` from `startTime` (monotonic ms) to now, under `parent`. Only while tracing. */
  pastSpan(
    name: string,
    startTime: number,
    parent: OtelApi.Context | undefined,
    attributes: Attributes,
    error?: unknown,
  ): void {
    // As wall-clock ms: an SDK reads a small number as an offset of its own clock's origin.
    const span = this.tracer!.startSpan(
      name,
      { startTime: performance.timeOrigin + startTime, attributes },
      parent,
    );
    if (error !== undefined) OtelInstruments.failed(span, error);
    span.end();
  }

  /** Marks `span` as failed with `error`. */
  static failed(span: OtelApi.Span, error: unknown): void {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: api!.SpanStatusCode.ERROR });
  }
}
