//! Injecting one fault and healing it: processes killed and replaced, the chaos server
//! stopped and restarted or flooded, the control database's listeners cut.

use super::Chaos;
use super::schedule::Fault;
use crate::app::Replica;
use crate::replicas::ExtraRuntime;
use control_plane::all_in_one::Parts;
use std::time::{Duration, Instant};

impl Chaos {
    pub(super) async fn inject(&self, fault: &Fault, hold: Duration) {
        match fault {
            Fault::KillWorker { crash_at } => self.kill_worker(crash_at, hold).await,
            Fault::KillRuntime { index } => self.kill_runtime(*index, hold).await,
            Fault::KillControlPlane => self.kill_control_plane(hold).await,
            Fault::RestartServer => {
                self.server.take_down().await;
                tokio::time::sleep(hold).await;
                self.server.bring_up().await;
            }
            Fault::CutListeners => self.cut_listeners().await,
            Fault::FillConnections => {
                let held = self.server.flood().await;
                self.note(format!(
                    "held {} connections to the chaos server",
                    held.len()
                ));
                tokio::time::sleep(hold).await;
                drop(held);
            }
        }
    }

    /// Arms the standalone worker to die at `step`; if no job takes it there within
    /// `hold`, it is stopped then. Either way its leases run out (a minute in production;
    /// here at once, since it is gone) and a new worker starts.
    async fn kill_worker(&self, step: &str, hold: Duration) {
        let worker = self.procs.lock().await.worker.take();
        let Some(worker) = worker else { return };
        worker.provisioner.crash_at(step);
        let started = Instant::now();
        while !worker.is_finished() && started.elapsed() < hold {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let died = worker.is_finished();
        let id = worker.provisioner.worker_id().to_owned();
        worker.stop().await;
        let expired = self
            .control
            .execute(
                "UPDATE jobs SET lease_expires_at = now() - interval '1 second' \
                 WHERE state = 'running' AND lease_owner = $1",
                &[&id],
            )
            .await
            .expect("expire the dead worker's leases");
        self.note(match died {
            true => format!("{id} died at `{step}`, {expired} job(s) left leased"),
            false => format!("{id} stopped (never reached `{step}`), {expired} job(s) leased"),
        });
        let mut procs = self.procs.lock().await;
        let next = procs.next_worker(&self.settings).await;
        procs.worker = Some(next);
    }

    async fn kill_runtime(&self, index: usize, hold: Duration) {
        let victim = {
            let mut procs = self.procs.lock().await;
            let len = procs.runtimes.len();
            (len > 0).then(|| procs.runtimes.remove(index % len))
        };
        let Some(victim) = victim else { return };
        victim.stop().await;
        tokio::time::sleep(hold).await;
        let replacement = ExtraRuntime::start(&self.settings).await;
        self.procs.lock().await.runtimes.push(replacement);
    }

    async fn kill_control_plane(&self, hold: Duration) {
        let victim = self.procs.lock().await.control_plane_b.take();
        if let Some(victim) = victim {
            let _ = victim.stop().await;
        }
        tokio::time::sleep(hold).await;
        let parts = Parts {
            tenant_runtime: false,
            provisioner: false,
        };
        let replacement = Replica::launch(&self.settings, parts).await;
        let mut procs = self.procs.lock().await;
        procs.control_plane_b_url = replacement.control_plane_url.clone();
        procs.control_plane_b = Some(replacement);
    }

    /// Ends every session of the control database that last ran `LISTEN` (the runtimes'
    /// change feeds, the workers' job and billing wake-ups).
    async fn cut_listeners(&self) {
        let cut: i64 = self
            .control
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND query ILIKE 'LISTEN%' \
                   AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("terminate listeners")
            .get(0);
        self.note(format!("cut {cut} LISTEN connections"));
    }
}
