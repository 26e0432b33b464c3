//! Running firmware and scripts on a board: the session.

pub mod session;
