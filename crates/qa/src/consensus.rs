//! Consensus of several annotators' label maps on one grid.
//!
//! Majority vote (SimpleITK's LabelVotingImageFilter with undecided voxels set to 0): each
//! voxel takes the value — background 0 included — that most annotators gave it; when two
//! or more values tie for the most votes, the voxel is background 0 and counted as a tie.
//! With two annotators this keeps exactly the voxels both agree on.

use rayon::prelude::*;
use voxmark_volume::error::{Error, Result};

/// Result of a vote.
#[derive(Debug, Clone)]
pub struct Consensus {
    pub labels: Vec<u8>,
    /// Voxels where values tied (set to 0).
    pub ties: u64,
    /// Voxels where every annotator agreed.
    pub unanimous: u64,
}

/// The value most of `votes` are; None when two or more values tie for the most. `counts`
/// is scratch space, left holding (value, votes) per distinct value.
pub fn plurality(votes: impl Iterator<Item = u8>, counts: &mut Vec<(u8, u32)>) -> Option<u8> {
    counts.clear();
    for x in votes {
        match counts.iter_mut().find(|(val, _)| *val == x) {
            Some(e) => e.1 += 1,
            None => counts.push((x, 1)),
        }
    }
    let best = counts.iter().map(|e| e.1).max()?;
    let mut winners = counts.iter().filter(|e| e.1 == best);
    match (winners.next(), winners.next()) {
        (Some(w), None) => Some(w.0),
        _ => None,
    }
}

/// Majority vote of `maps` (all the same length, at least two).
pub fn majority_vote(maps: &[&[u8]]) -> Result<Consensus> {
    if maps.len() < 2 {
        return Err(Error::Invalid(
            "consensus needs at least two label maps".into(),
        ));
    }
    let n = maps[0].len();
    if maps.iter().any(|m| m.len() != n) {
        return Err(Error::Invalid("label maps differ in size".into()));
    }
    const CHUNK: usize = 1 << 16;
    let mut out = vec![0u8; n];
    let (ties, unanimous) = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut ties = 0u64;
            let mut unanimous = 0u64;
            let mut counts: Vec<(u8, u32)> = Vec::with_capacity(maps.len());
            for (o, v) in chunk.iter_mut().enumerate() {
                let idx = c * CHUNK + o;
                let won = plurality(maps.iter().map(|m| m[idx]), &mut counts);
                unanimous += u64::from(counts.len() == 1);
                *v = won.unwrap_or_else(|| {
                    ties += 1;
                    0
                });
            }
            (ties, unanimous)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    Ok(Consensus {
        labels: out,
        ties,
        unanimous,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_and_ties() {
        let a = [1u8, 1, 2, 0, 3, 5];
        let b = [1u8, 2, 2, 0, 0, 6];
        let c = [1u8, 2, 0, 4, 0, 7];
        let r = majority_vote(&[&a, &b, &c]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.labels, vec![1, 2, 2, 0, 0, 0]);
        assert_eq!((r.ties, r.unanimous), (1, 1));
        let two = majority_vote(&[&a, &b]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(two.labels, vec![1, 0, 2, 0, 0, 0]);
        assert!(majority_vote(&[&a]).is_err());
    }
}
