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
  type DetailedPrediction,
  type Detection,
  type PropertyHealth,
  type ScenarioOutcome,
  type DeviceConfig,
  type DeviceState,
  type DeviceCommand,
  type TelemetryData,
  type Alert,
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
