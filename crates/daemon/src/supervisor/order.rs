//! Dependency order: services start once their dependencies meet their condition, and in a
//! shutdown each stops once every service depending on it is down. Independent services
//! start and stop together.

use steward_core::deps;
use steward_core::machine::{Input, State};

use super::Supervisor;

impl Supervisor {
    /// After the boot tasks: every configured service waits for its dependencies.
    pub(super) fn want_all_services(&mut self) {
        self.waiting = self.services.keys().cloned().collect();
    }

    /// Starts the waiting services whose dependencies are met; tells the others why they
    /// wait.
    pub(super) fn start_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        for name in &self.waiting {
            let rt = &self.services[name];
            match deps::blocked_by(&rt.spec, |s| self.services.get(s).map(|r| &r.instances[..])) {
                None => ready.push(name.clone()),
                Some(why) => {
                    let rt = self
                        .services
                        .get_mut(name)
                        .expect("a waiting service exists");
                    for inst in rt
                        .instances
                        .iter_mut()
                        .filter(|i| i.state == State::Stopped)
                    {
                        inst.reason.clone_from(&why);
                    }
                }
            }
        }
        for name in ready {
            self.waiting.remove(&name);
            self.input_all(&name, Input::Start);
        }
    }

    /// Stops the services no running service depends on any more.
    pub(super) fn stop_in_order(&mut self) {
        let Some(shutdown) = &self.shutdown else {
            return;
        };
        if shutdown.to_stop.is_empty() {
            return;
        }
        let eligible: Vec<String> = shutdown
            .to_stop
            .iter()
            .filter(|name| {
                let dependents = self.dependents.get(*name).into_iter().flatten();
                deps::may_stop(
                    dependents
                        .filter_map(|d| self.services.get(d))
                        .map(|rt| &rt.instances[..]),
                )
            })
            .cloned()
            .collect();
        for name in eligible {
            if let Some(s) = &mut self.shutdown {
                s.to_stop.remove(&name);
            }
            self.input_all(&name, Input::Stop);
        }
    }
}
