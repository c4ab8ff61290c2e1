//! A detector of `profile compare`, spelt METHOD:SIZES (`bosc:10`, `bosc-mix:4+8`,
//! `bosc-backoff:6/3/0`, `bosc-backoff-live:10`, `stide:6`), made into a scorer.

use anyhow::{bail, Context, Result};
use ids_detector::detector::Detector;
use ids_detector::parameters::{Parameters, Scorer, StreamMode, DEFAULT_SURPRISE};
use ids_monitor::offline::backoff_bosc::BackoffBosc;
use ids_monitor::offline::scorer::{ScorerMix, TraceScorer};
use ids_monitor::offline::stide::Stide;
use ids_monitor::offline::weighted_bosc::{Grading, WeightedBosc};

/// The scorer `spec` names; an error says which part of it is wrong.
pub fn parse(spec: &str) -> Result<Box<dyn TraceScorer>> {
    let (method, sizes) = spec
        .split_once(':')
        .with_context(|| format!("detector {spec:?}: expected METHOD:W"))?;
    let sizes = sizes
        .split(['+', '/'])
        .map(|w| {
            let w: usize = w
                .parse()
                .with_context(|| format!("detector {spec:?}: bad window {w:?}"))?;
            if w > 64 {
                bail!("detector {spec:?}: windows are at most 64");
            }
            Ok(w)
        })
        .collect::<Result<Vec<usize>>>()?;
    let single = || match sizes[..] {
        [w] if w >= 1 => Ok(w),
        _ => bail!("detector {spec:?}: {method} takes one window of at least 1"),
    };
    let paper = |w: usize| -> Box<dyn TraceScorer> {
        Box::new(Detector::new(Parameters {
            window: w,
            epoch: 1000.max(w as u32),
            stream: StreamMode::PerContainer,
            ..Parameters::default()
        }))
    };
    Ok(match method {
        "bosc" => paper(single()?),
        "bosc-backoff-live" => {
            let w = single()?;
            Box::new(Detector::new(Parameters {
                window: w,
                epoch: 1000.max(w as u32),
                scorer: Scorer::Backoff {
                    surprise: DEFAULT_SURPRISE,
                },
                stream: StreamMode::PerContainer,
                ..Parameters::default()
            }))
        }
        "bosc-mix" if sizes.iter().all(|&w| w >= 1) => {
            Box::new(ScorerMix(sizes.iter().map(|&w| paper(w)).collect()))
        }
        "bosc-rarity" => Box::new(WeightedBosc::new(single()?, Grading::Rarity)),
        "bosc-near" => Box::new(WeightedBosc::new(single()?, Grading::Neighbourhood)),
        "bosc-backoff" => Box::new(BackoffBosc::new(&sizes, false)),
        "bosc-backoff-last" => Box::new(BackoffBosc::new(&sizes, true)),
        "stide" => Box::new(Stide::new(single()?)),
        _ => bail!("detector {spec:?}: unknown method {method:?} or bad windows"),
    })
}
