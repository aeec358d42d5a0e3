// The class-based snippets of the API reference
// (shared/reference/api-reference-digital-twin.md), typed against pkg/:
// only the import path and the connection URLs differ. `tsc --noEmit` over
// this file runs in `npm test`. The hook snippets are Leptos hooks in
// twinkit (crate twinkit-leptos), and TimeSeriesStore joins the package
// with the IndexedDB store; neither is here yet.
import {
  AnomalyDetector,
  DigitalTwin,
  FleetManager,
  PredictiveMaintenance,
  RuleEngine,
  TimeSeriesStore,
  type Proposal,
  type DryRun,
  type RuleGoal,
  type DetailedPrediction,
  type Detection,
  type PropertyHealth,
  type ScenarioOutcome,
  type AuditEntry,
  type Conflict,
  type DesiredWrite,
  type Divergence,
  type TwinError,
  type DeviceConfig,
  type DeviceState,
  type DeviceCommand,
  type TelemetryData,
  type Alert,
  type LifecycleState,
} from "twinkit";

// ---- Quick start ----------------------------------------------------------
{
  const twin = new DigitalTwin({
    id: "sensor-001",
    name: "Temperature Sensor",
    type: "temperature-sensor",
    properties: [
      { name: "temperature", type: "number", unit: "celsius", min: -40, max: 85, telemetry: true },
      { name: "humidity", type: "number", unit: "percent", min: 0, max: 100, telemetry: true },
      { name: "samplingRate", type: "number", writable: true },
    ],
    connectionType: "websocket",
    connectionConfig: {
      url: "ws://127.0.0.1:8080/ws",
      reconnect: true,
      reconnectInterval: 5000,
    },
  });

  await twin.connect();

  twin.on("telemetry", (event) => {
    console.log("New telemetry:", event.data);
  });

  twin.on("alert", (event) => {
    console.log("Alert:", event.data.message);
  });

  const state = twin.getState();
  console.log("Reported temperature:", state.reported.temperature);

  twin.setDesired("samplingRate", 1000);

  const command = twin.sendCommand("calibrate", { reference: 25.0 });
  console.log("Command ID:", command.commandId);
}

// ---- Creating a digital twin ---------------------------------------------
{
  const config: DeviceConfig = {
    id: "device-001",
    name: "Smart Thermostat",
    type: "thermostat",
    properties: [
      { name: "temperature", type: "number", unit: "fahrenheit", min: 32, max: 100, writable: false, telemetry: true },
      { name: "setpoint", type: "number", unit: "fahrenheit", min: 55, max: 85, writable: true },
      { name: "mode", type: "string", writable: true },
      { name: "isRunning", type: "boolean", writable: false },
    ],
    telemetryInterval: 30000,
    connectionType: "websocket",
    connectionConfig: {
      url: "ws://127.0.0.1:8080/devices",
      username: "device-001",
      password: "secret",
      topic: "devices/device-001",
      reconnect: true,
      reconnectInterval: 5000,
    },
  };

  const twin = new DigitalTwin(config);

  // Connection management
  await twin.connect();
  twin.on("connected", () => {
    console.log("Device connected");
  });
  twin.on("disconnected", () => {
    console.log("Device disconnected");
  });
  twin.disconnect();

  // State management
  const state = twin.getState();
  console.log("Device ID:", state.deviceId);
  console.log("Last updated:", new Date(state.timestamp));
  console.log("Reported state:", state.reported);
  console.log("Desired state:", state.desired);
  console.log("Metadata:", state.metadata);

  const temp = twin.getProperty("temperature");
  console.log("Current temperature:", temp);

  twin.setDesired("setpoint", 72);
  twin.setDesired("mode", "cooling");

  twin.on("stateChange", (event) => {
    const newState = event.data as DeviceState;
    console.log("State updated:", newState.reported);
  });

  // Commands
  const command = twin.sendCommand("restart", { delay: 5000 });
  console.log("Command sent:", command.commandId);
  console.log("Status:", command.status);

  twin.on("command", (event) => {
    const cmd = event.data as DeviceCommand;
    console.log(`Command ${cmd.commandId}: ${cmd.status}`);
  });

  // Telemetry
  twin.on("telemetry", (event) => {
    const telemetry = event.data as TelemetryData;
    console.log("Device:", telemetry.deviceId);
    console.log("Timestamp:", new Date(telemetry.timestamp));
    console.log("Values:", telemetry.values);
  });

  const allHistory = twin.getTelemetryHistory();
  console.log("Total records:", allHistory.length);
  const tempHistory = twin.getTelemetryHistory("temperature");
  const recentHistory = twin.getTelemetryHistory("temperature", 10);
  console.log(tempHistory.length, recentHistory.length);

  // Alerts
  twin.on("alert", (event) => {
    const alert = event.data as Alert;
    console.log("Alert ID:", alert.id);
    console.log("Device:", alert.deviceId);
    console.log("Severity:", alert.severity);
    console.log("Message:", alert.message);
    console.log("Time:", new Date(alert.timestamp));
    console.log("Acknowledged:", alert.acknowledged);
  });

  // Event subscription
  const unsubscribe = twin.on("telemetry", (event) => {
    console.log("Telemetry received", event.type);
  });
  unsubscribe();
}

