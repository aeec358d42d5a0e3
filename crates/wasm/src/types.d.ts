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
  /**
   * MQTT only: keepalive in seconds (default 120; 0 turns PINGREQ off). PINGREQ goes out after
   * half of it without sending, so a hidden tab's timer a minute late still pings in time.
   */
  keepalive?: number;
  /**
   * MQTT only: "twinkit" (default: `{topic}/{id}/telemetry` ...) or "aws-shadow" (AWS IoT Device
   * Shadow: desired values to `$aws/things/{thing}/shadow/update`, state from its accepted, delta
   * and get/accepted documents; a version conflict is a `CONFLICT` error event).
   */
  topicScheme?: "twinkit" | "aws-shadow";
  /** "aws-shadow" only: the thing name (default: the device id); 1 to 128 of [a-zA-Z0-9:_-]. */
  thingName?: string;
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
  /** How a stale `setDesired(…, {baseVersion})` is settled (default "reject"; "custom" needs a Rust merge callback and otherwise refuses). */
  conflictStrategy?: "reject" | "lastWriterWins" | "deviceWins" | "custom";
  /** Raise a DESIRED_NOT_REACHED alert when the device has not reached a desired value after this many ms (default: off). */
  divergenceTimeout?: number;
  /** Sync records kept (default 256). */
  syncHistoryCapacity?: number;
  /** Audit entries kept (default 1,000). */
  auditCapacity?: number;
  /** Persist the twin's telemetry into this store as it arrives. */
  store?: TimeSeriesStore;
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
  /** The device's own state version from its last versioned report (the same for every twin of the device). */
  deviceVersion?: number;
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
  condition: "ABOVE_MAX" | "BELOW_MIN" | "DESIRED_NOT_REACHED" | "RULE" | "SPIKE" | "STUCK" | "RAPID_CHANGE" | "DRIFT";
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

export type LifecycleState = "provisioned" | "active" | "maintenance" | "suspended" | "decommissioned";

export interface FleetStatus {
  total: number;
  connected: number;
  disconnected: number;
  connecting: number;
  alerts: number;
  /** Devices per lifecycle state. */
  lifecycle: Record<LifecycleState, number>;
}

export interface ReportOutcome {
  applied: string[];
  stale: string[];
  rejected: { property: string; code: string; message: string }[];
  /** The record repeats a recent one (same timestamp and values): a redelivery, ignored. */
  duplicate: boolean;
}

export type Outbound =
  | { type: "desired"; property: string; value: unknown; version: number; /** The device version this twin had last seen. */ deviceVersion?: number }
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

/** Options of `new TimeSeriesStore(options)`; every field has a default. */
export interface TimeSeriesStoreOptions {
  /** IndexedDB database name (default "twinkit"). */
  databaseName?: string;
  /** What to keep; older points and the oldest beyond the count are deleted after each write. */
  retention?: {
    /** Milliseconds: points older than this are deleted. */
    maxAge?: number;
    /** At most this many points per device; the oldest go first. */
    maxPointsPerDevice?: number;
  };
  /** Milliseconds a store() waits for others to join its transaction (default 20). */
  flushDelay?: number;
  /** Buffered points that start a transaction at once (default 50,000). */
  flushPoints?: number;
  /** Points per stored chunk (default 1,000). */
  chunkPoints?: number;
  /** What the journal (sync records, audit entries, lifecycle events) keeps; checked on each append. */
  journal?: {
    /** At most this many records per device and kind; the oldest go first (default 10,000; at least 1). */
    maxRecords?: number;
    /** Milliseconds: sync and audit records older than this are dropped (default: none). Lifecycle records are kept. */
    maxAge?: number;
  };
}

/** What a journal record is. */
export type JournalKind = "sync" | "audit" | "lifecycle";

/** One record of the journal (`TimeSeriesStore.queryJournal`). */
export type JournalRecord = { deviceId: string; timestamp: number; seq: number } & (
  | { kind: "sync"; body: SyncRecord }
  /** An audit entry as it was at one step of its outcome. */
  | { kind: "audit"; body: AuditEntry }
  | { kind: "lifecycle"; body: LifecycleEvent }
);

