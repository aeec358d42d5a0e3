export type PropertyType = "number" | "string" | "boolean" | "object" | "array";
export type ConnectionType = "mqtt" | "websocket" | "http";
export type ConnectionState = "disconnected" | "connecting" | "connected";
export type UpdateSource = "device" | "cloud" | "user";
export type CommandStatus = "pending" | "sent" | "acknowledged" | "completed" | "failed";
export type Severity = "info" | "warning" | "critical";

export interface PropertyDefinition {
  name: string;
  type: PropertyType;
  unit?: string;
  min?: number;
  max?: number;
  writable?: boolean;
  telemetry?: boolean;
}

export interface ConnectionConfig {
  url: string;
  username?: string;
  /** Write-only: never returned by getConfig(), never in errors or events. */
  password?: string;
  topic?: string;
  reconnect?: boolean;
  reconnectInterval?: number;
  /** MQTT only: 4 (MQTT 3.1.1, the default) or 5. */
  protocolVersion?: 4 | 5;
}

export interface DeviceConfig {
  id: string;
  name: string;
  type: string;
  properties: PropertyDefinition[];
  telemetryInterval?: number;
  connectionType?: ConnectionType;
  connectionConfig?: ConnectionConfig;
}

/** Twin settings beyond DeviceConfig; every field has a default. */
export interface TwinOptions {
  /** Points kept per telemetry property (default: 24 h at telemetryInterval, 1,000..100,000). */
  historyCapacity?: number;
  /** Milliseconds before a command fails (default 30,000). */
  commandTimeout?: number;
  /** Most commands in flight (default 256). */
  maxPendingCommands?: number;
  /** Finished commands and cleared alerts kept (default 100). */
  maxFinished?: number;
  /** Fraction of the span beyond min/max that is critical (default 0.10). */
  criticalMargin?: number;
  /** Fraction of the span a value must come back inside to clear an alert (default 0.02). */
  hysteresis?: number;
  /** Explicit critical limits per property. */
  criticalBands?: Record<string, { below?: number; above?: number }>;
}

export interface PropertyMetadata {
  lastUpdated: number;
  version: number;
  source: UpdateSource;
}

export interface DeviceState {
  deviceId: string;
  timestamp: number;
  /** Rises on every change. */
  version: number;
  reported: Record<string, unknown>;
  desired: Record<string, unknown>;
  /** Desired values the device has not reported yet. */
  delta: Record<string, unknown>;
  metadata: Record<string, PropertyMetadata>;
  /** Reported properties the configuration does not declare. */
  unknownProperties: string[];
}

export interface TelemetryData {
  deviceId: string;
  timestamp: number;
  values: Record<string, number | string | boolean>;
}

export interface DeviceCommand {
  commandId: string;
  deviceId: string;
  name: string;
  payload: unknown;
  timestamp: number;
  status: CommandStatus;
  updatedAt: number;
  timeoutAt: number;
  result?: unknown;
  error?: string;
}

export interface CommandResponse {
  commandId: string;
  status: "acknowledged" | "completed" | "failed";
  result?: unknown;
  error?: string;
}

export interface Alert {
  id: string;
  deviceId: string;
  property: string;
  condition: "ABOVE_MAX" | "BELOW_MIN";
  severity: Severity;
  message: string;
  value: number;
  threshold: number;
  timestamp: number;
  acknowledged: boolean;
  status: "active" | "cleared";
  clearedAt?: number;
}

export interface ConnectionInfo {
  reason?: string;
}

export interface ErrorInfo {
  code: string;
  message: string;
  property?: string;
}

export interface DeviceEventDataMap {
  connected: ConnectionInfo;
  disconnected: ConnectionInfo;
  stateChange: DeviceState;
  telemetry: TelemetryData;
  alert: Alert;
  command: DeviceCommand;
  error: ErrorInfo;
}

export type EventType = keyof DeviceEventDataMap;

export interface DeviceEventOf<K extends EventType> {
  type: K;
  deviceId: string;
  data: DeviceEventDataMap[K];
  timestamp: number;
}

