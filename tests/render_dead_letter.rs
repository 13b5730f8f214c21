//! The dead-letter screens as an operator sees them at 80x24: the confirmation
//! that shows the argv a fix will run, the retry question, the detail view's
//! keys for an escalated incident, and the closing note. Models are folded from
//! journal lines, drawn at a fixed `now` in UTC (see tests/frames).

#[macro_use]
mod frames;

use autoheal::event::IncidentId;
use autoheal::state::State;
use autoheal::tui::{Meta, Modal, Model, Theme, Verdict};
use frames::{at, fold, render};

/// #7: payments-api (critical) waits for approval of a real command; #8:
/// orders-db's fix failed and automation escalated it.
const JOURNAL: &str = r#"
13:03:00 {"kind":"engine_started","version":"0.1.0","targets":["payments-api","orders-db"],"playbooks":["restart-payments","flush-orders"],"dry_run":false}
14:01:00 {"kind":"probe_failed","target":"payments-api","signature":"HTTP_503","detail":"503 Service Unavailable"}
14:01:00.200 {"kind":"incident_detected","incident_id":7,"target":"payments-api","signature":"HTTP_503","severity":"high","started_at":"2026-11-23T14:00:59Z"}
14:01:00.210 {"kind":"incident_analyzed","incident_id":7,"playbook":"restart-payments","step":"restart","confidence":0.95,"decision":"approval_required","reason":"payments-api is critical: a human approves every fix","action":"systemctl restart 'payments api.service' --no-block","critical":true}
14:02:00 {"kind":"probe_failed","target":"orders-db","signature":"DB_TIMEOUT","detail":"query timed out after 5s"}
14:02:00.100 {"kind":"incident_detected","incident_id":8,"target":"orders-db","signature":"DB_TIMEOUT","severity":"high","started_at":"2026-11-23T14:01:59Z"}
14:02:00.110 {"kind":"incident_analyzed","incident_id":8,"playbook":"flush-orders","step":"flush-pool","confidence":0.99,"decision":"auto","reason":"confidence 0.99 >= 0.90","action":"POST http://127.0.0.1:7300/admin/flush-pool"}
14:02:00.120 {"kind":"action_started","incident_id":8,"playbook":"flush-orders","step":"flush-pool","action":"http POST http://127.0.0.1:7300/admin/flush-pool","attempt":1}
14:02:00.180 {"kind":"action_finished","incident_id":8,"playbook":"flush-orders","step":"flush-pool","action":"http POST http://127.0.0.1:7300/admin/flush-pool","attempt":1,"ok":false,"duration_ms":60,"output":"500 Internal Server Error"}
14:02:00.190 {"kind":"step_finished","incident_id":8,"playbook":"flush-orders","step":"flush-pool","ok":false,"detail":"action failed: 500 Internal Server Error"}
14:02:00.200 {"kind":"incident_escalated","incident_id":8,"reason":"all 1 steps of flush-orders tried; the target is still failing"}
"#;

fn console() -> Model {
    let meta = Meta {
        mode: "serve".into(),
        started_at: Some(at("13:03:00")),
        operator: "alice@ssh:10.0.0.7".into(),
        ..Default::default()
    };
    let mut model = Model::new(State::default(), meta, vec![Theme::dark()]);
    fold(&mut model, JOURNAL);
    model
}

fn with(modals: Vec<Modal>) -> Model {
    let mut model = console();
    model.ui.modals = modals;
    model
}

fn detail(id: u64) -> Modal {
    Modal::Detail {
        incident: IncidentId(id),
        scroll: 0,
    }
}

fn screen(model: &Model) -> String {
    let terminal = render(model, 80, 24);
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

fn approving_critical() -> Model {
    with(vec![
        detail(7),
        Modal::Confirm {
            incident: IncidentId(7),
            verdict: Verdict::Approve,
        },
    ])
}

snapshot!(confirm_critical_argv_80x24, approving_critical(), 80, 24);
snapshot!(
    confirm_retry_80x24,
    with(vec![
        detail(8),
        Modal::Confirm {
            incident: IncidentId(8),
            verdict: Verdict::Retry,
        },
    ]),
    80,
    24
);
snapshot!(detail_escalated_80x24, with(vec![detail(8)]), 80, 24);
snapshot!(
    note_80x24,
    with(vec![
        detail(8),
        Modal::Note {
            incident: IncidentId(8),
            text: "pool flushed by hand, OPS-42".into(),
        },
    ]),
    80,
    24
);

fn closed() -> Model {
    let mut model = console();
    fold(
        &mut model,
        r#"
        14:03:00 {"kind":"incident_acknowledged","incident_id":8,"by":"bob"}
        14:04:00 {"kind":"incident_closed","incident_id":8,"note":"pool flushed by hand, OPS-42","by":"bob"}
        "#,
    );
    model.ui.modals = vec![detail(8)];
    model
}

snapshot!(detail_closed_80x24, closed(), 80, 24);

#[test]
fn the_confirmation_shows_the_argv_whole_and_names_the_critical_target_again() {
    let text = screen(&approving_critical());
    assert!(
        text.contains("runs       systemctl restart 'payments api.service' --no-block"),
        "{text}"
    );
    assert!(
        text.contains("approve restart on CRITICAL payments-api?"),
        "{text}"
    );
}

#[test]
fn the_detail_footer_lists_the_keys_that_apply_and_only_those() {
    let escalated = screen(&with(vec![detail(8)]));
    assert!(escalated.contains("r retry"), "{escalated}");
    assert!(escalated.contains("o own"), "{escalated}");
    assert!(escalated.contains("C close"), "{escalated}");
    assert!(!escalated.contains("a approve"), "{escalated}");
    let awaiting = screen(&with(vec![detail(7)]));
    assert!(awaiting.contains("a approve · x reject"), "{awaiting}");
    assert!(!awaiting.contains("r retry"), "{awaiting}");
    let done = screen(&closed());
    for key in ["r retry", "o own", "C close", "a approve"] {
        assert!(!done.contains(key), "{done}");
    }
    assert!(
        done.contains("by bob: pool flushed by hand, OPS-42"),
        "{done}"
    );
}
