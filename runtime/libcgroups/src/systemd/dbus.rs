//! The few calls the driver makes to systemd's manager over D-Bus (zbus, blocking):
//! start a transient scope, set properties, stop a unit, and read a unit's state.

use std::time::{Duration, Instant};

use zbus::{
    blocking::Connection,
    zvariant::{OwnedObjectPath, OwnedValue, Value},
};

use super::properties::{Prop, Props};
use crate::CgroupError;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const UNIT: &str = "org.freedesktop.systemd1.Unit";
/// How long a start or stop may take before the driver gives up on it.
const PATIENCE: Duration = Duration::from_secs(5);

fn failed(op: impl Into<String>, e: impl std::error::Error + Send + Sync + 'static) -> CgroupError {
    CgroupError::Systemd { op: op.into(), source: Box::new(e) }
}

/// A connection to systemd: the system bus for root, the user's bus otherwise.
pub struct Systemd {
    conn: Connection,
}

fn value(p: &Prop) -> Value<'_> {
    match p {
        Prop::U64(v) => Value::from(*v),
        Prop::Bool(v) => Value::from(*v),
        Prop::Str(v) => Value::from(v.as_str()),
        Prop::Bytes(v) => Value::from(v.clone()),
        Prop::Pids(v) => Value::from(v.clone()),
    }
}

fn body(props: &Props) -> Vec<(&str, Value<'_>)> {
    props.iter().map(|(k, v)| (*k, value(v))).collect()
}

impl Systemd {
    pub fn connect(user: bool) -> Result<Self, CgroupError> {
        let bus = if user { "connect to the user's D-Bus session bus" } else { "connect to the D-Bus system bus" };
        let conn = if user { Connection::session() } else { Connection::system() };
        conn.map(|conn| Systemd { conn }).map_err(|e| failed(bus, e))
    }

    fn call<B>(&self, method: &str, body: &B) -> Result<zbus::Message, zbus::Error>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn.call_method(Some(DEST), PATH, Some(MANAGER), method, body)
    }

    /// Starts the scope `unit` and waits until systemd reports it active.
    pub fn start_scope(&self, unit: &str, props: &Props) -> Result<(), CgroupError> {
        let aux: Vec<(&str, Vec<(&str, Value)>)> = Vec::new();
        self.call("StartTransientUnit", &(unit, "replace", body(props), aux))
            .map_err(|e| failed(format!("start transient unit {unit}"), e))?;
        self.wait_for(unit, &["active"], &["failed"])
    }

    /// Sets runtime properties of an existing unit.
    pub fn set_properties(&self, unit: &str, props: &Props) -> Result<(), CgroupError> {
        if props.is_empty() {
            return Ok(());
        }
        self.call("SetUnitProperties", &(unit, true, body(props))).map(drop).map_err(|e| failed(format!("set properties of {unit}"), e))
    }

    /// Stops `unit` and waits until it is gone; a unit that does not exist counts as stopped.
    pub fn stop(&self, unit: &str) -> Result<(), CgroupError> {
        match self.call("StopUnit", &(unit, "replace")) {
            Ok(_) => {}
            Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" => return Ok(()),
            Err(e) => return Err(failed(format!("stop unit {unit}"), e)),
        }
        // "failed" is an end too: a scope whose processes a delete --force SIGKILLed can get
        // there before this stop (a systemd VM lane run once left the state dir when stop
        // took it for an error). A failed scope stays loaded until reset; forget it.
        let result = self.wait_for(unit, &["inactive", "gone", "failed"], &[]);
        let _ = self.call("ResetFailedUnit", &(unit,));
        result
    }

    /// The unit's ActiveState, or "gone" when systemd no longer knows it.
    fn active_state(&self, unit: &str) -> Result<String, CgroupError> {
        let path: OwnedObjectPath = match self.call("GetUnit", &(unit,)) {
            Ok(reply) => reply.body().deserialize().map_err(|e| failed(format!("read the object path of {unit}"), e))?,
            Err(zbus::Error::MethodError(name, _, _)) if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" => return Ok("gone".into()),
            Err(e) => return Err(failed(format!("look up unit {unit}"), e)),
        };
        let reply = self
            .conn
            .call_method(Some(DEST), path.as_str(), Some("org.freedesktop.DBus.Properties"), "Get", &(UNIT, "ActiveState"))
            .map_err(|e| failed(format!("read the state of {unit}"), e))?;
        let v: OwnedValue = reply.body().deserialize().map_err(|e| failed(format!("read the state of {unit}"), e))?;
        String::try_from(v).map_err(|e| failed(format!("read the state of {unit}"), e))
    }

    fn wait_for(&self, unit: &str, good: &[&str], bad: &[&str]) -> Result<(), CgroupError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            let state = self.active_state(unit)?;
            if good.contains(&state.as_str()) {
                return Ok(());
            }
            if bad.contains(&state.as_str()) || start.elapsed() > PATIENCE {
                return Err(CgroupError::UnitState { unit: unit.to_string(), state, wanted: good.join(" or ") });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }
}