// ---- FleetManager ---------------------------------------------------------
{
  const fleet = new FleetManager();

  const sensor1 = fleet.addDevice({
    id: "sensor-001",
    name: "Temperature Sensor 1",
    type: "temperature-sensor",
    properties: [{ name: "temperature", type: "number", telemetry: true }],
    connectionType: "websocket",
    connectionConfig: { url: "ws://127.0.0.1:8080/ws" },
  });

  const sensor2 = fleet.addDevice({
    id: "sensor-002",
    name: "Temperature Sensor 2",
    type: "temperature-sensor",
    properties: [{ name: "temperature", type: "number", telemetry: true }],
    connectionType: "websocket",
    connectionConfig: { url: "ws://127.0.0.1:8080/ws" },
  });
  console.log(sensor1.id, sensor2.id);

  const device = fleet.getDevice("sensor-001");
  console.log(device?.getState().deviceId);

  const allDevices = fleet.getAllDevices();
  console.log("Total devices:", allDevices.length);

  await fleet.connectAll();
  fleet.disconnectAll();
  fleet.removeDevice("sensor-001");

  const status = fleet.getFleetStatus();
  console.log("Total devices:", status.total);
  console.log("Connected:", status.connected);
  console.log("Disconnected:", status.disconnected);
  console.log("Active alerts:", status.alerts);

  const unsubscribe = fleet.onEvent((event) => {
    console.log(`[${event.deviceId}] ${event.type}:`, event.data);
  });
  unsubscribe();
}

// ---- PredictiveMaintenance -----------------------------------------------
{
  const twin = new DigitalTwin({
    id: "motor-001",
    name: "Industrial Motor",
    type: "motor",
    properties: [
      { name: "vibration", type: "number", unit: "mm/s", telemetry: true },
      { name: "temperature", type: "number", unit: "celsius", telemetry: true },
      { name: "runHours", type: "number", telemetry: true },
    ],
    connectionType: "websocket",
    connectionConfig: { url: "ws://127.0.0.1:8080/ws" },
  });

  const maintenance = new PredictiveMaintenance(twin);
  maintenance.setThreshold("vibration", 5.0, 10.0);
  maintenance.setThreshold("temperature", 80, 100);

  const predictions = maintenance.analyze();
  for (const prediction of predictions) {
    console.log("Property:", prediction.property);
    console.log("Current value:", prediction.currentValue);
    console.log("Predicted value (24h):", prediction.predictedValue);
    console.log("Hours to warning:", prediction.timeToWarning);
    console.log("Hours to critical:", prediction.timeToCritical);
    console.log("Confidence:", (prediction.confidence * 100).toFixed(1) + "%");
    console.log("Recommendation:", prediction.recommendation);
  }

  const vibrationPrediction = maintenance.getPrediction("vibration");
  if (vibrationPrediction) {
    console.log("Vibration prediction:", vibrationPrediction.recommendation);
  }

  // From the usePredictiveMaintenance snippet: the numbers are numbers.
  for (const pred of predictions) {
    const cls = pred.timeToCritical < 24 ? "critical" : "warning";
    console.log(cls, pred.currentValue.toFixed(2), pred.timeToCritical.toFixed(1));
  }
}

