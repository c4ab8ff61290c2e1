//! Scoring detectors on labelled traces: ROC AUC, detection rate at a false-positive rate.
//!
//! A score is "higher = more anomalous". A trace is flagged when its score is strictly above the
//! threshold.

/// ROC AUC of attack scores against normal scores: the probability that a random attack trace
/// scores higher than a random normal one, ties counting one half (the Mann–Whitney statistic).
pub fn roc_auc(normal: &[f64], attack: &[f64]) -> f64 {
    if normal.is_empty() || attack.is_empty() {
        return f64::NAN;
    }
    let mut all: Vec<(f64, bool)> = normal
        .iter()
        .map(|&s| (s, false))
        .chain(attack.iter().map(|&s| (s, true)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the attack scores' ranks, tied scores sharing their average rank.
    let mut attack_rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + 1 + j) as f64 / 2.0;
        let attacks = all[i..j].iter().filter(|x| x.1).count();
        attack_rank_sum += average_rank * attacks as f64;
        i = j;
    }
    let (n, m) = (normal.len() as f64, attack.len() as f64);
    (attack_rank_sum - m * (m + 1.0) / 2.0) / (n * m)
}

/// Detection and false-positive rates of the rule "score > threshold".
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    pub threshold: f64,
    pub detection_rate: f64,
    pub false_positive_rate: f64,
}

/// Rates at a given threshold.
pub fn rates_at(normal: &[f64], attack: &[f64], threshold: f64) -> Rates {
    let above = |scores: &[f64]| {
        scores.iter().filter(|&&s| s > threshold).count() as f64 / scores.len().max(1) as f64
    };
    Rates {
        threshold,
        detection_rate: above(attack),
        false_positive_rate: above(normal),
    }
}

/// The lowest threshold whose false-positive rate does not pass `fpr`, and the rates there.
pub fn rates_at_fpr(normal: &[f64], attack: &[f64], fpr: f64) -> Rates {
    let mut sorted = normal.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpr * sorted.len() as f64).floor() as usize;
    // With t = the (allowed+1)-th highest normal score, at most `allowed` normal scores are above t.
    let threshold = sorted.get(allowed).copied().unwrap_or(f64::NEG_INFINITY);
    rates_at(normal, attack, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_a_hand_checked_example() {
        // Pairs (attack > normal): 0.9 beats all 3; 0.5 beats 0.1 and 0.4 and ties 0.5 (½);
        // 0.2 beats 0.1. (3 + 2.5 + 1) / 9.
        let normal = [0.1, 0.4, 0.5];
        let attack = [0.9, 0.5, 0.2];
        assert!((roc_auc(&normal, &attack) - 6.5 / 9.0).abs() < 1e-12);
        assert_eq!(roc_auc(&[0.0, 0.0], &[0.0]), 0.5, "all tied");
        assert_eq!(roc_auc(&[0.0, 0.1], &[0.2, 0.3]), 1.0);
        assert_eq!(roc_auc(&[0.2, 0.3], &[0.0, 0.1]), 0.0);
    }

    #[test]
    fn rates_at_a_false_positive_budget() {
        let normal: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0).collect();
        let attack = [0.995, 0.985, 0.5, 0.0];
        let r = rates_at_fpr(&normal, &attack, 0.01);
        assert_eq!(r.threshold, 0.98);
        assert_eq!(r.false_positive_rate, 0.01);
        assert_eq!(r.detection_rate, 0.5);
        let r = rates_at_fpr(&normal, &attack, 0.0);
        assert_eq!(r.threshold, 0.99);
        assert_eq!(r.false_positive_rate, 0.0);
        assert_eq!(r.detection_rate, 0.25);
        let r = rates_at(&normal, &attack, 0.45);
        assert_eq!((r.detection_rate, r.false_positive_rate), (0.75, 0.54));
    }

    #[test]
    fn tied_normal_scores_never_exceed_the_budget() {
        let normal = [0.0, 0.0, 0.0, 0.0];
        let r = rates_at_fpr(&normal, &[0.0, 1.0], 0.5);
        assert_eq!(r.false_positive_rate, 0.0);
        assert_eq!(r.detection_rate, 0.5);
    }
}
