//! The tick-jump guard: one bad price never reaches the exit monitor.
//!
//! Per market, the last accepted price. A tick that moves more than `max_jump_pct` percent from
//! it is held as a suspect and not delivered. The next tick confirms the suspect when it lies
//! within the band *of the suspect* (a real move: it is delivered and becomes the last accepted
//! price); a tick within the band of the last accepted price is accepted as usual and the suspect
//! is dropped (it was an outlier); anything else is the new suspect. The first tick of a market
//! is accepted. The band is inclusive: a move of exactly `max_jump_pct` is accepted.

use rust_decimal::Decimal;

/// The guard's one setting (`EXIT_MAX_TICK_JUMP_PCT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickJumpGuard {
    max_jump_pct: Decimal,
}

/// What the guard remembers about one market.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MarketPrices {
    last_accepted: Option<Decimal>,
    suspect: Option<Decimal>,
}

impl MarketPrices {
    pub fn last_accepted(&self) -> Option<Decimal> {
        self.last_accepted
    }

    pub fn suspect(&self) -> Option<Decimal> {
        self.suspect
    }
}

/// A tick held back: its price, the last accepted price it jumped from, and by how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    pub price: Decimal,
    pub last_accepted_price: Decimal,
    /// |price − last accepted| / last accepted × 100, to two decimals; None when the last
    /// accepted price was zero.
    pub jump_pct: Option<Decimal>,
}

/// The guard's decision on one tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TickVerdict {
    /// Within the band of the last accepted price (or the market's first tick): delivered.
    Accepted,
    /// Within the band of the held suspect: the move is real, this tick is delivered.
    Confirmed { suspect: Decimal },
    /// Too far from the last accepted price: held, not delivered.
    Held(Suspect),
}

impl TickVerdict {
    /// Whether the tick goes on to the exit monitor.
    pub fn delivers(&self) -> bool {
        !matches!(self, TickVerdict::Held(_))
    }
}

/// The contract's default band: 20 %.
impl Default for TickJumpGuard {
    fn default() -> Self {
        TickJumpGuard {
            max_jump_pct: Decimal::from(20),
        }
    }
}

impl TickJumpGuard {
    /// A guard with a band of `max_jump_pct` percent; None unless it is greater than zero.
    pub fn new(max_jump_pct: Decimal) -> Option<TickJumpGuard> {
        (max_jump_pct > Decimal::ZERO).then_some(TickJumpGuard { max_jump_pct })
    }

    pub fn max_jump_pct(&self) -> Decimal {
        self.max_jump_pct
    }

    /// Whether `price` lies within the band around `reference`:
    /// |price − reference| × 100 ≤ max_jump_pct × reference (no division, so a zero reference
    /// only admits zero; an overflow is outside the band).
    pub fn within_band(&self, reference: Decimal, price: Decimal) -> bool {
        let moved = (price - reference).abs().checked_mul(Decimal::ONE_HUNDRED);
        let allowed = self.max_jump_pct.checked_mul(reference.abs());
        match (moved, allowed) {
            (Some(moved), Some(allowed)) => moved <= allowed,
            _ => false,
        }
    }

    /// Judges one tick of a market and updates what the guard remembers of it.
    pub fn judge(&self, market: &mut MarketPrices, price: Decimal) -> TickVerdict {
        let Some(last) = market.last_accepted else {
            market.last_accepted = Some(price);
            return TickVerdict::Accepted;
        };
        if self.within_band(last, price) {
            market.last_accepted = Some(price);
            market.suspect = None;
            return TickVerdict::Accepted;
        }
        if let Some(suspect) = market.suspect.filter(|s| self.within_band(*s, price)) {
            market.last_accepted = Some(price);
            market.suspect = None;
            return TickVerdict::Confirmed { suspect };
        }
        market.suspect = Some(price);
        TickVerdict::Held(Suspect {
            price,
            last_accepted_price: last,
            jump_pct: jump_pct(last, price),
        })
    }
}

