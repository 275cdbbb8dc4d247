//! The kill switch: what the trading state (global, and the user's own) allows. The stricter of
//! the two applies; the global switch is named first because it is the one an operator pulled for
//! everyone.

use crate::domain::TradingState;

/// Why something new was refused by an operator's switch. `Display` is the contract's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TradingBlocked {
    #[error("Trading is globally disabled by admin kill-switch")]
    Global(TradingState),
    #[error("Trading is disabled for this user by admin")]
    User(TradingState),
}

impl TradingBlocked {
    /// Which switch refused (`global` or `user`), for the audit details.
    pub fn scope(&self) -> &'static str {
        match self {
            TradingBlocked::Global(_) => "global",
            TradingBlocked::User(_) => "user",
        }
    }

    pub fn state(&self) -> TradingState {
        match self {
            TradingBlocked::Global(state) | TradingBlocked::User(state) => *state,
        }
    }
}

/// The two switches that apply to one user's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradingGate {
    pub global: TradingState,
    pub user: TradingState,
}

impl TradingGate {
    pub const OPEN: TradingGate = TradingGate {
        global: TradingState::Active,
        user: TradingState::Active,
    };

    /// Whether new exposure (an open, a pre-trade check, a prepare, a test order) may go ahead.
    /// Closing is never asked here: it is always allowed.
    pub fn new_exposure(&self) -> Result<(), TradingBlocked> {
        if self.global != TradingState::Active {
            return Err(TradingBlocked::Global(self.global));
        }
        if self.user != TradingState::Active {
            return Err(TradingBlocked::User(self.user));
        }
        Ok(())
    }

    /// The state that applies: the stricter of the two.
    pub fn effective(&self) -> TradingState {
        self.global.max(self.user)
    }

    /// `HALTED` pauses the exit monitor's automatic closes (its alerts continue); `REDUCING`
    /// lets them run, since closing only reduces exposure.
    pub fn auto_close_paused(&self) -> bool {
        self.effective() == TradingState::Halted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TradingState::{Active, Halted, Reducing};

    fn gate(global: TradingState, user: TradingState) -> TradingGate {
        TradingGate { global, user }
    }

    #[test]
    fn only_both_active_allows_new_exposure() {
        for global in TradingState::ALL {
            for user in TradingState::ALL {
                let allowed = gate(*global, *user).new_exposure().is_ok();
                assert_eq!(allowed, *global == Active && *user == Active, "{global} / {user}");
            }
        }
    }

    #[test]
    fn the_global_switch_is_named_before_the_users() {
        assert_eq!(
            gate(Reducing, Halted).new_exposure(),
            Err(TradingBlocked::Global(Reducing))
        );
        assert_eq!(
            gate(Active, Reducing).new_exposure(),
            Err(TradingBlocked::User(Reducing))
        );
        assert_eq!(
            TradingBlocked::Global(Halted).to_string(),
            "Trading is globally disabled by admin kill-switch"
        );
        assert_eq!(
            TradingBlocked::User(Halted).to_string(),
            "Trading is disabled for this user by admin"
        );
    }

    #[test]
    fn the_stricter_state_applies_and_only_halted_pauses_auto_closes() {
        assert_eq!(gate(Reducing, Active).effective(), Reducing);
        assert_eq!(gate(Reducing, Halted).effective(), Halted);
        assert!(gate(Active, Halted).auto_close_paused());
        assert!(gate(Halted, Active).auto_close_paused());
        assert!(!gate(Reducing, Reducing).auto_close_paused());
        assert!(!TradingGate::OPEN.auto_close_paused());
    }
}
