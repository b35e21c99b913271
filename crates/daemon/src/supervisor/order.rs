//! Dependency order: services start once their dependencies meet their condition, and in a
//! shutdown each stops once every service depending on it is down. Independent services
//! start and stop together.

use steward_core::deps;
use steward_core::machine::{Input, State};

use super::{Key, Supervisor};

impl Supervisor {
    /// After the boot tasks: every configured instance waits for its service's
    /// dependencies, but those an operator already started or stopped.
    pub(super) fn want_all_services(&mut self) {
        let held = std::mem::take(&mut self.held);
        self.waiting = self
            .services
            .iter()
            .flat_map(|(name, rt)| {
                (0..rt.instances.len() as u32).map(|index| Key {
                    service: name.clone(),
                    index,
                })
            })
            .filter(|key| !held.contains(key) && !self.reload_work.is_pending(key))
            .collect();
    }

    /// Starts the waiting instances whose service's dependencies are met; tells the others
    /// why they wait.
    pub(super) fn start_waiting(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        // The set is ordered by service: one pass groups each service's instances.
        let mut groups: Vec<(String, Vec<Key>)> = Vec::new();
        for key in &self.waiting {
            match groups.last_mut() {
                Some((service, keys)) if *service == key.service => keys.push(key.clone()),
                _ => groups.push((key.service.clone(), vec![key.clone()])),
            }
        }
        for (name, keys) in groups {
            let blocked = deps::blocked_by(&self.services[&name].spec, |s| {
                self.services.get(s).map(|r| &r.instances[..])
            });
            match blocked {
                None => {
                    for key in keys {
                        self.waiting.remove(&key);
                        self.input(&key, Input::Start);
                    }
                }
                Some(why) => {
                    let rt = self.services.get_mut(&name).expect("waiting");
                    for key in keys {
                        let inst = &mut rt.instances[key.index as usize];
                        // Checked after every event: write only what changed.
                        if inst.state == State::Stopped && inst.reason != why {
                            inst.reason.clone_from(&why);
                        }
                    }
                }
            }
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
