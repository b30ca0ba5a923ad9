/** Operations: probes, Prometheus metrics and admin alerts (see docs/operations.md). */
export { type MessageSender, type NotifyOutcome, notifyAdmins } from './admin-notifier.js';
export {
  AlertMonitor,
  type AlertMonitorOptions,
  DELETION_LAG_ALERT,
  formatDuration,
  jobFailingAlert,
} from './alerts.js';
export { DeadlineExceededError, withDeadline } from './deadline.js';
export { type DeletionBacklog, type DeletionBacklogSource, readDeletionBacklog } from './deletion-backlog.js';
export {
  type HttpServer,
  type HttpServerOptions,
  type OpsServer,
  type OpsServerOptions,
  startHttpServer,
  startOpsServer,
  type WebhookRoute,
} from './http-server.js';
export {
  type ApiCallResult,
  apiCallResult,
  type BacklogSources,
  METRIC_PREFIX,
  OpsMetrics,
  type OpsMetricsOptions,
} from './metrics.js';
export {
  createReadinessCheck,
  type ReadinessCheck,
  type ReadinessReport,
  type ReadinessSources,
} from './readiness.js';
