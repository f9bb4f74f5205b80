//! The fuzz targets' short version, on stable inside `cargo test`: each property runs over
//! its committed corpus (`fuzz/corpus/<target>/`, where every input that once broke a
//! property stays) and then over seeded inputs, half random bytes, half mutations of the
//! corpus. The seed is printed; `FUZZ_SEED=<seed>` replays a run and `FUZZ_ITERATIONS`
//! sets how many inputs each target gets (default [`DEFAULT_ITERATIONS`]).

use super::TARGETS;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

const DEFAULT_ITERATIONS: u64 = 20_000;

/// The longest random input: the structured cases need only a few hundred bytes.
const MAX_RANDOM_LEN: usize = 512;

fn run(target: &str) {
    let property = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, property)| *property)
        .expect("a known target");
    let seed = env_number("FUZZ_SEED").unwrap_or_else(fresh_seed);
    let iterations = env_number("FUZZ_ITERATIONS").unwrap_or(DEFAULT_ITERATIONS);
    let corpus = corpus(target);
    for (path, input) in &corpus {
        check(property, input, || {
            format!("corpus file {}", path.display())
        });
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for index in 0..iterations {
        let input = if !corpus.is_empty() && rng.random_bool(0.5) {
            let base = &corpus[rng.random_range(0..corpus.len())].1;
            let other = &corpus[rng.random_range(0..corpus.len())].1;
            mutate(&mut rng, base, other)
        } else {
            let len = rng.random_range(0..=MAX_RANDOM_LEN);
            (0..len).map(|_| rng.random()).collect()
        };
        check(property, &input, || {
            format!(
                "input #{index} of seed {seed} (replay: FUZZ_SEED={seed} cargo test --workspace \
                 --lib -- fuzzing::harness::{target}); add it to fuzz/corpus/{target}/"
            )
        });
    }
    // Read by scripts/lib/reliability/fuzz.sh: keep the wording.
    eprintln!(
        "fuzz target {target}: {} inputs ({} corpus, {iterations} generated), seed {seed}, 0 crashes",
        corpus.len() as u64 + iterations,
        corpus.len()
    );
}

fn check(property: fn(&[u8]), input: &[u8], what: impl FnOnce() -> String) {
    if catch_unwind(AssertUnwindSafe(|| property(input))).is_err() {
        panic!("the property broke on {}: {input:?}", what());
    }
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| committed(path))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (path, bytes)
        })
        .collect()
}

/// The seeds and the inputs that once broke a property (`seed-*`, `crash-*`), not what a
/// local libFuzzer run added beside them.
fn committed(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    name.starts_with("seed-") || name.starts_with("crash-")
}

/// One to four of libFuzzer's cheap mutations of `base`: flip a bit, insert, delete or
/// overwrite a byte, splice in part of `other`, truncate.
fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let at = rng.random_range(0..=bytes.len());
        match rng.random_range(0..6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.random_range(0..8),
            1 => bytes.insert(at, rng.random()),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            3 if at < bytes.len() => bytes[at] = rng.random(),
            4 if !other.is_empty() => {
                let from = rng.random_range(0..other.len());
                let to = rng.random_range(from..=other.len());
                bytes.splice(at..at, other[from..to].iter().copied());
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value} is not a number")),
    )
}

fn fresh_seed() -> u64 {
    rand::rng().random()
}

#[test]
fn slug() {
    run("slug");
}

#[test]
fn email() {
    run("email");
}

#[test]
fn tenant_resolution() {
    run("tenant_resolution");
}

#[test]
fn csv_import() {
    run("csv_import");
}

#[test]
fn stripe_signature() {
    run("stripe_signature");
}

#[test]
fn every_target_has_a_harness_test_and_a_corpus() {
    let source = include_str!("harness.rs");
    for (name, _) in TARGETS {
        assert!(source.contains(&format!("run(\"{name}\")")), "{name}");
        assert!(!corpus(name).is_empty(), "fuzz/corpus/{name}/ is empty");
    }
}
