//! Align-DA (DESIGN.md §7): a trained latent prior aligned with rewards by Diffusion-DPO
//! (Wallace et al. 2023) instead of hand-tuned. [`pairs`] makes the preference data from the
//! cycling of the method being aligned, [`rewards`] scores each candidate analysis (accuracy,
//! forecast skill, physical consistency), [`dpo`] fine-tunes the prior on the pairs with the
//! shared trainer, and [`config`] is the alignment file of `assim train align`.

pub mod config;
pub mod dpo;
pub mod pairs;
pub mod rewards;
