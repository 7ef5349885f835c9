//! The ranks of a distributed run (an MPI job, or one process) as the cycle sees them.
//!
//! assim distributes in the replicated-data style: every rank holds the whole ensemble and
//! runs the same cycle with the same random streams, and the loops whose items are
//! independent — the ensemble members of a forecast, the LETKF's local analyses, the parts of
//! a generative analysis — split their items into contiguous blocks, one per rank, and
//! all-gather the results ([`gather_blocks`]). Each item is computed by the same arithmetic
//! on whichever rank holds it, so `mpirun -n K` gives the numbers of one process.
//!
//! The core knows no MPI: a [`Communicator`] is installed once per process ([`install`]);
//! without one, [`team`] is one rank and nothing is communicated. `assim-cli`'s `mpi` feature
//! installs one over `MPI_COMM_WORLD`.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use faer::{Mat, MatRef};

use crate::AssimError;
use crate::dynamics::Model;
use crate::obs::ObsOperator;

/// The one collective the cycle needs, so that any message-passing library can serve it.
pub trait Communicator: Send + Sync {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Every rank's `mine` (lengths may differ), in rank order, on every rank: an
    /// all-gather of variable length (`MPI_Allgatherv`). Called by every rank in the same order.
    fn all_gather(&self, mine: &[f64]) -> Vec<Vec<f64>>;
}

/// One process: no one to talk to.
struct Solo;

impl Communicator for Solo {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_gather(&self, mine: &[f64]) -> Vec<Vec<f64>> {
        vec![mine.to_vec()]
    }
}

static TEAM: OnceLock<Box<dyn Communicator>> = OnceLock::new();
static COLLECTIVES: AtomicU64 = AtomicU64::new(0);
static BYTES_IN: AtomicU64 = AtomicU64::new(0);
static BYTES_OUT: AtomicU64 = AtomicU64::new(0);
static NANOS: AtomicU64 = AtomicU64::new(0);

/// Installs the process's communicator; once, before any cycling (an error the second time).
pub fn install(comm: Box<dyn Communicator>) -> Result<(), AssimError> {
    TEAM.set(comm).map_err(|_| AssimError::Input("a communicator is already installed".into()))
}

/// The process's communicator (one rank unless one was [`install`]ed).
pub fn team() -> &'static dyn Communicator {
    TEAM.get().map_or(&Solo, |c| c.as_ref())
}

/// Whether this process writes files and prints: rank 0, or the only process.
pub fn is_root() -> bool {
    team().rank() == 0
}

/// What this process has communicated since it started: the cost side of the scaling model
/// (docs/distributed.md).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Traffic {
    /// All-gathers taken part in.
    pub collectives: u64,
    /// Bytes this rank contributed (sent once, to every other rank).
    pub bytes_out: u64,
    /// Bytes this rank received from the others.
    pub bytes_in: u64,
    /// Wall-clock seconds inside the all-gathers (waiting for the slowest rank included).
    pub seconds: f64,
}

/// This process's [`Traffic`] so far.
pub fn traffic() -> Traffic {
    Traffic {
        collectives: COLLECTIVES.load(Ordering::Relaxed),
        bytes_out: BYTES_OUT.load(Ordering::Relaxed),
        bytes_in: BYTES_IN.load(Ordering::Relaxed),
        seconds: NANOS.load(Ordering::Relaxed) as f64 * 1e-9,
    }
}

/// Rank `rank`'s block of `n` items among `size` ranks: contiguous, sizes differing by at
/// most one, in rank order.
pub fn block(n: usize, rank: usize, size: usize) -> Range<usize> {
    rank * n / size..(rank + 1) * n / size
}

/// Items `0..n` computed in blocks, one per rank: `work(block)` gives this rank's results,
/// flattened in item order; the concatenation over ranks, in rank order, is returned on every
/// rank. On one rank this is `work(0..n)`, and nothing is sent. When `work` fails on any rank,
/// every rank returns an error (the failing rank its own), so no rank is left waiting.
pub fn gather_blocks<F>(n: usize, work: F) -> Result<Vec<f64>, AssimError>
where
    F: FnOnce(Range<usize>) -> Result<Vec<f64>, AssimError>,
{
    gather_blocks_on(team(), n, work)
}

/// [`gather_blocks`] over `comm`.
fn gather_blocks_on<F>(comm: &dyn Communicator, n: usize, work: F) -> Result<Vec<f64>, AssimError>
where
    F: FnOnce(Range<usize>) -> Result<Vec<f64>, AssimError>,
{
    if comm.size() == 1 {
        return work(0..n);
    }
    let mine = work(block(n, comm.rank(), comm.size()));
    // The first number says whether the block was computed: every rank learns of a failure
    // in the same collective that would have carried the results.
    let packed = match &mine {
        Ok(v) => std::iter::once(0.0).chain(v.iter().copied()).collect(),
        Err(_) => vec![1.0],
    };
    let clock = Instant::now();
    let all = comm.all_gather(&packed);
    NANOS.fetch_add(clock.elapsed().as_nanos() as u64, Ordering::Relaxed);
    COLLECTIVES.fetch_add(1, Ordering::Relaxed);
    let received: usize = all.iter().map(Vec::len).sum::<usize>() - packed.len();
    BYTES_OUT.fetch_add((packed.len() * 8) as u64, Ordering::Relaxed);
    BYTES_IN.fetch_add((received * 8) as u64, Ordering::Relaxed);
    mine?;
    if let Some(r) = all.iter().position(|p| p.first() != Some(&0.0)) {
        return Err(AssimError::Input(format!("rank {r} of {} failed (its log says why)", comm.size())));
    }
    Ok(all.into_iter().flat_map(|p| p.into_iter().skip(1)).collect())
}