/** Options of `TimeSeriesStore.queryJournal`; every field is optional. */
export interface JournalQuery {
  /** One kind (default: all). */
  kind?: JournalKind;
  /** Records with `start <= timestamp <= end` (default: all). */
  start?: number;
  end?: number;
  /** The newest this many (1 to 1,000,000). */
  limit?: number;
}

/** Options of `TimeSeriesStore.exportJournal`. */
export interface JournalExportOptions extends JournalQuery {
  /** "csv" (default: header `deviceId,kind,timestamp,seq,body`) or "json". */
  format?: "csv" | "json";
}

/** What `TimeSeriesStore.restoreLifecycle` resolves with. */
export interface LifecycleRestore {
  /** The replayed state of every device the log has in a fleet. */
  states: Record<string, LifecycleState>;
  /** Devices whose twin was put back into its state (logged as `restored`). */
  restored: string[];
  /** Devices the log has that this fleet does not. */
  missing: string[];
}

/** What store() and storeBatch() resolve with once committed. */
export interface StoreResult {
  /** Points stored. */
  stored: number;
  /** Values or records skipped: NaN, ±Infinity, bad timestamps or device ids, unsupported types, reserved names. */
  skipped: number;
}

/** One bucket of TimeSeriesStore.aggregate(). */
export interface AggregateBucket {
  /** Bucket start (ms since the epoch, UTC-aligned). */
  timestamp: number;
  /** sum / count (NaN when the bucket holds only non-numeric values). */
  avg: number;
  min: number;
  max: number;
  /** Numeric values in the bucket. */
  count: number;
  sum: number;
  /** Non-numeric values in the bucket, skipped by the aggregate. */
  skipped: number;
}

/** A TimeSeriesStore `error` event (failed flush, QUOTA_EXCEEDED, …). */
export interface StoreErrorEvent {
  type: "error";
  code: string;
  message: string;
  timestamp: number;
}

