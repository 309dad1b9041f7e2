//! Prints the median time of one password verification with the service's argon2id settings,
//! measured on one thread: the "hash time" in bench/login.sh's bound (logins/s ≈ cores ÷ hash time).

use std::time::Instant;

use tessera::accounts::password::PasswordHasher;

// The server's allocator: with the system one, each verification maps and faults in 19 MiB
// afresh, which made this figure ~25 % slower than the hashes the server actually runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let hasher = PasswordHasher::new(1, 1)?;
    let phc = hasher.hash("correct horse battery".to_owned()).await?;
    let mut samples = Vec::new();
    for _ in 0..30 {
        let started = Instant::now();
        let place = hasher.take_place()?;
        let matched = hasher
            .verify(place, "correct horse battery".to_owned(), Some(phc.clone()))
            .await?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(matched, "the password must verify");
    }
    samples.sort_by(f64::total_cmp);
    println!("{:.2}", samples[samples.len() / 2]);
    Ok(())
}