/// [`gather_blocks`] for a matrix whose columns are the items: `work(block)` gives the
/// `rows × block.len()` columns of this rank's block, and every rank gets the `rows × n`
/// whole. For work that cannot fail (a blown-up forecast member is NaN, not an error).
fn gather_columns(rows: usize, n: usize, work: impl FnOnce(Range<usize>) -> Mat<f64>) -> Mat<f64> {
    let values = gather_blocks(n, |cols| Ok(work(cols).col_iter().flat_map(|c| c.iter().copied()).collect()))
        .expect("column work has no error to report");
    Mat::from_fn(rows, n, |i, j| values[j * rows + i])
}

/// [`Model::advance_ensemble`] with the members (columns of the `Nx × N` ensemble `e`)
/// shared among the ranks, then gathered: every rank ends with the whole forecast ensemble.
pub fn advance_ensemble(model: &dyn Model, e: &mut Mat<f64>, t0: f64, dt: f64, steps: usize) {
    if team().size() == 1 {
        model.advance_ensemble(e, t0, dt, steps);
        return;
    }
    *e = gather_columns(e.nrows(), e.ncols(), |cols| {
        let mut mine = e.as_ref().subcols(cols.start, cols.len()).to_owned();
        model.advance_ensemble(&mut mine, t0, dt, steps);
        mine
    });
}

/// `H` applied to every member of the `Nx × N` ensemble `e` (the `P × N` matrix of
/// [`ObsOperator::apply_ensemble`]), the members shared among the ranks: each computes its own
/// members' `P` values and only those (not states) are gathered.
pub fn observe_ensemble(obs: &dyn ObsOperator, e: MatRef<'_, f64>) -> Mat<f64> {
    if team().size() == 1 {
        return obs.apply_ensemble(e);
    }
    gather_columns(obs.n_obs(), e.ncols(), |cols| obs.apply_ensemble(e.subcols(cols.start, cols.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_item_once_in_order() {
        for n in [0, 1, 5, 20, 21] {
            for size in 1..=8 {
                let all: Vec<usize> = (0..size).flat_map(|r| block(n, r, size)).collect();
                assert_eq!(all, (0..n).collect::<Vec<_>>(), "n = {n}, size = {size}");
                let lens: Vec<usize> = (0..size).map(|r| block(n, r, size).len()).collect();
                let (lo, hi) = (lens.iter().min().unwrap(), lens.iter().max().unwrap());
                assert!(hi - lo <= 1, "n = {n}, size = {size}: {lens:?}");
            }
        }
    }

    #[test]
    fn one_rank_computes_everything_and_sends_nothing() {
        let before = traffic();
        let v = gather_blocks(4, |r| Ok(r.map(|i| i as f64).collect())).unwrap();
        assert_eq!(v, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(traffic(), before);
        let e = gather_blocks(4, |_| Err(AssimError::Input("bad block".into()))).unwrap_err();
        assert!(e.to_string().contains("bad block"));
    }

    /// Ranks as threads: an all-gather through a shared table and a barrier.
    struct ThreadRank {
        rank: usize,
        size: usize,
        table: std::sync::Arc<(std::sync::Mutex<Vec<Vec<f64>>>, std::sync::Barrier)>,
    }

    impl Communicator for ThreadRank {
        fn rank(&self) -> usize {
            self.rank
        }
        fn size(&self) -> usize {
            self.size
        }
        fn all_gather(&self, mine: &[f64]) -> Vec<Vec<f64>> {
            let (table, barrier) = &*self.table;
            table.lock().unwrap()[self.rank] = mine.to_vec();
            barrier.wait();
            let all = table.lock().unwrap().clone();
            barrier.wait();
            all
        }
    }

    /// `gather_blocks_on` as `size` ranks, each computing `work(rank, block)`.
    fn on_ranks(
        size: usize,
        n: usize,
        work: fn(usize, Range<usize>) -> Result<Vec<f64>, AssimError>,
    ) -> Vec<Result<Vec<f64>, AssimError>> {
        let table = std::sync::Arc::new((
            std::sync::Mutex::new(vec![Vec::new(); size]),
            std::sync::Barrier::new(size),
        ));
        let handles: Vec<_> = (0..size)
            .map(|rank| {
                let comm = ThreadRank { rank, size, table: table.clone() };
                std::thread::spawn(move || gather_blocks_on(&comm, n, |r| work(rank, r)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    }

    #[test]
    fn every_rank_gets_all_blocks_in_item_order() {
        for size in [2, 3, 4] {
            for got in on_ranks(size, 7, |_, r| Ok(r.flat_map(|i| [i as f64, -(i as f64)]).collect())) {
                let want: Vec<f64> = (0..7).flat_map(|i| [i as f64, -(i as f64)]).collect();
                assert_eq!(got.unwrap(), want, "size {size}");
            }
        }
    }

    #[test]
    fn a_failing_rank_fails_every_rank_without_a_hang() {
        let got = on_ranks(3, 6, |rank, r| {
            if rank == 1 {
                Err(AssimError::Input("singular local analysis".into()))
            } else {
                Ok(r.map(|i| i as f64).collect())
            }
        });
        assert!(got[1].as_ref().unwrap_err().to_string().contains("singular local analysis"));
        for r in [0, 2] {
            assert!(got[r].as_ref().unwrap_err().to_string().contains("rank 1 of 3 failed"), "rank {r}");
        }
    }
}