/// |price − reference| / reference × 100, rounded to two decimals; None for a zero reference.
pub fn jump_pct(reference: Decimal, price: Decimal) -> Option<Decimal> {
    if reference.is_zero() {
        return None;
    }
    let pct = (price - reference)
        .abs()
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(reference.abs())?;
    Some(pct.round_dp(2).normalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn guard() -> TickJumpGuard {
        TickJumpGuard::new(d("20")).unwrap()
    }

    /// Judges each price in turn; returns the prices delivered.
    fn delivered(guard: &TickJumpGuard, prices: &[Decimal]) -> Vec<Decimal> {
        let mut market = MarketPrices::default();
        prices
            .iter()
            .copied()
            .filter(|p| guard.judge(&mut market, *p).delivers())
            .collect()
    }

    #[test]
    fn the_band_must_be_positive() {
        assert!(TickJumpGuard::new(Decimal::ZERO).is_none());
        assert!(TickJumpGuard::new(d("-1")).is_none());
        assert_eq!(TickJumpGuard::new(d("12.5")).unwrap().max_jump_pct(), d("12.5"));
        assert_eq!(TickJumpGuard::default(), guard());
    }

    #[test]
    fn the_band_is_inclusive() {
        let g = guard();
        assert!(g.within_band(d("100"), d("120")));
        assert!(g.within_band(d("100"), d("80")));
        assert!(!g.within_band(d("100"), d("120.0001")));
        assert!(!g.within_band(d("100"), d("79.99")));
        assert!(g.within_band(Decimal::ZERO, Decimal::ZERO));
        assert!(!g.within_band(Decimal::ZERO, d("0.01")));
        assert!(!g.within_band(d("1"), Decimal::MAX), "an overflow is outside the band");
    }

    #[test]
    fn the_first_tick_of_a_market_is_accepted() {
        let mut market = MarketPrices::default();
        assert_eq!(guard().judge(&mut market, d("50000")), TickVerdict::Accepted);
        assert_eq!(market.last_accepted(), Some(d("50000")));
    }

    #[test]
    fn an_outlier_is_held_and_dropped_by_the_next_normal_tick() {
        let g = guard();
        let mut market = MarketPrices::default();
        g.judge(&mut market, d("100"));
        assert_eq!(
            g.judge(&mut market, d("70")),
            TickVerdict::Held(Suspect {
                price: d("70"),
                last_accepted_price: d("100"),
                jump_pct: Some(d("30")),
            })
        );
        assert_eq!(market.suspect(), Some(d("70")));
        assert_eq!(market.last_accepted(), Some(d("100")), "a held tick changes nothing");
        assert_eq!(g.judge(&mut market, d("99")), TickVerdict::Accepted);
        assert_eq!((market.last_accepted(), market.suspect()), (Some(d("99")), None));
    }

    #[test]
    fn a_tick_near_the_suspect_confirms_the_move() {
        let g = guard();
        let mut market = MarketPrices::default();
        g.judge(&mut market, d("100"));
        assert!(!g.judge(&mut market, d("70")).delivers());
        assert_eq!(
            g.judge(&mut market, d("71")),
            TickVerdict::Confirmed { suspect: d("70") }
        );
        assert_eq!((market.last_accepted(), market.suspect()), (Some(d("71")), None));
        // From there on the new level is the reference.
        assert_eq!(g.judge(&mut market, d("72")), TickVerdict::Accepted);
    }

    #[test]
    fn a_tick_far_from_both_is_the_new_suspect() {
        let g = guard();
        let mut market = MarketPrices::default();
        g.judge(&mut market, d("100"));
        assert!(!g.judge(&mut market, d("200")).delivers());
        let TickVerdict::Held(suspect) = g.judge(&mut market, d("50")) else {
            panic!("held")
        };
        assert_eq!(
            (suspect.last_accepted_price, suspect.jump_pct),
            (d("100"), Some(d("50")))
        );
        assert_eq!(market.suspect(), Some(d("50")));
        assert_eq!(
            g.judge(&mut market, d("55")),
            TickVerdict::Confirmed { suspect: d("50") }
        );
    }

    #[test]
    fn the_last_accepted_price_is_preferred_over_the_suspect() {
        // 121 is 21 % above 100 (held); 105 is within both bands: accepted normally.
        let g = guard();
        let mut market = MarketPrices::default();
        g.judge(&mut market, d("100"));
        assert!(!g.judge(&mut market, d("121")).delivers());
        assert_eq!(g.judge(&mut market, d("105")), TickVerdict::Accepted);
    }

    #[test]
    fn a_stream_with_an_outlier_and_a_real_move() {
        let prices: Vec<Decimal> = ["100", "70", "99", "70", "71", "72"].map(d).to_vec();
        assert_eq!(delivered(&guard(), &prices), ["100", "99", "71", "72"].map(d).to_vec());
    }

    #[test]
    fn jump_pct_is_absolute_and_rounded() {
        assert_eq!(jump_pct(d("100"), d("70")), Some(d("30")));
        assert_eq!(jump_pct(d("3"), d("4")), Some(d("33.33")));
        assert_eq!(jump_pct(d("100"), d("125.555")), Some(d("25.56")));
        assert_eq!(jump_pct(Decimal::ZERO, d("1")), None);
    }

    /// A price in (0.01, 100,000.00] as cents.
    fn price() -> impl Strategy<Value = Decimal> {
        (1i64..=10_000_000).prop_map(|cents| Decimal::new(cents, 2))
    }

    /// A move within ±19 % (in basis points), well inside the 20 % band.
    fn small_move() -> impl Strategy<Value = i64> {
        -1_900i64..=1_900
    }

    fn moved(price: Decimal, bp: i64) -> Decimal {
        (price * (Decimal::from(10_000 + bp)) / Decimal::from(10_000)).round_dp(8)
    }

    proptest! {
        /// Whatever came before, a tick within the band of the last accepted price is delivered.
        #[test]
        fn a_tick_within_the_band_is_always_delivered(
            history in prop::collection::vec(price(), 1..30),
            bp in small_move(),
        ) {
            let g = guard();
            let mut market = MarketPrices::default();
            for p in &history {
                g.judge(&mut market, *p);
            }
            let last = market.last_accepted().unwrap();
            let next = moved(last, bp);
            prop_assert!(g.judge(&mut market, next).delivers());
            prop_assert_eq!(market.last_accepted(), Some(next));
            prop_assert_eq!(market.suspect(), None);
        }

        /// Normal ticks (each within the band of the one before) with single outliers between
        /// them: every normal tick is delivered, no outlier ever is.
        #[test]
        fn a_single_outlier_between_normal_ticks_is_never_delivered(
            start in price(),
            steps in prop::collection::vec((small_move(), prop::option::of((any::<bool>(), 2_100i64..50_000))), 1..40),
        ) {
            let g = guard();
            let mut market = MarketPrices::default();
            let mut normal = start;
            prop_assert!(g.judge(&mut market, normal).delivers());
            for (bp, outlier) in steps {
                if let Some((up, jump_bp)) = outlier {
                    // Beyond the band: up by > 20 %, or down by > 20 % (never to zero or below).
                    let jump_bp = if up { jump_bp } else { -(2_100 + jump_bp % 7_800) };
                    let bad = moved(normal, jump_bp);
                    prop_assert!(!g.within_band(normal, bad));
                    prop_assert!(!g.judge(&mut market, bad).delivers(), "outlier {} after {}", bad, normal);
                }
                // Within ±19 % of the last normal tick (the last accepted price).
                let next = moved(normal, bp);
                if next <= Decimal::ZERO { continue; }
                prop_assert!(g.judge(&mut market, next).delivers(), "normal {} after {}", next, normal);
                normal = next;
            }
        }

        /// A held tick followed by one within its band is a real move: the second is delivered.
        /// And every delivered price is within the band of the previous delivered price or of
        /// the tick held just before it: nothing jumps through on its own.
        #[test]
        fn a_move_is_delivered_by_its_second_tick_and_never_by_one_alone(
            prices in prop::collection::vec(price(), 2..60),
        ) {
            let g = guard();
            let mut market = MarketPrices::default();
            let mut previous_delivered: Option<Decimal> = None;
            let mut previous_held: Option<Decimal> = None;
            for p in prices {
                let verdict = g.judge(&mut market, p);
                if let Some(held) = previous_held {
                    if g.within_band(held, p) {
                        prop_assert!(verdict.delivers(), "{} confirms {}", p, held);
                    }
                }
                if verdict.delivers() {
                    if let Some(last) = previous_delivered {
                        prop_assert!(
                            g.within_band(last, p) || previous_held.is_some_and(|h| g.within_band(h, p)),
                            "{} jumped from {} alone", p, last
                        );
                    }
                    previous_delivered = Some(p);
                    previous_held = None;
                } else {
                    previous_held = Some(p);
                }
            }
        }
    }
}
