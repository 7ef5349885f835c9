//! `MPI_COMM_WORLD` as the core's [`Team`] (the `mpi` feature).

use std::sync::Mutex;

use assim_core::AssimError;
use assim_core::distributed::Communicator as Team;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives};

/// The world communicator; calls are serialised by the lock (MPI is initialised with
/// `MPI_THREAD_SERIALIZED`: a collective may come from a rayon worker, never two at once).
struct World {
    world: Mutex<SimpleCommunicator>,
    rank: usize,
    size: usize,
}

// SAFETY: the communicator is a handle that MPI allows any thread to use under
// MPI_THREAD_SERIALIZED; the mutex makes every use exclusive.
unsafe impl Send for World {}
// SAFETY: as above: `&World` reaches the handle only through the mutex.
unsafe impl Sync for World {}

impl Team for World {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_gather(&self, mine: &[f64]) -> Vec<Vec<f64>> {
        let world = self.world.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = vec![0i32; self.size];
        world.all_gather_into(&(mine.len() as i32), &mut counts[..]);
        let displs: Vec<i32> = counts
            .iter()
            .scan(0i32, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        let mut all = vec![0.0f64; counts.iter().map(|&c| c as usize).sum()];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(mine, &mut partition);
        }
        let mut out = Vec::with_capacity(self.size);
        let mut rest = &all[..];
        for &c in &counts {
            let (head, tail) = rest.split_at(c as usize);
            out.push(head.to_vec());
            rest = tail;
        }
        out
    }
}

/// Initialises MPI and installs the world communicator; the returned universe finalises MPI
/// when dropped (keep it alive for the whole run). One rank (a plain `assim run`) installs
/// nothing, so its path is the one without MPI.
pub fn start() -> Result<mpi::environment::Universe, AssimError> {
    let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Serialized)
        .ok_or_else(|| AssimError::Input("MPI was already initialised".into()))?;
    if threading < mpi::Threading::Serialized {
        return Err(AssimError::Input(format!(
            "this MPI offers only {threading:?} threading; assim needs MPI_THREAD_SERIALIZED"
        )));
    }
    let world = universe.world();
    let (rank, size) = (world.rank() as usize, world.size() as usize);
    if size > 1 {
        assim_core::distributed::install(Box::new(World { world: Mutex::new(world), rank, size }))?;
    }
    Ok(universe)
}
