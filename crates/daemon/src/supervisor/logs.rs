//! Captured output, the loop's part: each instance's pipes, made at its first start and
//! handed to every start after it; where its files are for the API; new settings after a
//! reload. The log thread does the rest.

use std::os::fd::AsRawFd;

use steward_core::config::{ServiceSpec, StderrMode};

use super::control::{no_such_instance, unknown_service};
use super::health::InstanceIo;
use super::{ApiError, Key, ServiceRt, Supervisor};
use crate::logs::{Logs, Output, Source, Writers};
use crate::process::Launch;

impl Supervisor {
    /// Turns capture on: instances started from now on get pipes to the log thread.
    pub fn set_logs(&mut self, logs: Logs) {
        self.logs = Some(logs);
    }

    /// Where `service`'s instance keeps `output`, for `GET /v1/services/NAME/logs`. With
    /// `follow`, an instance that has never run gets its pipes now, so there is a stream
    /// to follow.
    pub(super) fn log_source(
        &mut self,
        service: &str,
        instance: Option<u32>,
        output: Output,
        follow: bool,
    ) -> Result<Source, ApiError> {
        let rt = self
            .services
            .get_mut(service)
            .ok_or_else(|| unknown_service(service))?;
        let count = rt.instances.len() as u32;
        let index = match instance {
            Some(i) if i < count => i,
            Some(i) => return Err(no_such_instance(service, i, count)),
            None if count == 1 => 0,
            None => {
                return Err(ApiError::new(
                    400,
                    format!("service {service} has {count} instances: name one with `instance`"),
                ));
            }
        };
        let spec = &rt.spec.log;
        if !spec.capture {
            return Err(ApiError::new(
                409,
                format!("the output of {service} is not captured (`log.capture = false`)"),
            ));
        }
        if output == Output::Err && spec.stderr == StderrMode::Merge {
            return Err(ApiError::new(
                400,
                format!(
                    "`stream` cannot be \"err\": service {service} merges stderr into its \
                     stdout log (`log.stderr = \"merge\"`)"
                ),
            ));
        }
        let Some(logs) = &mut self.logs else {
            return Err(ApiError::new(409, "log capture is not running"));
        };
        let io = &mut rt.io[index as usize];
        if follow && io.logs.is_none() {
            io.logs = Some(
                logs.open(service, index, spec)
                    .map_err(|e| ApiError::new(500, format!("cannot make the log pipes: {e}")))?,
            );
        }
        Ok(Source {
            dir: logs.dir(service),
            name: output.file_name(index),
            keep: spec.keep,
            timestamps: spec.timestamps,
            progress: io.logs.as_ref().and_then(|l| l.subscription(output)),
        })
    }
}

/// Readies the child's stdout and stderr: the instance's pipes (made now if it has none,
/// or if `capture`/`stderr` changed since), or steward's own with `capture = false`. The
/// write ends returned must live until the child has started.
pub(super) fn prepare(
    logs: Option<&mut Logs>,
    spec: &ServiceSpec,
    key: &Key,
    io: &mut InstanceIo,
    launch: &mut Launch,
) -> Result<Option<Writers>, String> {
    let Some(logs) = logs.filter(|_| spec.log.capture) else {
        // Dropping them closes them once drained.
        io.logs = None;
        return Ok(None);
    };
    if !io.logs.as_ref().is_some_and(|l| l.fits(&spec.log)) {
        io.logs = None;
        let made = logs.open(&key.service, key.index, &spec.log);
        io.logs = Some(made.map_err(|e| format!("cannot make the log pipes: {e}"))?);
    }
    let writers = io
        .logs
        .as_ref()
        .expect("made above")
        .writers()
        .map_err(|e| format!("cannot open the log pipe: {e}"))?;
    launch.stdout = Some(writers.out.as_raw_fd());
    launch.stderr = Some(writers.err.as_ref().unwrap_or(&writers.out).as_raw_fd());
    Ok(Some(writers))
}

impl ServiceRt {
    /// After a reload changed the spec: the log thread takes the new rotation and
    /// timestamp settings at once.
    pub(super) fn retune_logs(&mut self) {
        for io in &mut self.io {
            if let Some(logs) = &mut io.logs {
                logs.retune(&self.spec.log);
            }
        }
    }
}
