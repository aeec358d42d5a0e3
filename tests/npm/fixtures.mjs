// Configurations shared by the tests, passed into the page.
export const thermostat = {
  id: "device-001",
  name: "Smart Thermostat",
  type: "thermostat",
  properties: [
    { name: "temperature", type: "number", unit: "fahrenheit", min: 32, max: 100, telemetry: true },
    { name: "setpoint", type: "number", unit: "fahrenheit", min: 55, max: 85, writable: true },
    { name: "mode", type: "string", writable: true },
    { name: "isRunning", type: "boolean" },
    { name: "humidity", type: "number", min: 0, max: 100, telemetry: true },
  ],
  telemetryInterval: 1000,
};
