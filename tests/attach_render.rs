//! An attached console as its operator sees it while the daemon is gone, or
//! while others are attached: frames at 80x24 and 120x40, drawn at a fixed
//! `now` in UTC (see tests/frames for how frames are made).

#[macro_use]
mod frames;

use std::time::Duration;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use autoheal::engine::Sample;
use autoheal::event::Event;
use autoheal::remote::{Cause, LinkState, LinkStatus};
use autoheal::state::State;
use autoheal::tui::{Glyphs, Meta, Model, Theme};
use frames::at;

const NOW: &str = "14:02:42";

/// A console attached to a demo daemon that started at 13:03:00, with `state`.
fn attached(state: LinkState, others: &[&str]) -> Model {
    let meta = Meta {
        operator: "alice@ssh:10.0.0.7".into(),
        ..Default::default()
    };
    let mut model = Model::new(State::default(), meta, vec![Theme::dark()]);
    model.link = Some(LinkStatus {
        state,
        others: others.iter().map(|o| o.to_string()).collect(),
        ..LinkStatus::new("http://10.0.0.2:7311")
    });
    let started: Event = serde_json::from_str(
        r#"{"seq":1,"ts":"2026-11-23T13:03:00Z","kind":"engine_started","version":"0.1.0","targets":["payments-api","orders-db","edge-proxy"],"playbooks":[],"dry_run":false}"#,
    )
    .expect("event");
    model.apply(started);
    for (i, target) in ["payments-api", "orders-db", "edge-proxy"]
        .iter()
        .enumerate()
    {
        for s in 0..10u64 {
            model.telemetry.record(Sample {
                target: target.to_string(),
                at: at("14:02:00"),
                healthy: true,
                latency: Duration::from_micros(400 + 150 * (s % 4) + 300 * i as u64),
                cpu_percent: None,
                memory_percent: None,
            });
        }
    }
    model.telemetry.cpu_percent = Some(23.0);
    model.telemetry.memory_percent = Some(61.0);
    model
}

/// Down since 14:02:07, three attempts failed, the next at 14:02:45.
fn down() -> LinkState {
    LinkState::Down {
        since: at("14:02:07"),
        retry_at: at("14:02:45"),
        cause: Cause::Unreachable,
        failures: 3,
    }
}

fn render(model: &Model, width: u16, height: u16) -> Terminal<TestBackend> {
    frames::render_at(model, width, height, NOW)
}

snapshot!(disconnected_80x24, attached(down(), &[]), 80, 24);
snapshot!(disconnected_120x40, attached(down(), &[]), 120, 40);
snapshot!(
    connected_with_presence_120x40,
    attached(
        LinkState::Connected {
            since: at("13:03:01")
        },
        &["bob@ssh:10.0.0.9"]
    ),
    120,
    40
);
snapshot!(
    connected_with_presence_80x24,
    attached(
        LinkState::Connected {
            since: at("13:03:01")
        },
        &["bob@ssh:10.0.0.9"]
    ),
    80,
    24
);

fn refused() -> Model {
    let mut model = attached(
        LinkState::Down {
            since: at("14:02:07"),
            retry_at: at("14:02:45"),
            cause: Cause::TokenRefused(401),
            failures: 3,
        },
        &[],
    );
    model.glyphs = Glyphs::ASCII;
    model
}

snapshot!(token_refused_ascii_80x24, refused(), 80, 24);

/// The banner is a reversed bar in the theme's error colour across the row.
#[test]
fn the_banner_is_a_bar_in_the_error_colour() {
    let model = attached(down(), &[]);
    let terminal = render(&model, 120, 40);
    let buffer = terminal.backend().buffer();
    let row: String = (0..120)
        .map(|x| buffer[(x, 1)].symbol().to_string())
        .collect();
    assert!(
        row.starts_with(" daemon at 10.0.0.2:7311 unreachable since 14:02:07 (35s)"),
        "{row}"
    );
    let theme = Theme::dark();
    for x in [0, 60, 119] {
        let cell = &buffer[(x, 1)];
        assert_eq!(cell.fg, theme.error, "column {x}");
        assert!(cell.modifier.contains(ratatui::style::Modifier::REVERSED));
    }
}

/// Connected, nothing marks the console as attached but the daemon's name.
#[test]
fn no_banner_while_connected() {
    let model = attached(
        LinkState::Connected {
            since: at("13:03:01"),
        },
        &[],
    );
    let screen = format!("{:?}", render(&model, 120, 40).backend());
    assert!(!screen.contains("unreachable"), "{screen}");
    assert!(screen.contains("10.0.0.2:7311"), "{screen}");
    // The uptime is the daemon's (from its engine_started at 13:03:00), not this console's.
    assert!(screen.contains("uptime 59m42s"), "{screen}");
}
