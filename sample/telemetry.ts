/**
 * OpenTelemetry for the sample: the SDK's meter provider with a Prometheus exporter, served by the app itself
 * on `GET /metrics` (no second port). Registered before the app starts, as an application's telemetry
 * setup is; MemoLock finds it through the global meter provider.
 */
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export const prometheus = new PrometheusExporter({ preventServerStart: true });
export const meterProvider = new MeterProvider({ readers: [prometheus] });
metrics.setGlobalMeterProvider(meterProvider);
