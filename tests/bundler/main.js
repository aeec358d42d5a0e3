// An app as a bundler user writes it: a bare import of the package.
import { DigitalTwin } from "twinkit";

const twin = new DigitalTwin({
  id: "bundled-001",
  name: "Bundled sensor",
  type: "sensor",
  properties: [{ name: "temperature", type: "number", min: 0, max: 50, telemetry: true }],
});
const alerts = [];
twin.on("alert", (event) => alerts.push(event.data.severity));
twin.applyReported({ temperature: 60 });
window.result = { reported: twin.getState().reported, alerts };
document.getElementById("out").textContent = JSON.stringify(window.result);
