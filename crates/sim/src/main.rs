//! `twinkit-sim`: simulated devices served over MQTT, WebSocket JSON and
//! HTTP. Run `twinkit-sim --help` for the options.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::Write;
    use std::net::SocketAddr;
    use std::process::ExitCode;

    use twinkit_sim::server::{self, ServerOptions};

    const HELP: &str = "\
twinkit-sim: simulated IoT devices (thermostat, motor, environment sensor)
served over MQTT, WebSocket JSON and HTTP (see README, \"Wire protocols\").

USAGE:
    twinkit-sim [OPTIONS]

At least one of --mqtt, --ws, --http is required.

OPTIONS:
    --mqtt HOST:PORT       publish to this MQTT broker over TCP (one
                           connection per device; QoS 1; retained status
                           and will on {prefix}/{id}/status)
    --mqtt-username NAME   MQTT user name
    --mqtt-password-env VAR
                           read the MQTT password from environment
                           variable VAR (never from the command line, which
                           other users can see)
    --ws ADDR              serve the WebSocket JSON protocol (e.g. 127.0.0.1:8081)
    --http ADDR            serve the HTTP REST shape (e.g. 127.0.0.1:8082)
    --devices N            number of devices, cycling thermostat, motor,
                           sensor (default 5)
    --prefix PREFIX        MQTT topic prefix (default twinkit)
    --interval MS          telemetry interval in ms (default 1000)
    --time-scale X         simulated seconds per second for the physics
                           (default 1; 60 = a minute a second)
    --seed N               random seed (default 1): same seed, same run
    --seq                  add a `seq` telemetry property counting records
                           from 1 per device
    --token-env VAR        require the token in environment variable VAR in
                           WebSocket `hello` and as HTTP `Authorization:
                           Bearer`
    -h, --help             print this help

FAULTS: send the command `fault` with a payload such as
    {\"kind\":\"drift\",\"property\":\"temperature\",\"rate\":0.05}
    {\"kind\":\"stuck\",\"property\":\"temperature\"}
    {\"kind\":\"spikes\",\"property\":\"vibration\",\"probability\":0.2,\"magnitude\":5}
    {\"kind\":\"dropConnection\",\"durationMs\":5000}
    {\"kind\":\"malformed\",\"count\":3}
    {\"kind\":\"clear\"}
over any transport, e.g.
    curl -X POST localhost:8082/devices/motor-002/commands \\
      -d '{\"commandId\":\"f1\",\"name\":\"fault\",\"payload\":{\"kind\":\"malformed\"}}'

Prints one line per listener (`ws ws://ADDR`, `http http://ADDR`) and
`ready` when serving; stops on Ctrl-C or SIGTERM.
";

    fn parse(args: &[String]) -> Result<Option<ServerOptions>, String> {
        let mut options = ServerOptions::default();
        let mut i = 0;
        let value = |i: &mut usize, name: &str| -> Result<String, String> {
            *i += 1;
            args.get(*i)
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        let env = |var: &str, name: &str| -> Result<String, String> {
            std::env::var(var).map_err(|_| format!("{name}: environment variable {var} is not set"))
        };
        let addr = |s: String, name: &str| -> Result<SocketAddr, String> {
            s.parse()
                .map_err(|_| format!("{name}: `{s}` is not an address like 127.0.0.1:8081"))
        };
        while i < args.len() {
            let arg = args[i].as_str();
            match arg {
                "-h" | "--help" => return Ok(None),
                "--mqtt" => options.mqtt = Some(value(&mut i, arg)?),
                "--mqtt-username" => options.mqtt_username = Some(value(&mut i, arg)?),
                "--mqtt-password-env" => {
                    options.mqtt_password = Some(env(&value(&mut i, arg)?, arg)?);
                }
                "--ws" => options.ws = Some(addr(value(&mut i, arg)?, arg)?),
                "--http" => options.http = Some(addr(value(&mut i, arg)?, arg)?),
                "--devices" => {
                    options.devices = value(&mut i, arg)?
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or("--devices must be between 1 and 10000")?;
                }
                "--prefix" => options.prefix = value(&mut i, arg)?,
                "--interval" => {
                    options.sim.telemetry_interval_ms = value(&mut i, arg)?
                        .parse()
                        .ok()
                        .filter(|n| (10..=3_600_000).contains(n))
                        .ok_or("--interval must be between 10 and 3600000 ms")?;
                }
                "--time-scale" => {
                    options.sim.time_scale = value(&mut i, arg)?
                        .parse()
                        .ok()
                        .filter(|x: &f64| x.is_finite() && *x > 0.0 && *x <= 1e6)
                        .ok_or("--time-scale must be a number in (0, 1000000]")?;
                }
                "--seed" => {
                    options.sim.seed = value(&mut i, arg)?
                        .parse()
                        .map_err(|_| "--seed must be a non-negative integer")?;
                }
                "--seq" => options.sim.sequence = true,
                "--token-env" => options.token = Some(env(&value(&mut i, arg)?, arg)?),
                other => return Err(format!("unknown option `{other}` (see --help)")),
            }
            i += 1;
        }
        if options.mqtt.is_none() && options.ws.is_none() && options.http.is_none() {
            return Err("nothing to serve: give --mqtt, --ws and/or --http (see --help)".into());
        }
        Ok(Some(options))
    }

    pub fn main() -> ExitCode {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let options = match parse(&args) {
            Ok(Some(options)) => options,
            Ok(None) => {
                print!("{HELP}");
                return ExitCode::SUCCESS;
            }
            Err(message) => {
                eprintln!("twinkit-sim: {message}");
                return ExitCode::from(2);
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("twinkit-sim: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        runtime.block_on(run(options))
    }

    async fn run(options: ServerOptions) -> ExitCode {
        let mqtt = options.mqtt.clone();
        let prefix = options.prefix.clone();
        let running = match server::start(options).await {
            Ok(running) => running,
            Err(e) => {
                eprintln!("twinkit-sim: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "devices {}", running.device_ids.join(" "));
        if let Some(broker) = &mqtt {
            let _ = writeln!(out, "mqtt {broker} prefix {prefix}");
        }
        if let Some(addr) = running.ws_addr {
            let _ = writeln!(out, "ws ws://{addr}");
        }
        if let Some(addr) = running.http_addr {
            let _ = writeln!(out, "http http://{addr}");
        }
        let _ = writeln!(out, "ready");
        let _ = out.flush();
        drop(out);
        wait_for_signal().await;
        running.shutdown().await;
        ExitCode::SUCCESS
    }

    async fn wait_for_signal() {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