/** What TimeSeriesStore.stats() reports. */
export interface StoreStats {
  /** Points buffered, not yet committed. */
  pending: number;
  skipped: {
    badTimestamps: number;
    badDevices: number;
    emptyRecords: number;
    nonFinite: number;
    badValues: number;
    badNames: number;
    total: number;
  };
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

/** Detector settings per property. */
export type DetectorConfigs = Record<string, DetectorConfig>;

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

export interface SetDesiredOptions {
  /** The state `version` the edit was based on: a stale edit is settled by the twin's `conflictStrategy`. */
  baseVersion?: number;
}

export interface DesiredWrite {
  property: string;
  value: unknown;
  /** State version after the write. */
  version: number;
  /** The newer value this edit replaced (lastWriterWins). */
  overwritten?: unknown;
  /** Whether the custom merge decided the value. */
  merged: boolean;
  auditId?: number;
}

/** On a `CONFLICT` TwinError: who won and the state now. */
export interface Conflict {
  property: string;
  baseVersion: number;
  currentVersion: number;
  winnerVersion: number;
  /** "otherClient": another client's edit, which the device took after this twin's pending one. */
  winnerSide: "desired" | "reported" | "otherClient";
  winner: unknown;
  attempted: unknown;
  state: DeviceState;
}

export interface Divergence {
  property: string;
  desired: unknown;
  reported?: unknown;
  since: number;
  duration: number;
  difference?: number;
  alertId?: string;
}

export interface SyncRecord {
  timestamp: number;
  property: string;
  direction: "sent" | "received";
  value: unknown;
  version: number;
  inSync: boolean;
}

export type Actor =
  | { kind: "user" }
  | { kind: "cloud" }
  | { kind: "rule"; id: string }
  | { kind: "script"; name: string };

/** "blocked": a rule's or script's action its dry run refused; it never reached the device. */
export type AuditOutcome = "queued" | "sent" | "acknowledged" | "reached" | "completed" | "superseded" | "failed" | "blocked";

export interface AuditEntry {
  id: number;
  deviceId: string;
  timestamp: number;
  actor: Actor;
  approvedBy?: string;
  action:
    | { kind: "desired"; property: string; value: unknown; version: number }
    | { kind: "command"; commandId: string; name: string; payload: unknown };
  outcome: AuditOutcome;
  outcomeAt: number;
  detail?: string;
}

export interface AuditQuery {
  since?: number;
  until?: number;
  actor?: Actor;
  target?: string;
  outcome?: AuditOutcome;
  limit?: number;
}

/** Options of `TimeSeriesStore.aggregate`. */
export interface AggregateOptions {
  /** "rollups" (default) or "raw" (recompute from the points). */
  source?: "rollups" | "raw";
}

/** Which rule actions wait for `approve()`. */
export type ApprovalPolicy = "deviceActions" | "all" | "none";

export type RuleComparison = { property: string; op: "above" | "below"; threshold: number };

export type RuleCondition =
  | { reading: RuleComparison }
  | { derived: { name: string; op: "above" | "below"; threshold: number } }
  | { predicted: RuleComparison & { within: number } }
  | { any: RuleCondition[] }
  | { all: RuleCondition[] };

export type RuleAction =
  | { type: "setDesired"; property: string; value: unknown }
  | { type: "sendCommand"; name: string; payload?: unknown }
  | { type: "raiseAlert"; severity: "info" | "warning" | "critical"; message: string };

/** What a device action must achieve: `property` `op` `threshold` at `now + within` ms (checked by a dry run). */
export interface RuleGoal {
  property: string;
  op: "above" | "below";
  threshold: number;
  within: number;
}

export interface TrajectorySummary {
  start: number;
  end: number;
  min: number;
  max: number;
  points: number;
}

/** A dry run's answer (also a proposal's `dryRun`). */
export interface DryRun {
  /** The goal property's predicted value at `at`. */
  predicted: number;
  /** `now + goal.within`. */
  at: number;
  meetsGoal: boolean;
  /** When the predicted trajectory first meets the goal. */
  crossingAt?: number;
  trajectory?: TrajectorySummary;
  /** Which model answered, e.g. "thermal". */
  model?: string;
}

/** Options of `new RuleEngine(twin, options)`. */
export interface RuleEngineOptions {
  /** Default "deviceActions". */
  policy?: ApprovalPolicy;
  /** "whatif": simulate device actions that have a goal with the what-if model fitted to the twin's history. */
  dryRun?: "whatif";
  /** Default "thermal". */
  whatIfModel?: "thermal" | "wear";
}

/** A dry-run model for `RuleEngine.setModel`; it gets a snapshot and must not call the twin. */
export type DryRunModel = (request: { action: RuleAction; goal: RuleGoal; now: number; state: DeviceState }) =>
  | number
  | { predicted: number; crossingAt?: number }
  | { trajectory: [number, number][] };

/** Options of `RuleEngine.propose`. */
export interface ProposeOptions {
  /** The script's name; its actor is `script:<name>`. Default "script". */
  script?: string;
  goal?: RuleGoal;
}

export interface RuleConfig {
  id: string;
  when: RuleCondition;
  actions: RuleAction[];
  goal?: RuleGoal;
  /** Milliseconds before the rule may fire again. */
  cooldown?: number;
  /** How far back past the threshold the signal must go to re-arm. */
  hysteresis?: number;
  enabled?: boolean;
}

export interface Proposal {
  id: number;
  deviceId: string;
  actor: Actor;
  action: RuleAction;
  status: "pendingApproval" | "sent" | "rejected" | "blocked" | "failed";
  createdAt: number;
  updatedAt: number;
  decidedBy?: string;
  reason?: string;
  goal?: RuleGoal;
  /** The latest dry run (when the proposal has a goal and reaches the device). */
  dryRun?: DryRun;
  baseVersion: number;
  /** The audit entry (desired value, command, or blocked action) or alert id it produced. */
  result?: string;
  [key: string]: unknown;
}

export type LifecycleEvent = { seq: number; deviceId: string; timestamp?: number } & (
  | { type: "added"; state: LifecycleState }
  | { type: "transition"; from: LifecycleState; to: LifecycleState; actor: Actor; reason?: string }
  | { type: "removed" }
  /** Put back into `state` from a persisted log (`TimeSeriesStore.restoreLifecycle`). */
  | { type: "restored"; state: LifecycleState }
);
