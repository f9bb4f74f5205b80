//! The seeded schedule of a chaos run: for each round, the workload's operations and the
//! one fault injected while they run, with its timing. Everything random about a run is
//! drawn here, up front, from the seed, so the same seed replays the same schedule (the
//! interleaving with the platform's own threads is the one thing a seed cannot fix).

use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng as _, SeedableRng as _};
use std::fmt;

/// Steps of the provisioning and delete sagas a killed worker may die at.
const CRASH_STEPS: [&str; 8] = [
    "place",
    "create_role",
    "create_database",
    "grant_and_seed",
    "activate",
    "backup",
    "drop_database",
    "drop_role",
];

/// Subscription states a webhook delivery moves a tenant's subscription to.
const SUBSCRIPTION_STATES: [&str; 5] = ["active", "past_due", "unpaid", "trialing", "active"];

/// One fault, injected `after_ms` into its round and (for the ones that heal) held for
/// `hold_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The standalone provisioner worker dies at the next saga step named (or, if it
    /// reaches none, is killed at the end of the hold); a new one starts, and the dead
    /// one's leases run out.
    KillWorker { crash_at: &'static str },
    /// One of the extra runtimes (by index) is stopped and a new one started.
    KillRuntime { index: usize },
    /// The second control plane is stopped and a new one started.
    KillControlPlane,
    /// The chaos tenant server is stopped (fast shutdown) and started again.
    RestartServer,
    /// Every `LISTEN` connection to the control database is terminated.
    CutListeners,
    /// The chaos tenant server is filled to its connection limit from outside.
    FillConnections,
}

impl Fault {
    /// The short name reports count faults under.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::KillWorker { .. } => "worker kills",
            Fault::KillRuntime { .. } => "runtime kills",
            Fault::KillControlPlane => "control-plane kills",
            Fault::RestartServer => "server restarts",
            Fault::CutListeners => "LISTEN cuts",
            Fault::FillConnections => "connection floods",
        }
    }
}

/// One operation of the workload. `pick` chooses among what exists when it runs (tenants,
/// runtimes, control planes) by index, so a replay picks the same relative target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// A self-serve signup through control plane `pick` (of those running).
    Signup { pick: usize },
    /// An admin deletes a tenant.
    Delete { pick: usize },
    /// Stripe moves a tenant's subscription to `status` and delivers the event, perhaps
    /// twice (a redelivery of the same event id).
    Webhook {
        pick: usize,
        status: &'static str,
        twice: bool,
    },
    /// `calls` authenticated API calls of one tenant, spread over the runtimes.
    Traffic { pick: usize, calls: usize },
    /// An admin starts a fleet migration run.
    MigrationRun,
}

#[derive(Debug, Clone)]
pub struct Round {
    pub fault: Fault,
    pub after_ms: u64,
    pub hold_ms: u64,
    pub ops: Vec<Op>,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub seed: u64,
    pub rounds: Vec<Round>,
}

impl Schedule {
    /// The schedule of `rounds` rounds for `seed`. Each fault kind comes once in every
    /// six rounds (in a seeded order), so even a short run covers all of them.
    pub fn from_seed(seed: u64, rounds: usize, runtimes: usize) -> Schedule {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut kinds = Vec::new();
        let rounds = (0..rounds)
            .map(|index| {
                if kinds.is_empty() {
                    kinds = shuffled_kinds(&mut rng);
                }
                let kind = kinds.pop().unwrap_or(0);
                Round {
                    fault: fault(&mut rng, kind, runtimes),
                    after_ms: rng.random_range(100..1_500),
                    hold_ms: rng.random_range(500..2_500),
                    ops: ops(&mut rng, index),
                }
            })
            .collect();
        Schedule { seed, rounds }
    }

    /// How many faults of each kind, in a stable order.
    pub fn fault_counts(&self) -> Vec<(&'static str, usize)> {
        let mut counts: Vec<(&'static str, usize)> = Vec::new();
        for round in &self.rounds {
            match counts
                .iter_mut()
                .find(|(kind, _)| *kind == round.fault.kind())
            {
                Some((_, count)) => *count += 1,
                None => counts.push((round.fault.kind(), 1)),
            }
        }
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        counts
    }
}

fn shuffled_kinds(rng: &mut StdRng) -> Vec<usize> {
    let mut kinds: Vec<usize> = (0..6).collect();
    for index in (1..kinds.len()).rev() {
        kinds.swap(index, rng.random_range(0..=index));
    }
    kinds
}

fn fault(rng: &mut StdRng, kind: usize, runtimes: usize) -> Fault {
    match kind {
        0 => Fault::KillWorker {
            crash_at: CRASH_STEPS.choose(rng).copied().unwrap_or("place"),
        },
        1 => Fault::KillRuntime {
            index: rng.random_range(0..runtimes.max(1)),
        },
        2 => Fault::KillControlPlane,
        3 => Fault::RestartServer,
        4 => Fault::CutListeners,
        _ => Fault::FillConnections,
    }
}

/// A round's workload: a few signups (more in the first round, so there is something to
/// delete and bill), a delete now and then, webhook deliveries and API traffic.
fn ops(rng: &mut StdRng, round: usize) -> Vec<Op> {
    let mut ops = Vec::new();
    let signups = if round == 0 {
        4
    } else {
        rng.random_range(1..3)
    };
    for _ in 0..signups {
        ops.push(Op::Signup {
            pick: rng.random_range(0..16),
        });
    }
    if round > 0 && rng.random_bool(0.5) {
        ops.push(Op::Delete {
            pick: rng.random_range(0..64),
        });
    }
    for _ in 0..rng.random_range(1..4) {
        ops.push(Op::Webhook {
            pick: rng.random_range(0..64),
            status: SUBSCRIPTION_STATES.choose(rng).copied().unwrap_or("active"),
            twice: rng.random_bool(0.3),
        });
    }
    for _ in 0..rng.random_range(1..4) {
        ops.push(Op::Traffic {
            pick: rng.random_range(0..64),
            calls: rng.random_range(3..12),
        });
    }
    if round == 1 {
        ops.push(Op::MigrationRun);
    }
    ops
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "chaos schedule for seed {}:", self.seed)?;
        for (index, round) in self.rounds.iter().enumerate() {
            writeln!(
                f,
                "  round {index}: {:?} after {} ms, held {} ms; ops {:?}",
                round.fault, round.after_ms, round.hold_ms, round.ops
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
        let a = Schedule::from_seed(7, 12, 2).to_string();
        assert_eq!(a, Schedule::from_seed(7, 12, 2).to_string());
        assert_ne!(a, Schedule::from_seed(8, 12, 2).to_string());
    }

    #[test]
    fn six_rounds_cover_every_kind_of_fault() {
        let schedule = Schedule::from_seed(3, 6, 2);
        assert_eq!(schedule.fault_counts().len(), 6, "{schedule}");
    }
}