// ---- TimeSeriesStore --------------------------------------------------------
async function timeSeriesStoreSnippets() {
  const store = new TimeSeriesStore();
  await store.initialize();
  await store.store({
    deviceId: "sensor-001",
    timestamp: Date.now(),
    values: {
      temperature: 23.5,
      humidity: 45,
    },
  });
  const startTime = Date.now() - 24 * 60 * 60 * 1000;
  const endTime = Date.now();
  const data: TelemetryData[] = await store.query("sensor-001", startTime, endTime);
  console.log("Records found:", data.length);
  const tempData = await store.query("sensor-001", startTime, endTime, "temperature");
  console.log(tempData.length);
  const hourlyStats = await store.aggregate("sensor-001", "temperature", startTime, endTime, "hour");
  for (const bucket of hourlyStats) {
    console.log("Time:", new Date(bucket.timestamp));
    console.log("Average:", bucket.avg.toFixed(2));
    console.log("Min:", bucket.min);
    console.log("Max:", bucket.max);
  }
  // Beyond the reference: options, the twin option, and the extra methods.
  const kept = new TimeSeriesStore({ databaseName: "plant", retention: { maxAge: 7 * 86_400_000, maxPointsPerDevice: 1_000_000 } });
  const twin = new DigitalTwin({ id: "x", name: "X", type: "t", properties: [] }, { store: kept });
  await kept.restore(twin);
  const csv: string = await kept.exportCsv("x", 0, Date.now());
  const latest = await kept.latest("x");
  const { stored, skipped } = await kept.storeBatch(data);
  const off = kept.on("error", (event) => console.log(event.code, event.message));
  off();
  console.log(csv, latest?.timestamp, stored, skipped, await kept.deleteRange("x", 0, 1));
  // The journal: a fleet's lifecycle and its twins' sync and audit records.
  const fleet = new FleetManager();
  kept.persistJournal(twin);
  kept.persistFleetJournal(fleet);
  const { states, restored, missing } = await kept.restoreLifecycle(fleet);
  console.log(states["x"] satisfies LifecycleState, restored.length, missing.length);
  const records = await kept.queryJournal("x", { kind: "audit", start: 0, limit: 10 });
  for (const r of records) {
    if (r.kind === "audit") console.log(r.body.outcome, r.seq);
    if (r.kind === "lifecycle" && r.body.type === "restored") console.log(r.body.state);
  }
  const journalCsv: string = await kept.exportJournal("x", { format: "csv" });
  const back: { audit: number; sync: number } = await kept.restoreJournal(twin);
  console.log(journalCsv, back.audit);
  // @ts-expect-error: kinds are sync, audit or lifecycle
  await kept.queryJournal("x", { kind: "telemetry" });
  new TimeSeriesStore({ journal: { maxRecords: 1_000, maxAge: 86_400_000 } });
  await kept.flush();
  await kept.close();
  // @ts-expect-error: intervals are minute, hour or day
  await store.aggregate("sensor-001", "temperature", startTime, endTime, "week");
}
void timeSeriesStoreSnippets;

// ---- Types the compiler must refuse ---------------------------------------
{
  const twin = new DigitalTwin({ id: "x", name: "X", type: "t", properties: [] });
  // @ts-expect-error: not an event type
  twin.on("nonsense", () => {});
  // @ts-expect-error: alerts carry `message`, not `text`
  twin.on("alert", (event) => console.log(event.data.text));
  // @ts-expect-error: property types are a closed set
  new DigitalTwin({ id: "x", name: "X", type: "t", properties: [{ name: "p", type: "float" }] });
}

export {};