export type DeviceEvent = { [K in EventType]: DeviceEventOf<K> }[EventType];

export interface MaintenancePrediction {
  property: string;
  currentValue: number;
  predictedValue: number;
  /** Hours until the warning level; 0 when already past it; Infinity when the trend moves away. */
  timeToWarning: number;
  /** Hours until the critical level, as timeToWarning. */
  timeToCritical: number;
  /** r² · n / (n + 20), in 0..1. */
  confidence: number;
  recommendation: string;
}

export interface FleetStatus {
  total: number;
  connected: number;
  disconnected: number;
  connecting: number;
  alerts: number;
}

export interface ReportOutcome {
  applied: string[];
  stale: string[];
  rejected: { property: string; code: string; message: string }[];
}

export type Outbound =
  | { type: "desired"; property: string; value: unknown; version: number }
  | ({ type: "command" } & DeviceCommand);

/** What every twinkit method throws: an Error named "TwinError" with a stable code. */
export interface TwinError extends Error {
  name: "TwinError";
  code: string;
}

export interface DigitalTwin {
  /** Subscribes to one event type; returns the unsubscribe function. */
  on<K extends EventType>(event: K, callback: (event: DeviceEventOf<K>) => void): () => void;
}

/** Detector settings (every field optional; `null` turns a detector off). */
export interface DetectorConfig {
  window?: number;
  warmup?: number;
  spikeThreshold?: number | null;
  stuckReadings?: number | null;
  stuckTolerance?: number;
  rapidWindow?: number;
  rapidRatePerMinute?: number | null;
  rapidThreshold?: number | null;
  driftHalfLife?: number;
  driftThreshold?: number | null;
  cooldown?: number;
  group?: number;
  clearRatio?: number;
}

export type AnomalyType = "SPIKE" | "STUCK" | "RAPID_CHANGE" | "DRIFT";

export interface Detection {
  property: string;
  type: AnomalyType;
  severity: "info" | "warning" | "critical";
  value: number;
  expectedRange: { min: number; max: number } | null;
  score: number;
  timestamp: number;
  message: string;
}

export interface PropertyHealth {
  property: string;
  status: "HEALTHY" | "DEGRADED" | "FAILED";
  score: number;
  stabilityPercent: number | null;
  noiseStd: number | null;
  driftPerMinute: number | null;
  freshness: "FRESH" | "STALE" | "OFFLINE";
  ageMs: number;
  expectedIntervalMs: number | null;
  currentValue: number | null;
  readings: number;
  active: { spike: boolean; stuck: boolean; rapidChange: boolean; drift: boolean };
  issues: string[];
}

export interface PredictionOptions {
  /** Coverage of the intervals (default 0.9). */
  confidenceLevel?: number;
  /** Also fit a Theil–Sen trend (default true). */
  robust?: boolean;
}

export interface Interval { estimate: number; lower: number; upper: number }
/** Hours until a level is reached; `null` where it is not expected. */
export interface Crossing { estimate: number | null; lower: number | null; upper: number | null }

export interface TrendSummary {
  method: "leastSquares" | "theilSen";
  slopePerHour: number;
  residualStd: number;
  predictedValue: Interval;
  timeToWarning: Crossing;
  timeToCritical: Crossing;
}

export interface DetailedPrediction extends Omit<MaintenancePrediction, "timeToWarning" | "timeToCritical"> {
  timeToWarning: number | null;
  timeToCritical: number | null;
  confidenceLevel: number;
  leastSquares: TrendSummary;
  theilSen: TrendSummary | null;
}

/** "If `actuator` is set to `value` from now, when does `property` cross `level`?" */
export interface Scenario {
  property: string;
  actuator: string;
  value: number;
  level: number;
  /** Default 24 h. */
  horizonMs?: number;
  /** Default 96. */
  steps?: number;
  /** Default 0.9. */
  confidenceLevel?: number;
}

export interface ScenarioOutcome {
  trajectory: [number, number][];
  crossing: Crossing;
  settlesAt: number;
  confidenceLevel: number;
}
