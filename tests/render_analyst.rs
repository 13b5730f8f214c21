//! The AI analyst on screen: its proposal marked `AI` in the approval queue,
//! and its advice, reason, model and record in the detail view.

#[allow(unused_macros)] // frames also serves the snapshot tests
mod frames;

use autoheal::event::IncidentId;
use autoheal::tui::{Modal, Model};
use frames::*;

/// #3 (MEM_LEAK on edge-proxy, escalated) put to the analyst, whose step now
/// waits for approval; and #6, on which the analyst gave no usable answer.
const ANALYST: &str = r#"
14:03:00 {"kind":"analyst_proposed","incident_id":3,"model":"llama3.1:8b","decision":"remediate","playbook":"demo-fallback-restart","step":"restart","confidence":0.62,"reason":"RSS grows after every restart-worker; a full restart clears the leak for hours.","action":"POST http://127.0.0.1:7300/services/edge-proxy/restart","queued":true}
14:04:00 {"kind":"probe_failed","target":"orders-db","signature":"REPLICA_LAG","detail":"replica 40 s behind"}
14:04:00.100 {"kind":"incident_detected","incident_id":6,"target":"orders-db","signature":"REPLICA_LAG","severity":"high","started_at":"2026-11-23T14:04:00Z"}
14:04:00.110 {"kind":"incident_escalated","incident_id":6,"reason":"no playbook matches REPLICA_LAG on orders-db"}
14:04:02.110 {"kind":"analyst_failed","incident_id":6,"model":"llama3.1:8b","error":"no answer within 2s"}
"#;

fn analysed() -> Model {
    let mut model = busy();
    fold(&mut model, ANALYST);
    model
}

/// Every word on a 120x50 screen, in reading order, the modal's borders dropped.
fn screen(model: &Model) -> String {
    let terminal = render(model, 120, 50);
    let buf = terminal.backend().buffer();
    let text: String = (0..buf.area.height)
        .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
        .map(|(x, y)| match buf[(x, y)].symbol() {
            "│" | "|" => " ".to_string(),
            s => s.to_string() + if x + 1 == buf.area.width { " " } else { "" },
        })
        .collect();
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn detail(id: u64) -> Modal {
    Modal::Detail {
        incident: IncidentId(id),
        scroll: 0,
    }
}

#[test]
fn an_analyst_proposal_is_marked_ai_in_the_approval_queue() {
    for (w, h) in [(80, 24), (120, 40)] {
        let terminal = render(&analysed(), w, h);
        let text = pane_text(terminal.backend().buffer(), " Awaiting approval");
        assert!(
            text.contains("fix demo-fallback-restart/restart AI"),
            "{w}x{h}: {text}"
        );
        assert!(
            text.contains("why AI analyst llama3.1:8b proposes it"),
            "{w}x{h}: {text}"
        );
    }
    // The planner's own fix (#4) carries no mark.
    let terminal = render(&analysed(), 120, 40);
    let text = pane_text(terminal.backend().buffer(), " Awaiting approval");
    assert!(
        text.contains("fix demo-fallback-restart/restart why confidence 0.85"),
        "{text}"
    );
}

#[test]
fn the_detail_view_shows_advice_reason_model_and_its_record() {
    let text = screen(&with_modal(analysed(), detail(3)));
    for shown in [
        "AI analyst",
        "model llama3.1:8b",
        "1 proposed, 0 approved, 0 worked, 1 failed",
        "advice remediate demo-fallback-restart / restart confidence 0.62 sent to approval",
        "reason RSS grows after every restart-worker; a full restart clears the leak for hours.",
        "AI PROPOSES",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }

    let text = screen(&with_modal(analysed(), detail(6)));
    for shown in [
        "advice no usable answer",
        "error no answer within 2s",
        "AI FAILED",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
}