// Analytics extras: anomaly detection, detailed predictions, what-if.
{
  const twin = new DigitalTwin({ id: "r", name: "Room", type: "room", properties: [{ name: "temperature", type: "number", telemetry: true }] });
  const detector = new AnomalyDetector(twin, { spikeThreshold: 4, stuckReadings: null }, { temperature: { window: 32 } });
  const off: () => void = detector.onDetection((d: Detection) => console.log(d.type, d.expectedRange?.max));
  off();
  const health: PropertyHealth[] = detector.getHealth("temperature");
  console.log(health[0]?.status === "HEALTHY");
  const pm = new PredictiveMaintenance(twin);
  const detailed: DetailedPrediction[] = pm.analyzeDetailed({ confidenceLevel: 0.8 });
  console.log(detailed[0]?.leastSquares.timeToCritical.upper);
  const outcome: ScenarioOutcome = twin.whatIf({ property: "temperature", actuator: "heater", value: 1, level: 25 }, "thermal");
  console.log(outcome.crossing.estimate);
  // @ts-expect-error: the model is "thermal" or "wear"
  twin.whatIf({ property: "temperature", actuator: "heater", value: 1, level: 25 }, "magic");
}

// Sync extras: versioned edits, divergence, audit.
{
  const twin = new DigitalTwin({ id: "s", name: "S", type: "t", properties: [{ name: "sp", type: "number", writable: true }] }, { conflictStrategy: "reject" });
  const written: DesiredWrite = twin.setDesired("sp", 20, { baseVersion: twin.getState().version });
  console.log(written.version);
  try {
    twin.setDesired("sp", 21, { baseVersion: 0 });
  } catch (e) {
    const conflict = (e as TwinError & { conflict?: Conflict }).conflict;
    console.log(conflict?.winner);
  }
  const divergences: Divergence[] = twin.getDivergences();
  const audit = twin.getAudit({ target: "sp" }) as AuditEntry[];
  console.log(divergences.length, audit[0]?.action.kind);
  // @ts-expect-error: the strategy is one of four names
  new DigitalTwin({ id: "x", name: "x", type: "x", properties: [] }, { conflictStrategy: "whatever" });
}

// Rules with approvals.
{
  const twin = new DigitalTwin({ id: "r", name: "R", type: "room", properties: [{ name: "humidity", type: "number", telemetry: true }, { name: "fan", type: "boolean", writable: true }] });
  const rules = new RuleEngine(twin, "deviceActions");
  rules.addRule({ id: "humid", when: { reading: { property: "humidity", op: "above", threshold: 70 } }, actions: [{ type: "setDesired", property: "fan", value: true }], cooldown: 60_000 });
  const off = rules.onProposal((p: Proposal) => p.status === "pendingApproval" && rules.approve(p.id, "operator"));
  off();
  // @ts-expect-error: comparisons are "above" or "below"
  rules.addRule({ id: "x", when: { reading: { property: "humidity", op: "sideways", threshold: 1 } }, actions: [] });

  // Dry runs: the what-if model, a JavaScript model, a script's proposal.
  const simulated = new RuleEngine(twin, { policy: "none", dryRun: "whatif", whatIfModel: "thermal" });
  const goal: RuleGoal = { property: "humidity", op: "below", threshold: 60, within: 600_000 };
  simulated.setModel(({ state, now }) => ({ trajectory: [[now, Number(state.reported.humidity)], [now + 600_000, 55]] }));
  simulated.setModel(() => 58);
  const run: DryRun = simulated.simulate({ type: "setDesired", property: "fan", value: true }, goal);
  console.log(run.meetsGoal, run.crossingAt, run.trajectory?.end, run.model);
  const proposal: Proposal = simulated.propose({ type: "setDesired", property: "fan", value: true }, { script: "ops", goal });
  console.log(proposal.dryRun?.predicted, proposal.status === "blocked");
  const outcome: AuditEntry["outcome"] = "blocked";
  console.log(outcome, twin.getState().deviceVersion);
  // @ts-expect-error: the dry run is "whatif"
  new RuleEngine(twin, { dryRun: "crystal-ball" });
}
