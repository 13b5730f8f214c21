//! How the incident list is ordered and which statuses it shows: the `S` and
//! `F` keys cycle these, and the Incidents title names the ones in force.

use std::cmp::Ordering;

use crate::state::{Incident, Status};

/// The incident list's order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Newest first: what just broke is on top.
    #[default]
    Newest,
    /// What asks the most of the operator first (awaiting approval,
    /// escalated, ...), resolved last; newest first within a status.
    Status,
    /// The slowest fixes first, unresolved ones after them; newest first
    /// among equals.
    TimeToResolve,
}

impl Sort {
    pub fn next(self) -> Sort {
        match self {
            Sort::Newest => Sort::Status,
            Sort::Status => Sort::TimeToResolve,
            Sort::TimeToResolve => Sort::Newest,
        }
    }

    /// As the title and the status line name it.
    pub fn label(self) -> &'static str {
        match self {
            Sort::Newest => "newest",
            Sort::Status => "by status",
            Sort::TimeToResolve => "slowest fix",
        }
    }

    /// The order of two incidents in the list (`Less` is higher up). Total:
    /// ids break every tie, newest first.
    pub fn cmp(self, a: &Incident, b: &Incident) -> Ordering {
        let newest = b.id.cmp(&a.id);
        match self {
            Sort::Newest => newest,
            Sort::Status => urgency(a.status).cmp(&urgency(b.status)).then(newest),
            // None (unresolved) after every Some; longer first.
            Sort::TimeToResolve => match (a.time_to_resolve_ms, b.time_to_resolve_ms) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
            .then(newest),
        }
    }
}

/// How much a status asks of the operator, most first.
fn urgency(status: Status) -> u8 {
    match status {
        Status::AwaitingApproval => 0,
        Status::Escalated => 1,
        Status::Detected => 2,
        Status::Remediating | Status::Verifying => 3,
        Status::Rejected => 4,
        Status::Monitoring | Status::Suppressed | Status::Symptom => 5,
        Status::Resolved | Status::Closed => 6,
    }
}

/// Which incidents the list shows, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    All,
    /// Every status but resolved.
    Open,
    AwaitingApproval,
    Escalated,
    Resolved,
}

impl StatusFilter {
    pub fn next(self) -> StatusFilter {
        match self {
            StatusFilter::All => StatusFilter::Open,
            StatusFilter::Open => StatusFilter::AwaitingApproval,
            StatusFilter::AwaitingApproval => StatusFilter::Escalated,
            StatusFilter::Escalated => StatusFilter::Resolved,
            StatusFilter::Resolved => StatusFilter::All,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StatusFilter::All => "all",
            StatusFilter::Open => "open",
            StatusFilter::AwaitingApproval => "awaiting approval",
            StatusFilter::Escalated => "escalated",
            StatusFilter::Resolved => "resolved",
        }
    }

    pub fn admits(self, status: Status) -> bool {
        match self {
            StatusFilter::All => true,
            StatusFilter::Open => status.is_open(),
            StatusFilter::AwaitingApproval => status == Status::AwaitingApproval,
            StatusFilter::Escalated => status == Status::Escalated,
            StatusFilter::Resolved => status == Status::Resolved,
        }
    }
}
